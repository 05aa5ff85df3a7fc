"""The vendors' per-account API quotas: one table, read by the client's limiter and by the emulator.

Written once so that what the provider spaces and what the emulator enforces cannot disagree. A quota is
either a one-second window (Tencent: "a maximum of N requests can be initiated per second for this API") or
a token bucket (CloudFlow: a bucket of ``burst`` tokens refilled at ``rate`` per second, one token per
request). Keys are the vendor's connection type and ``"<service>:<API>"``, the API being the action of an
RPC API or ``"<METHOD> <path template>"`` of a REST one; ``"<service>:*"`` covers every other API of a
service.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    """Requests an account may send to one API.

    ``burst`` None: at most ``rate`` requests in any one-second window. Otherwise a token bucket of
    ``burst`` tokens refilled at ``rate`` tokens per second. ``documented`` False marks a judgment where the
    vendor publishes no limit (the emulator enforces it so a runaway poller shows in tests).
    """

    rate: float
    burst: int | None = None
    documented: bool = True

    def __post_init__(self) -> None:
        if not self.rate > 0 or (self.burst is not None and self.burst < 1):
            raise ValueError(f"a quota needs a positive rate and a burst of at least 1, got {self}")


_TENCENT_20 = Quota(20)
# Huawei DWS publishes no per-API limit.
_DWS = Quota(50, documented=False)

QUOTAS: dict[str, dict[str, Quota]] = {
    "tencentcloud": {
        "emr:DescribeClusterFlowStatusDetail": _TENCENT_20,
        "emr:ScaleOutCluster": _TENCENT_20,
        "emr:TerminateClusterNodes": _TENCENT_20,
        "cynosdb:DescribeFlow": _TENCENT_20,
        "cynosdb:PauseServerless": _TENCENT_20,
        "cynosdb:ResumeServerless": _TENCENT_20,
        "cynosdb:CreateBackup": _TENCENT_20,
        "batch:DescribeTask": Quota(3),
        "batch:DescribeJob": Quota(2),
        "batch:DescribeJobs": Quota(2),
        "batch:SubmitJob": Quota(7),
        "batch:TerminateJob": Quota(2),
        "batch:DescribeTaskLogs": _TENCENT_20,
        "sts:AssumeRole": Quota(600),
        "sts:AssumeRoleWithWebIdentity": Quota(20),
    },
    # CloudFlow: Limits, API rate limits (token buckets per account).
    "alibabacloud": {
        "fnf:StartExecution": Quota(100, burst=100),
        "fnf:DescribeExecution": Quota(5, burst=50),
        "fnf:GetExecutionHistory": Quota(5, burst=50),
        "fnf:ListExecutions": Quota(2, burst=10),
        "fnf:*": Quota(2, burst=10),
    },
    "huaweicloud": {
        "dws:*": _DWS,
    },
}


def quota(vendor: str, api: str) -> Quota | None:
    """The quota of ``api`` (``"<service>:<API>"``) of ``vendor`` (a connection type), or None if unlimited."""
    table = QUOTAS.get(vendor)
    if table is None:
        return None
    found = table.get(api)
    if found is None:
        service = api.partition(":")[0]
        found = table.get(f"{service}:*")
    return found
