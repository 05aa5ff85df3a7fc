"""Waits against the documented quotas, the provider beside the bare loop: Batch, CloudFlow, a restart, DWS.

Every target runs against the emulator (its own process: ``python -m cloudflows_emulator
--port 0``) enforcing the quotas of ``limits.py`` per account; one run prints every target chosen with
``--targets`` (default: all four, in this order):

- ``batch``: N Tencent Batch job waits of one account, poll interval ``--interval``; DescribeJobs and
  DescribeJob 2/s, DescribeTask 3/s. The trigger's Batcher reads up to 100 jobs per ``DescribeJobs``; a
  failed job is read again with ``DescribeJob`` and ``DescribeTask``. Baseline: one ``DescribeJob`` per wait
  per interval, spaced at the documented 2/s.
- ``cloudflow``: N Alibaba CloudFlow executions of F flows on one account, poll interval ``--cf-interval``.
  From ``LIST_FROM`` waits per account the waits of each flow read ``ListExecutions`` (a bucket of 10 at
  2/s); an execution the list no longer shows running is read with its own ``DescribeExecution`` (50 at
  5/s), a failure with ``GetExecutionHistory`` too. Baseline: one ``DescribeExecution`` per wait per
  interval, no long poll, spaced as the documented bucket (a burst of 50, then 5/s).
- ``restart``: the same crowd of CloudFlow waits; once every wait has polled once, all trigger tasks are
  cancelled (as when a triggerer dies: its in-flight requests die with it) and as many fresh triggers are
  started from the same serialized kwargs, with a fresh ``throttle.LIMITER`` (a new process's). The bare
  loop beside it is restarted at the same moment with a fresh spacing (a new process assumes a full
  bucket). Only ``--restart-ends`` of the executions end, over ``--restart-spread`` seconds from
  ``--restart-lead`` seconds after the start: the rest are still running when the run stops.
- ``dws``: N Huawei DWS SNAPSHOTTING waits on N clusters of one project, poll interval ``--dws-interval``.
  A wait's first check sees its task in the action view and hands that memory back (the sensor defers
  again with it); from then on the project's cluster list (``GET /v1.0/{project_id}/clusters``) answers
  "still running" for every such wait in one call, and an end is read with the wait's own check. Baseline:
  one action-view GET per wait per interval, SDK-HMAC signed with the provider's signer, spaced at the
  ``dws:*`` row of limits.py (50/s: DWS documents no quota, the emulator enforces this judgment).

Provider side: each wait is a ``CloudExecutionTrigger`` rebuilt from its serialized kwargs and driven as
Airflow's ``TriggerRunner`` drives it (one task per trigger, ``async for event in trigger.run()``), all in
this process's event loop, on the connection's default account A. Baseline side: the bare
one-request-per-wait loop (as in ``bench_triggers.py``: one shared ``httpx.AsyncClient``, signed with the
provider's signer, ``response.json()``), requests in first-come order at the documented spacing, in a child
process (so the provider's CPU figures are its own) on account B, whose quota is its own.

Both wait on the same executions, scripted to end at times spread uniformly over the target's spread
after the waits start (a share ``--fail`` of them failing). Detection latency = when the wait saw the end
(the event was yielded; the bare loop's answer arrived) - the scripted end. A run lasts until every provider
wait that ends has yielded its event; the baseline is stopped then, and for the ends it had not seen the
latency is at least the run's end - the scripted end.

Batch setup: the jobs are submitted with ``SubmitJob`` while its 7/s quota is lifted through the control API
(then restored), and their tasks are re-scripted through the ``batch_task`` builder with the chosen end
times. CloudFlow and DWS executions are registered through the ``cloudflow_execution`` and ``dws_task``
builders. The emulator's state is reset between targets.

Run: ``.venv/bin/python benchmarks/bench_quota.py`` (every target at its default size, about 20 minutes on
2 cores: the CloudFlow target lasts its 600 s spread, which 2,000 ends need to stay within DescribeExecution's
5/s, see docs/design/quotas.md); ``--targets batch,dws`` picks targets; ``--quick`` shrinks each chosen target (all
four in about 5.5 minutes). ``--targets batch --jobs 500 --spread 30 --interval 5`` takes ~40 s. ``--write``
puts each target's output into its own section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import os
import pathlib
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cloudflows-bench-"))
# Every transition is logged at INFO: ten thousand waits' worth say nothing here (see main for warnings).
os.environ.setdefault("AIRFLOW__LOGGING__NAMESPACE_LEVELS", "airflow_provider_cloudflows=warning")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from results import add_write_option, recording

VERSION = "2017-03-12"
REGION = "ap-guangzhou"
CONN_ID = "tencentcloud_default"
CONN_ENV = "AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"
ACCOUNT_B = "bench-baseline"
KEY_B = ("AKIDBASELINEACCOUNTB0000000000000", "baseline-account-b-secret")
FINAL = ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")
HEADER = "| N Batch job waits, one account | provider (DescribeJobs batches) | baseline (bare DescribeJob per wait) |"

FNF_VERSION = "2019-03-15"
ALIBABA_CONN_ID = "alibabacloud_default"
ALIBABA_CONN_ENV = "AIRFLOW_CONN_ALIBABACLOUD_DEFAULT"
ALIBABA_KEY_B = ("LTAIBASELINEACCOUNTB", "baseline-account-b-alibaba-secret")
CLOUDFLOW_FINAL = ("Succeeded", "Failed", "Stopped", "TimedOut")
CLOUDFLOW_APIS = ("ListExecutions", "DescribeExecution", "GetExecutionHistory")

HUAWEI_CONN_ID = "huaweicloud_default"
HUAWEI_CONN_ENV = "AIRFLOW_CONN_HUAWEICLOUD_DEFAULT"
HUAWEI_KEY_B = ("HWBASELINEACCOUNTB00", "baseline-account-b-huawei-secret")
DWS_ACTION = "SNAPSHOTTING"
DWS_ONGOING = ("WAITING", "RUNNING", "ROLLBACK_RUNNING")
DWS_APIS = ("ListClusters", "ListClusterActions", "ListClusterDetails")

TARGETS = ("batch", "cloudflow", "restart", "dws")
# Throttled answers counted in this window after a restart (the "storm" a restart may cause).
STORM_WINDOW = 30.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_kb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 1024.0


def _signed(creds: Any, host: str, action: str, params: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    from airflow_provider_cloudflows.signing.tc3 import sign_tc3

    body = json.dumps(params).encode()
    headers = sign_tc3(
        creds,
        service="batch",
        host=host,
        action=action,
        version=VERSION,
        region=REGION,
        body=body,
        timestamp=int(time.time()),
    )
    return body, headers


# --------------------------------------------------------------------------------------------- the baseline

Asker = Callable[[int], Awaitable[str]]


def _asker(spec: dict[str, Any], client: Any) -> Asker:
    """One bare status request for wait ``index``: "ended", "running", "throttled" or "error"."""
    from airflow_provider_cloudflows.credentials import Credentials

    creds = Credentials(*spec["key"])
    url, host = spec["url"], spec["url"].split("://", 1)[1]
    items: list[Any] = spec["items"]
    kind = spec["kind"]

    async def batch(index: int) -> str:
        body, headers = _signed(creds, host, "DescribeJob", {"JobId": items[index]})
        reply = (await client.post(url, content=body, headers=headers)).json()["Response"]
        error = (reply.get("Error") or {}).get("Code")
        if error is not None:
            return "throttled" if error.startswith("RequestLimitExceeded") else "error"
        return "ended" if reply.get("JobState") in FINAL else "running"

    async def cloudflow(index: int) -> str:
        from airflow_provider_cloudflows.signing.acs import sign_rpc_v2

        flow, name = items[index]
        query = sign_rpc_v2(
            creds,
            action="DescribeExecution",
            version=FNF_VERSION,
            params={"FlowName": flow, "ExecutionName": name},
            timestamp=datetime.now(timezone.utc),
            nonce=uuid.uuid4().hex,
        )
        response = await client.get(f"{url}/?{query}", headers={"accept": "application/json"})
        reply = response.json()
        if response.status_code != 200:
            return "throttled" if str(reply.get("Code", "")).startswith("Throttling") else "error"
        return "ended" if reply.get("Status") in CLOUDFLOW_FINAL else "running"

    async def dws(index: int) -> str:
        from airflow_provider_cloudflows.signing.sdk_hmac import sign_sdk_hmac

        path = f"/v1/{spec['project_id']}/clusters/{items[index]}/actions/{DWS_ACTION}"
        headers = sign_sdk_hmac(
            creds,
            method="GET",
            host=host,
            path=path,
            query=[],
            headers={"Content-Type": "application/json", "X-Project-Id": spec["project_id"]},
            body=b"",
            timestamp=datetime.now(timezone.utc),
        )
        response = await client.get(url + path, headers=headers)
        reply = response.json()
        if response.status_code == 200:
            return "running" if reply.get("status") in DWS_ONGOING else "ended"
        if response.status_code == 400 and reply.get("error_code") == "DWS.0001":
            return "ended"  # no such ongoing task: gone
        return "throttled" if response.status_code == 429 else "error"

    asks: dict[str, Asker] = {"batch": batch, "cloudflow": cloudflow, "dws": dws}
    return asks[kind]


async def _baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """The bare loop: one request per wait per interval, requests spaced as the documented quota (GCRA:
    ``burst`` at once, then ``rate`` per second) in FIFO order. Told "restart" on stdin, it drops every
    wait and starts them again with a fresh spacing, as a new process would; told "stop", it returns."""
    import httpx

    loop = asyncio.get_running_loop()
    count = len(spec["items"])
    interval, gap = float(spec["interval"]), 1.0 / float(spec["rate"])
    tolerance = (int(spec.get("burst") or 1) - 1) * gap
    detected: list[float | None] = [None] * count
    counts: Counter[str] = Counter()
    theoretical = [float(spec["t0"])]  # when the next request would go at the steady rate
    client = httpx.AsyncClient(timeout=70.0)
    ask = _asker(spec, client)

    def slot() -> float:
        # Reserve the next free slot of the account's quota: first come, first served.
        now = loop.time()
        at = max(now, theoretical[0] - tolerance)
        theoretical[0] = max(theoretical[0], at) + gap
        return at

    async def wait(index: int) -> None:
        while True:
            await asyncio.sleep(slot() - loop.time())
            started = loop.time()
            counts["requests"] += 1
            outcome = await ask(index)
            if outcome == "throttled":
                counts["throttled"] += 1
            elif outcome == "error":
                counts["errors"] += 1
            elif outcome == "ended":
                detected[index] = loop.time()
                return
            await asyncio.sleep(interval * random.uniform(0.9, 1.1) - (loop.time() - started))

    await asyncio.sleep(max(0.0, spec["t0"] - loop.time()))
    tasks = [asyncio.create_task(wait(i)) for i in range(count)]
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if command != "restart":
            break
        theoretical[0] = loop.time()
        tasks = [asyncio.create_task(wait(i)) for i in range(count) if detected[i] is None]
    await client.aclose()
    return {"detected": detected, "counts": dict(counts)}


def _baseline_main() -> int:
    spec = json.loads(sys.stdin.readline())
    print("ready", flush=True)
    result = asyncio.run(_baseline(spec))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


class _Bare:
    """The baseline's child process: started at once (before the setup), given its spec, then stopped."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--baseline-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def _say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def start(self, spec: dict[str, Any]) -> None:
        assert self.proc.stdout is not None
        self._say(json.dumps(spec))
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the baseline process did not start")

    def restart(self) -> None:
        self._say("restart")

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        self._say("stop")
        line = self.proc.stdout.readline()
        if not line.startswith("RESULT "):
            raise RuntimeError(f"the baseline process answered {line!r}")
        self.proc.wait(timeout=30)
        result: dict[str, Any] = json.loads(line[len("RESULT ") :])
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()


# ------------------------------------------------------------------------------------------------- setup


async def _submit(url: str, creds: Any, count: int, concurrency: int = 8) -> list[str]:
    """SubmitJob ``count`` single-task jobs (the quota is lifted meanwhile); their JobIds in order."""
    import httpx

    host = url.split("://", 1)[1]
    ids: list[str] = [""] * count
    numbers = iter(range(count))
    async with httpx.AsyncClient(timeout=30.0) as client:

        async def worker() -> None:
            for i in numbers:
                params = {
                    "Placement": {"Zone": f"{REGION}-3"},
                    "Job": {"JobName": f"bench-{i:05d}", "Tasks": [{"TaskName": "A"}]},
                }
                body, headers = _signed(creds, host, "SubmitJob", params)
                reply = (await client.post(url, content=body, headers=headers)).json()["Response"]
                if "JobId" not in reply:
                    raise RuntimeError(f"SubmitJob failed: {reply}")
                ids[i] = reply["JobId"]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


Builder = Callable[[int, float], dict[str, Any]]


def _post(
    emulator: Any, indices: list[int], t0: float, ends: list[float], build: Builder, scripted: list[float]
) -> None:
    """Register (or re-script) executions ``indices`` to end ``ends[i]`` seconds after t0 (monotonic) through
    the control API, 100 a request (``build(i, seconds from registration)`` is one's builder item); the
    monotonic time each ends goes to ``scripted``."""
    for start in range(0, len(indices), 100):
        sent = time.monotonic()
        items = []
        for i in indices[start : start + 100]:
            # The clock starts when the emulator registers the execution, at or just after `sent`: the
            # latency measured from `sent + at` overstates the true one by at most this request's round trip.
            at = max(0.01, t0 + ends[i] - sent)
            scripted[i] = sent + at
            items.append(build(i, at))
        emulator.control("executions", items)


def _script(emulator: Any, count: int, ends: list[float], build: Builder) -> tuple[float, list[float]]:
    """Register execution ``i`` to end ``ends[i]`` seconds after t0 (see ``_post``); t0 (monotonic) leaves
    room for the registration itself. Returns t0 and the monotonic time each execution ends."""
    scripted = [0.0] * count
    first = time.monotonic()
    _post(emulator, list(range(min(count, 100))), first + 3600.0, ends, build, scripted)  # timed, then again
    took = time.monotonic() - first
    t0 = time.monotonic() + took * (count / 100) * 1.5 + 1.0
    _post(emulator, list(range(count)), t0, ends, build, scripted)
    return t0, scripted


def _batch_task(ids: list[str], fails: list[bool]) -> Builder:
    def build(i: int, at: float) -> dict[str, Any]:
        end = [at, "FAILED" if fails[i] else "SUCCEED"]
        args = {"job_id": ids[i], "task_name": "A", "phases": [[0, "RUNNING"], end], "start_immediately": True}
        return {"builder": "batch_task", "args": args}

    return build


def _cloudflow_execution(names: list[tuple[str, str]], fails: list[bool]) -> Builder:
    def build(i: int, at: float) -> dict[str, Any]:
        flow, name = names[i]
        end = [at, "Failed" if fails[i] else "Succeeded"]
        args = {"flow_name": flow, "execution_name": name, "phases": [[0, "Running"], end], "start_immediately": True}
        return {"builder": "cloudflow_execution", "args": args}

    return build


def _dws_task(clusters: list[str], fails: list[bool]) -> Builder:
    def build(i: int, at: float) -> dict[str, Any]:
        args = {
            "cluster_id": clusters[i],
            "action_name": DWS_ACTION,
            "phases": [[0, "RUNNING", 20]],
            "end": "failed" if fails[i] else "success",
            "end_at": at,
            "start_immediately": True,
        }
        return {"builder": "dws_task", "args": args}

    return build


# ---------------------------------------------------------------------------------------------- provider


def _waits(
    service: str, identifiers: list[dict[str, Any]], conn_id: str, interval: float, budget: float
) -> list[dict[str, Any]]:
    """The waits' serialized kwargs, as the triggerer's database holds them."""
    from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger

    kwargs = []
    for ids in identifiers:
        original = CloudExecutionTrigger(
            service=service,
            identifiers=ids,
            conn_id=conn_id,
            deadline=time.time() + budget,
            timeout=budget,
            poll_interval=interval,
        )
        kwargs.append(json.loads(json.dumps(original.serialize()[1])))
    return kwargs


class _Polled:
    """Which waits got the answer to at least one poll (list or own check), and which way each wait's first
    poll went: "list" (the Batcher) or "own" (its own check, a long poll for CloudFlow)."""

    def __init__(self, count: int) -> None:
        from airflow_provider_cloudflows.triggers.batching import BATCHER
        from airflow_provider_cloudflows.triggers.execution import COALESCER

        self.seen: set[str] = set()
        self.entered: set[str] = set()
        self.first: Counter[str] = Counter()
        self.count = count
        self.all = asyncio.Event()
        self.patched = [(BATCHER, "read", "list"), (COALESCER, "check", "own")]
        for owner, name, way in self.patched:
            setattr(owner, name, self._wrap(getattr(owner, name), way))

    def _wrap(self, method: Callable[..., Awaitable[Any]], way: str) -> Callable[..., Awaitable[Any]]:
        async def wrapped(key: Any, wait: Any, *args: Any, **kwargs: Any) -> Any:
            which = json.dumps(wait.identifiers, sort_keys=True)
            if which not in self.entered:
                self.entered.add(which)
                self.first[way] += 1
            result = await method(key, wait, *args, **kwargs)
            self.seen.add(which)
            if len(self.seen) >= self.count:
                self.all.set()
            return result

        return wrapped

    def remove(self) -> None:
        for owner, name, _ in self.patched:
            if name in vars(owner):
                delattr(owner, name)  # the class's method shows again


async def _provider(
    kwargs: list[dict[str, Any]],
    t0: float,
    *,
    ending: set[int] | None = None,
    restart: bool = False,
    on_restart: Callable[[], None] | None = None,
    polled: _Polled | None = None,
) -> tuple[list[tuple[float, dict[str, Any]] | None], dict[str, float]]:
    """The waits in this loop from t0; per wait (when its event was yielded, the event), None for a wait
    that does not end within the run. A memory hand-back is deferred again, as the sensor does. With
    ``restart``, every task of the loop is cancelled once each wait has polled once, ``on_restart`` is
    called, and the waits start again from the same kwargs with a fresh limiter. ``polled`` (a
    ``_Polled``, installed) counts first polls; with ``restart`` it is removed at the restart."""
    from scale_triggerer import pct

    from airflow_provider_cloudflows.transport.throttle import LIMITER
    from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger

    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, t0 - loop.time()))
    gc.collect()
    stats = {"rss0": _rss_kb(), "rss_max": 0.0, "cpu0": _cpu(), "lag_p99": 0.0, "redeferred": 0.0}
    stop = asyncio.Event()
    lags: list[float] = []

    async def monitor() -> None:
        while not stop.is_set():
            expected = loop.time() + 0.1
            await asyncio.sleep(0.1)
            lags.append(max(0.0, loop.time() - expected))
            if len(lags) % 10 == 0:
                stats["rss_max"] = max(stats["rss_max"], _rss_kb())

    async def one(serialized: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        # Rebuilt from the JSON the database would hold.
        trigger = CloudExecutionTrigger(**json.loads(json.dumps(serialized)))
        while True:
            events = [(loop.time(), event.payload) async for event in trigger.run()]
            if len(events) != 1:
                return loop.time(), {"outcome": "error", "message": f"{len(events)} events"}
            if events[0][1].get("outcome") != "memory":
                return events[0]
            # What the sensor does with a memory hand-back: defer again with it, same deadline.
            stats["redeferred"] += 1
            _, again = trigger.serialize()
            again["options"] = {**again["options"], "memory": events[0][1]["memory"]}
            trigger = CloudExecutionTrigger(**json.loads(json.dumps(again)))

    watcher = asyncio.create_task(monitor())
    tasks = [asyncio.create_task(one(k)) for k in kwargs]
    if restart:
        assert polled is not None
        await asyncio.wait_for(polled.all.wait(), 900.0)
        polled.remove()
        stats["polled_after"] = loop.time() - t0
        # The triggerer dies: every task of its loop goes, the waits' in-flight requests and flushers too.
        doomed = [task for task in asyncio.all_tasks() if task not in (asyncio.current_task(), watcher)]
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
        stats["killed"] = len(doomed)
        stats["restart_mono"], stats["restart_wall"] = loop.time(), time.time()
        if on_restart is not None:
            on_restart()
        LIMITER.reset()  # a new triggerer process starts with a fresh limiter
        tasks = [asyncio.create_task(one(k)) for k in kwargs]
    chosen = range(len(kwargs)) if ending is None else sorted(ending)
    done = await asyncio.gather(*(tasks[i] for i in chosen))
    results: list[tuple[float, dict[str, Any]] | None] = [None] * len(kwargs)
    for i, result in zip(chosen, done, strict=True):
        results[i] = result
    stats["cpu"] = _cpu() - stats["cpu0"]
    stats["rss_max"] = max(stats["rss_max"], _rss_kb())
    left = [task for task in tasks if not task.done()]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
    stop.set()
    await watcher
    stats["lag_p99"] = pct(lags, 0.99)
    return results, stats


# ------------------------------------------------------------------------------------------------- report


def _latencies(values: list[float]) -> str:
    from scale_triggerer import pct

    if not values:
        return "-"
    return f"{pct(values, 0.5):.1f} / {pct(values, 0.99):.1f} / {max(values):.1f}"


@dataclass(frozen=True)
class _Ends:
    """When each side saw the scripted ends: the provider's latencies, the bare loop's, and for each end the bare
    loop never saw, a lower bound (the run's end minus the scripted end)."""

    provider: list[float]
    bare: list[float]
    bare_bound: list[float]

    @classmethod
    def of(cls, provider: list[float], detected: list[float | None], scripted: list[float], run_end: float) -> _Ends:
        pairs = list(zip(detected, scripted, strict=True))
        seen = [at - end for at, end in pairs if at is not None]
        return cls(provider, seen, [run_end - end for at, end in pairs if at is None])

    def rows(self, n: int) -> list[tuple[str, str, str]]:
        """The table rows on detection and latency, the provider's beside the bare loop's."""
        return [
            (
                "ends detected within the run",
                f"{len(self.provider)}/{n} ({100.0 * len(self.provider) / n:.1f}%)",
                f"{len(self.bare)}/{n} ({100.0 * len(self.bare) / n:.1f}%)",
            ),
            ("latency of detected ends p50 / p99 / max (s)", _latencies(self.provider), _latencies(self.bare)),
            ("lower bound for ends not detected p50 / p99 / max (s)", "-", _latencies(self.bare_bound)),
        ]

    def ratio(self, n: int) -> str:
        """The p99 ratio; among all N waits, the bare loop's p99 is at least that of (seen latency, or its bound)."""
        from scale_triggerer import pct

        bare_p99_floor = pct(self.bare + self.bare_bound, 0.99)
        provider_p99 = pct(self.provider, 0.99)
        ratio = bare_p99_floor / provider_p99 if provider_p99 > 0 else float("inf")
        return (
            f"ratio: baseline p99 >= {bare_p99_floor:.1f}s (seen latencies and lower bounds of all {n} waits) / "
            f"provider p99 {provider_p99:.1f}s = {ratio:.1f}x or more; ends detected "
            f"{len(self.provider) / n:.1%} vs {len(self.bare) / n:.1%}"
        )


def _describe(found: Any) -> str:
    if found is None:
        return "unlimited"
    if found.burst is None:
        return f"{found.rate:g}/s"
    return f"bucket {found.burst} refilled at {found.rate:g}/s"


def _quota(api: str, vendor: str = "tencentcloud") -> str:
    from airflow_provider_cloudflows.limits import quota

    return _describe(quota(vendor, api))


def _share(part: int, whole: int) -> str:
    return f"{part} ({100.0 * part / whole:.2f}%)" if whole else f"{part}"


def _table(header: str, rows: list[tuple[str, str, str]]) -> None:
    print(header)
    print("|---|---|---|")
    for name, left, right in rows:
        print(f"| {name} | {left} | {right} |")


def _records(emulator: Any, service: str, actions: tuple[str, ...], since_wall: float) -> list[dict[str, Any]]:
    return [
        r
        for action in actions
        for r in emulator.control(f"requests?service={service}&action={action}")["requests"]
        if r["time"] >= since_wall - 1.0
    ]


def _by_key(records: list[dict[str, Any]], keys: tuple[str, str]) -> tuple[dict[str, Counter[str]], dict[str, int]]:
    """Requests per action and throttled answers, per key id (provider, baseline)."""
    from scale_triggerer import is_throttled

    by_side: dict[str, Counter[str]] = {key: Counter() for key in keys}
    throttled = dict.fromkeys(keys, 0)
    for r in records:
        if r["key_id"] in by_side:
            by_side[r["key_id"]][r["action"]] += 1
            throttled[r["key_id"]] += is_throttled(r)
    return by_side, throttled


class _Counters:
    """The module-level Batcher and Coalescer counters are per process: a target reads its own deltas."""

    def __init__(self) -> None:
        from airflow_provider_cloudflows.triggers.batching import BATCHER
        from airflow_provider_cloudflows.triggers.execution import COALESCER

        self.batcher, self.coalescer = BATCHER, COALESCER
        self.start = (BATCHER.calls, BATCHER.items, COALESCER.requests)

    def read(self) -> tuple[int, int, int]:
        """List calls, executions they covered, own checks: since this target started."""
        calls, items, own = self.start
        return self.batcher.calls - calls, self.batcher.items - items, self.coalescer.requests - own


WRONG: list[str] = []  # messages of the wrong outcomes, printed after the target's table


def _fates(
    results: list[tuple[float, dict[str, Any]] | None], scripted: list[float], fails: list[bool], chosen: list[int]
) -> tuple[list[float], int, Counter[Any]]:
    """Latencies of the chosen waits that ended as scripted, the number of wrong outcomes, the outcomes."""
    latencies: list[float] = []
    wrong, outcomes = 0, Counter[Any]()
    for i in chosen:
        result = results[i]
        event = {} if result is None else result[1]
        outcomes[event.get("outcome")] += 1
        if result is not None and event.get("outcome") == ("failure" if fails[i] else "success"):
            latencies.append(result[0] - scripted[i])
        else:
            wrong += 1
            WRONG.append(f"{event.get('outcome')}: {str(event.get('message'))[:300]}")
    return latencies, wrong, outcomes


# -------------------------------------------------------------------------------------------------- batch


def _target_batch(args: argparse.Namespace, emulator: Any) -> bool:

    from airflow_provider_cloudflows.credentials import Credentials
    from airflow_provider_cloudflows.limits import quota

    rng = random.Random(args.seed)
    ends = [rng.uniform(0.0, args.spread) for _ in range(args.jobs)]
    fails = [rng.random() < args.fail for _ in range(args.jobs)]
    counters = _Counters()
    bare = _Bare()
    try:
        conn = json.loads(emulator.env[CONN_ENV])
        key_a = Credentials(conn["login"], conn["password"])
        emulator.control(
            "credentials", {"vendor": "tencent", "key_id": KEY_B[0], "secret": KEY_B[1], "account": ACCOUNT_B}
        )
        setup = [time.monotonic()]
        submit_quota = quota("tencentcloud", "batch:SubmitJob")
        assert submit_quota is not None
        emulator.control("rate-limits", {"service": "batch", "action": "SubmitJob", "per_second": None})
        ids = asyncio.run(_submit(emulator.url, key_a, args.jobs))
        emulator.control("rate-limits", {"service": "batch", "action": "SubmitJob", "per_second": submit_quota.rate})
        setup.append(time.monotonic())
        t0, scripted = _script(emulator, args.jobs, ends, _batch_task(ids, fails))
        setup.append(time.monotonic())
        describe_quota = quota("tencentcloud", "batch:DescribeJob")
        assert describe_quota is not None
        bare.start(
            {
                "kind": "batch",
                "url": emulator.url,
                "key": KEY_B,
                "items": ids,
                "t0": t0,
                "interval": args.interval,
                "rate": describe_quota.rate,
            }
        )
        t0_wall = time.time() + (t0 - time.monotonic())
        budget = args.spread + max(10 * args.interval, 120.0) + args.jobs / 100.0
        kwargs = _waits("tencent_batch_job", [{"job_id": i} for i in ids], CONN_ID, args.interval, budget)
        results, stats = asyncio.run(_provider(kwargs, t0))
        run_end = time.monotonic()
        baseline = bare.stop()
        records = _records(emulator, "batch", ("DescribeJobs", "DescribeJob", "DescribeTask"), t0_wall)
    finally:
        bare.kill()

    calls, items, own = counters.read()
    wall = run_end - t0
    n = args.jobs
    provider_lat, wrong, outcomes = _fates(results, scripted, fails, list(range(n)))
    ends = _Ends.of(provider_lat, baseline["detected"], scripted, run_end)
    by_side, throttled = _by_key(records, (conn["login"], KEY_B[0]))
    mine, theirs = by_side[conn["login"]], by_side[KEY_B[0]]
    sent, sent_bare = sum(mine.values()), sum(theirs.values())
    # Job states read: items of the list calls, plus the waits' own checks (failures, a lone wait).
    reads = items + own

    print(
        f"target: {n} Batch job waits on one account, poll interval {args.interval:g}s; job ends spread "
        f"uniformly over {args.spread:g}s ({sum(fails)} fail); per account DescribeJobs "
        f"{_quota('batch:DescribeJobs')}, DescribeJob {_quota('batch:DescribeJob')}, "
        f"DescribeTask {_quota('batch:DescribeTask')}"
    )
    print(
        f"setup {setup[2] - setup[0]:.1f}s: SubmitJob x{n} {setup[1] - setup[0]:.1f}s (quota lifted, then "
        f"restored to {submit_quota.rate:g}/s), ends scripted {setup[2] - setup[1]:.1f}s; run {wall:.1f}s "
        "(until the provider's last event)"
    )
    print()
    _table(
        HEADER,
        [
            ("account", "A", "B (its own quota)"),
            *ends.rows(n),
            ("DescribeJobs requests", str(mine["DescribeJobs"]), str(theirs["DescribeJobs"])),
            ("DescribeJob requests", str(mine["DescribeJob"]), str(theirs["DescribeJob"])),
            ("DescribeTask requests", str(mine["DescribeTask"]), str(theirs["DescribeTask"])),
            (
                "throttled answers (share of requests)",
                _share(throttled[conn["login"]], sent),
                _share(throttled[KEY_B[0]], sent_bare),
            ),
            ("requests per second", f"{sent / wall:.2f}", f"{sent_bare / wall:.2f}"),
            ("job reads (a job's state read once)", str(reads), str(sent_bare)),
            ("CPU per request sent (ms)", f"{1000 * stats['cpu'] / max(sent, 1):.1f}", "-"),
            ("CPU per job read (ms)", f"{1000 * stats['cpu'] / max(reads, 1):.2f}", "-"),
            ("RSS growth per wait (KB)", f"{(stats['rss_max'] - stats['rss0']) / n:.1f}", "-"),
        ],
    )
    print()
    print(ends.ratio(n))
    print(
        f"provider: {calls} DescribeJobs calls covered {items} job reads ({items / max(calls, 1):.1f} per call); "
        f"CPU {stats['cpu']:.1f}s over the run; loop lag p99 {1000 * stats['lag_p99']:.0f} ms; "
        f"outcomes {dict(outcomes)}; wrong outcomes {wrong}"
    )
    counts = baseline["counts"]
    answered = counts.get("requests", 0) - counts.get("throttled", 0)
    print(
        f"baseline: {counts.get('requests', 0)} DescribeJob sent, {counts.get('throttled', 0)} throttled, "
        f"{counts.get('errors', 0)} other errors; at the {answered / wall:.2f} answers/s it got, it reads each "
        f"of the {n} waits once every {n * wall / max(answered, 1):.0f}s"
    )
    ok = wrong == 0
    print("ALL PROVIDER WAITS ENDED CORRECTLY" if ok else "FAILED")
    return ok


# ---------------------------------------------------------------------------------------------- cloudflow


def _cloudflow_bounds(executions: int, flows: int, spread: float) -> list[str]:
    """What the documented quotas allow at best, from limits.QUOTAS (not written by hand)."""
    from airflow_provider_cloudflows.limits import quota
    from airflow_provider_cloudflows.services.alibaba_cloudflow import LIST_PAGE
    from airflow_provider_cloudflows.transport.throttle import SAFETY

    listing, describe = quota("alibabacloud", "fnf:ListExecutions"), quota("alibabacloud", "fnf:DescribeExecution")
    assert listing is not None
    assert describe is not None
    per_flow = math.ceil(executions / flows)
    calls = flows * math.ceil(per_flow / LIST_PAGE)
    sweep = calls / listing.rate
    burst = describe.burst or 1
    drain = max(0.0, (executions - burst) / describe.rate)
    return [
        f"quota bound (lists): ListExecutions {_describe(listing)} for {flows} flows of {per_flow} executions "
        f"({calls} calls of up to {LIST_PAGE}) is one sweep per {sweep:.1f}s ({sweep * SAFETY:.1f}s at the "
        f"provider's safety factor {SAFETY:g}): a listed wait sees its end up to a sweep late, so p99 >= "
        f"~{sweep:.0f}s whatever the poll interval",
        f"quota bound (ends): each end is read with its own DescribeExecution ({_describe(describe)}): "
        f"{executions} ends take >= {drain:.0f}s of that bucket ({drain * SAFETY:.0f}s at the safety factor); "
        f"ends spread over {spread:g}s come at {executions / spread:.1f}/s",
    ]


def _cloudflow_setup(
    emulator: Any, count: int, flows: int, ends: list[float], fails: list[bool], prefix: str
) -> tuple[list[tuple[str, str]], float, list[float], float]:
    """Register the executions (``flows`` flows, round robin); names, t0, scripted ends, setup time."""
    names = [(f"{prefix}_flow_{i % flows:02d}", f"run_{i:05d}") for i in range(count)]
    started = time.monotonic()
    t0, scripted = _script(emulator, count, ends, _cloudflow_execution(names, fails))
    return names, t0, scripted, time.monotonic() - started


def _alibaba_b(emulator: Any) -> None:
    emulator.control(
        "credentials",
        {"vendor": "alibaba", "key_id": ALIBABA_KEY_B[0], "secret": ALIBABA_KEY_B[1], "account": ACCOUNT_B},
    )


def _cloudflow_spec(emulator: Any, names: list[tuple[str, str]], t0: float, interval: float) -> dict[str, Any]:
    from airflow_provider_cloudflows.limits import quota

    describe = quota("alibabacloud", "fnf:DescribeExecution")
    assert describe is not None
    return {
        "kind": "cloudflow",
        "url": emulator.url,
        "key": ALIBABA_KEY_B,
        "items": names,
        "t0": t0,
        "interval": interval,
        "rate": describe.rate,
        "burst": describe.burst,
    }


def _target_cloudflow(args: argparse.Namespace, emulator: Any) -> bool:

    from airflow_provider_cloudflows.services.alibaba_cloudflow import LIST_FROM

    n, flows, interval, spread = args.cf_executions, args.cf_flows, args.cf_interval, args.cf_spread
    rng = random.Random(args.seed + 1)
    ends = [rng.uniform(0.0, spread) for _ in range(n)]
    fails = [rng.random() < args.fail for _ in range(n)]
    counters = _Counters()
    bare = _Bare()
    try:
        login = json.loads(emulator.env[ALIBABA_CONN_ENV])["login"]
        _alibaba_b(emulator)
        names, t0, scripted, setup = _cloudflow_setup(emulator, n, flows, ends, fails, "cf")
        bare.start(_cloudflow_spec(emulator, names, t0, interval))
        t0_wall = time.time() + (t0 - time.monotonic())
        budget = spread + 900.0
        ids = [{"flow_name": flow, "execution_name": name} for flow, name in names]
        kwargs = _waits("alibaba_cloudflow_execution", ids, ALIBABA_CONN_ID, interval, budget)
        polled = _Polled(n)
        try:
            results, stats = asyncio.run(_provider(kwargs, t0, polled=polled))
        finally:
            polled.remove()
        run_end = time.monotonic()
        baseline = bare.stop()
        records = _records(emulator, "fnf", CLOUDFLOW_APIS, t0_wall)
    finally:
        bare.kill()

    calls, items, own = counters.read()
    wall = run_end - t0
    provider_lat, wrong, outcomes = _fates(results, scripted, fails, list(range(n)))
    ends = _Ends.of(provider_lat, baseline["detected"], scripted, run_end)
    by_side, throttled = _by_key(records, (login, ALIBABA_KEY_B[0]))
    mine, theirs = by_side[login], by_side[ALIBABA_KEY_B[0]]
    sent, sent_bare = sum(mine.values()), sum(theirs.values())
    reads = items + own

    print(
        f"target: {n} CloudFlow executions of {flows} flows on one account, poll interval {interval:g}s; ends "
        f"spread uniformly over {spread:g}s ({sum(fails)} fail); per account ListExecutions "
        f"{_quota('fnf:ListExecutions', 'alibabacloud')}, DescribeExecution "
        f"{_quota('fnf:DescribeExecution', 'alibabacloud')}, GetExecutionHistory "
        f"{_quota('fnf:GetExecutionHistory', 'alibabacloud')}"
    )
    print(f"setup {setup:.1f}s: executions registered and scripted; run {wall:.1f}s (until the provider's last event)")
    print()
    _table(
        f"| {n} CloudFlow waits, {flows} flows, one account | provider (ListExecutions per flow) | "
        "baseline (bare DescribeExecution per wait) |",
        [
            ("account", "A", "B (its own quota)"),
            *ends.rows(n),
            *((f"{api} requests", str(mine[api]), str(theirs[api])) for api in CLOUDFLOW_APIS),
            (
                "throttled answers (share of requests)",
                _share(throttled[login], sent),
                _share(throttled[ALIBABA_KEY_B[0]], sent_bare),
            ),
            ("requests per second", f"{sent / wall:.2f}", f"{sent_bare / wall:.2f}"),
            ("execution reads (an execution's state read once)", str(reads), str(sent_bare)),
            ("CPU per request sent (ms)", f"{1000 * stats['cpu'] / max(sent, 1):.1f}", "-"),
            ("RSS growth per wait (KB)", f"{(stats['rss_max'] - stats['rss0']) / n:.1f}", "-"),
        ],
    )
    print()
    for line in _cloudflow_bounds(n, flows, spread):
        print(line)
    print(ends.ratio(n))
    print(
        f"provider: {calls} list reads (ListExecutions pages of one flow) covered {items} execution reads "
        f"({items / max(calls, 1):.1f} per read), {own} own checks; first polls: {polled.first['list']} through "
        f"the list, {polled.first['own']} own long polls (before {LIST_FROM} waits of the account had joined); "
        f"CPU {stats['cpu']:.1f}s over the run; "
        f"loop lag p99 {1000 * stats['lag_p99']:.0f} ms; outcomes {dict(outcomes)}; wrong outcomes {wrong}"
    )
    counts = baseline["counts"]
    answered = counts.get("requests", 0) - counts.get("throttled", 0)
    print(
        f"baseline: {counts.get('requests', 0)} DescribeExecution sent, {counts.get('throttled', 0)} throttled, "
        f"{counts.get('errors', 0)} other errors; at the {answered / wall:.2f} answers/s it got, it reads each "
        f"of the {n} waits once every {n * wall / max(answered, 1):.0f}s"
    )
    ok = wrong == 0
    print("ALL PROVIDER WAITS ENDED CORRECTLY" if ok else "FAILED")
    return ok


# ------------------------------------------------------------------------------------------------ restart


def _target_restart(args: argparse.Namespace, emulator: Any) -> bool:
    from scale_triggerer import is_throttled, pct

    n, flows, interval = args.cf_executions, args.cf_flows, args.cf_interval
    lead, spread = args.restart_lead, args.restart_spread
    rng = random.Random(args.seed + 2)
    ending = set(rng.sample(range(n), min(n, args.restart_ends)))
    # Every execution runs for an hour (all are pending at the restart); at the restart the ending ones are
    # scripted again to end `lead` to `lead + spread` seconds after it.
    after_restart = [lead + rng.uniform(0.0, spread) for _ in range(n)]
    fails = [i in ending and rng.random() < args.fail for i in range(n)]
    counters = _Counters()
    bare = _Bare()
    try:
        login = json.loads(emulator.env[ALIBABA_CONN_ENV])["login"]
        _alibaba_b(emulator)
        names, t0, scripted, setup = _cloudflow_setup(emulator, n, flows, [3600.0] * n, fails, "rs")
        bare.start(_cloudflow_spec(emulator, names, t0, interval))
        t0_wall = time.time() + (t0 - time.monotonic())
        ids = [{"flow_name": flow, "execution_name": name} for flow, name in names]
        kwargs = _waits("alibaba_cloudflow_execution", ids, ALIBABA_CONN_ID, interval, lead + spread + 900.0)

        def on_restart() -> None:
            # The bare loop restarts the moment the provider's triggerer does; the ends are scripted from it.
            bare.restart()
            build = _cloudflow_execution(names, fails)
            _post(emulator, sorted(ending), time.monotonic(), after_restart, build, scripted)

        polled = _Polled(n)
        try:
            results, stats = asyncio.run(
                _provider(kwargs, t0, ending=ending, restart=True, on_restart=on_restart, polled=polled)
            )
        finally:
            polled.remove()
        run_end = time.monotonic()
        baseline = bare.stop()
        records = _records(emulator, "fnf", CLOUDFLOW_APIS, t0_wall)
    finally:
        bare.kill()

    calls, items, own = counters.read()
    restart_mono, restart_wall = stats["restart_mono"], stats["restart_wall"]
    after = sorted(ending)
    _, wrong, outcomes = _fates(results, scripted, fails, sorted(ending))
    after_lat, _, _ = _fates(results, scripted, fails, after)
    detected = baseline["detected"]
    bare_after = [detected[i] - scripted[i] for i in after if detected[i] is not None]
    bare_bound = [run_end - scripted[i] for i in after if detected[i] is None]
    keys = (login, ALIBABA_KEY_B[0])
    storm = [r for r in records if restart_wall <= r["time"] < restart_wall + STORM_WINDOW]
    by_side, throttled = _by_key(storm, keys)
    whole, throttled_all = _by_key(records, keys)
    storm_api = {key: Counter(r["action"] for r in storm if r["key_id"] == key and is_throttled(r)) for key in keys}
    side = {key: sum(by_side[key].values()) for key in keys}

    def per_api(key: str) -> str:
        return ", ".join(f"{api} {by_side[key][api]} ({storm_api[key][api]} throttled)" for api in CLOUDFLOW_APIS)

    print(
        f"target: a triggerer restart with {n} CloudFlow waits ({flows} flows, one account) pending, poll "
        f"interval {interval:g}s: once every wait has polled once, every task of the triggerer's loop is "
        f"cancelled and {n} triggers start again from the same serialized kwargs with a fresh limiter; the bare "
        "loop restarts at the same moment with a fresh spacing"
    )
    print(
        f"setup {setup:.1f}s; every wait had polled once (answered) {stats['polled_after']:.1f}s after the start "
        f"(first polls: {polled.first['list']} through the list, {polled.first['own']} own long polls); restart "
        f"then ({stats['killed']:.0f} tasks cancelled); {len(ending)} executions end, spread over {spread:g}s "
        f"from {lead:g}s after the restart ({sum(fails)} fail), the other {n - len(ending)} are still running "
        f"when the run stops {run_end - restart_mono:.1f}s after the restart"
    )
    print()
    _table(
        f"| restart of {n} pending CloudFlow waits | provider (fresh triggers, fresh limiter) | "
        "baseline (bare loop, fresh spacing) |",
        [
            ("account", "A", "B (its own quota)"),
            (f"requests in the {STORM_WINDOW:g}s after the restart", per_api(keys[0]), per_api(keys[1])),
            (
                f"throttled answers in the {STORM_WINDOW:g}s after the restart (share)",
                _share(throttled[keys[0]], side[keys[0]]),
                _share(throttled[keys[1]], side[keys[1]]),
            ),
            (
                "throttled answers over the whole run (share)",
                _share(throttled_all[keys[0]], sum(whole[keys[0]].values())),
                _share(throttled_all[keys[1]], sum(whole[keys[1]].values())),
            ),
            (
                "ends after the restart detected",
                f"{len(after_lat)}/{len(after)}",
                f"{len(bare_after)}/{len(after)}",
            ),
            ("latency of ends after the restart p50 / p99 / max (s)", _latencies(after_lat), _latencies(bare_after)),
            ("lower bound for ends not detected p50 / p99 / max (s)", "-", _latencies(bare_bound)),
        ],
    )
    print()
    storm_share = throttled[keys[0]] / max(side[keys[0]], 1)
    print(
        f"no throttling storm (< 1% throttled in the {STORM_WINDOW:g}s after the restart): "
        f"{'yes' if storm_share < 0.01 else 'NO'} ({storm_share:.2%}); p99 of ends after the restart "
        f"{pct(after_lat, 0.99):.1f}s vs the bare loop's >= {pct(bare_after + bare_bound, 0.99):.1f}s"
    )
    print(
        f"provider: {calls} list reads covered "
        f"{items} execution reads, {own} own checks; CPU {stats['cpu']:.1f}s; loop lag p99 "
        f"{1000 * stats['lag_p99']:.0f} ms; outcomes of the ending waits {dict(outcomes)}; wrong outcomes {wrong}"
    )
    counts = baseline["counts"]
    print(
        f"baseline: {counts.get('requests', 0)} DescribeExecution sent, {counts.get('throttled', 0)} throttled, "
        f"{counts.get('errors', 0)} other errors"
    )
    ok = wrong == 0
    print("ALL ENDING PROVIDER WAITS ENDED CORRECTLY" if ok else "FAILED")
    return ok


# ---------------------------------------------------------------------------------------------------- dws


def _per_interval(times: list[float], interval: float) -> tuple[float, int, int]:
    """Calls per interval over consecutive windows from the first call: mean, max, windows."""
    if not times:
        return 0.0, 0, 0
    first = min(times)
    windows = Counter(int((t - first) // interval) for t in times)
    count = max(windows) + 1
    return len(times) / count, max(windows.values()), count


def _target_dws(args: argparse.Namespace, emulator: Any) -> bool:
    from scale_triggerer import is_throttled

    from airflow_provider_cloudflows.limits import quota

    n, interval, spread, lead = args.dws_clusters, args.dws_interval, args.dws_spread, args.dws_lead
    rng = random.Random(args.seed + 3)
    clusters = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n)]
    # A wait must see its task running before it ends (docs/design/dws-task-end.md): the sensor starts with the action.
    ends = [lead + rng.uniform(0.0, spread) for _ in range(n)]
    fails = [rng.random() < args.fail for _ in range(n)]
    guard = quota("huaweicloud", "dws:*")
    assert guard is not None
    counters = _Counters()
    bare = _Bare()
    try:
        conn = json.loads(emulator.env[HUAWEI_CONN_ENV])
        emulator.control(
            "credentials",
            {"vendor": "huawei", "key_id": HUAWEI_KEY_B[0], "secret": HUAWEI_KEY_B[1], "account": ACCOUNT_B},
        )
        started = time.monotonic()
        t0, scripted = _script(emulator, n, ends, _dws_task(clusters, fails))
        setup = time.monotonic() - started
        bare.start(
            {
                "kind": "dws",
                "url": emulator.url,
                "key": HUAWEI_KEY_B,
                "items": clusters,
                "project_id": conn["extra"]["project_id"],
                "t0": t0,
                "interval": interval,
                "rate": guard.rate,
            }
        )
        t0_wall = time.time() + (t0 - time.monotonic())
        ids = [{"cluster_id": cluster, "action_name": DWS_ACTION} for cluster in clusters]
        kwargs = _waits("huawei_dws_cluster_task", ids, HUAWEI_CONN_ID, interval, spread + 900.0)
        results, stats = asyncio.run(_provider(kwargs, t0))
        run_end = time.monotonic()
        baseline = bare.stop()
        records = _records(emulator, "dws", DWS_APIS, t0_wall)
    finally:
        bare.kill()

    calls, items, _ = counters.read()
    wall = run_end - t0
    login = conn["login"]
    provider_lat, wrong, outcomes = _fates(results, scripted, fails, list(range(n)))
    ends = _Ends.of(provider_lat, baseline["detected"], scripted, run_end)
    by_side, throttled = _by_key(records, (login, HUAWEI_KEY_B[0]))
    mine, theirs = by_side[login], by_side[HUAWEI_KEY_B[0]]
    sent, sent_bare = sum(mine.values()), sum(theirs.values())
    lists = [r["time"] for r in records if r["key_id"] == login and r["action"] == "ListClusters"]
    mean, most, windows = _per_interval(lists, interval)
    first_throttled = [r["time"] - t0_wall for r in records if r["key_id"] == login and is_throttled(r)]

    print(
        f"target: {n} DWS {DWS_ACTION} waits on {n} clusters of one project, poll interval {interval:g}s; ends "
        f"spread uniformly over {spread:g}s from {lead:g}s after the start ({sum(fails)} fail); DWS documents no "
        "quota: the emulator enforces "
        f"the limits table's judgment ({_describe(guard)} per API and account), the client does not space by it"
    )
    print(f"setup {setup:.1f}s: clusters registered and scripted; run {wall:.1f}s (until the provider's last event)")
    print()
    _table(
        f"| {n} DWS cluster waits, one project | provider (cluster list once seen) | "
        "baseline (bare action-view GET per wait) |",
        [
            ("account", "A", "B (its own quota)"),
            *ends.rows(n),
            (
                f"cluster-list calls (ListClusters) per {interval:g}s interval: mean / max",
                f"{mean:.2f} / {most} ({len(lists)} calls in {windows} intervals)",
                "-",
            ),
            (
                "action-view reads (ListClusterActions: action and failure views)",
                str(mine["ListClusterActions"]),
                str(theirs["ListClusterActions"]),
            ),
            ("cluster-detail reads (ListClusterDetails)", str(mine["ListClusterDetails"]), "-"),
            (
                "throttled answers (share of requests)",
                _share(throttled[login], sent),
                _share(throttled[HUAWEI_KEY_B[0]], sent_bare),
            ),
            ("requests per second", f"{sent / wall:.2f}", f"{sent_bare / wall:.2f}"),
            ("CPU per request sent (ms)", f"{1000 * stats['cpu'] / max(sent, 1):.1f}", "-"),
            ("RSS growth per wait (KB)", f"{(stats['rss_max'] - stats['rss0']) / n:.1f}", "-"),
        ],
    )
    print()
    print(ends.ratio(n))
    print(
        f"provider: {calls} cluster-list reads covered {items} wait reads ({items / max(calls, 1):.1f} per read); "
        f"{stats['redeferred']:.0f} memory hand-backs deferred again; throttled answers at "
        f"{_latencies(first_throttled)} s (p50 / p99 / max) after the start; CPU {stats['cpu']:.1f}s; loop lag "
        f"p99 {1000 * stats['lag_p99']:.0f} ms; outcomes {dict(outcomes)}; wrong outcomes {wrong}"
    )
    counts = baseline["counts"]
    answered = counts.get("requests", 0) - counts.get("throttled", 0)
    print(
        f"baseline: {counts.get('requests', 0)} action-view GETs sent at {guard.rate:g}/s, "
        f"{counts.get('throttled', 0)} throttled, {counts.get('errors', 0)} other errors; it reads each of the "
        f"{n} waits once every {n * wall / max(answered, 1):.0f}s"
    )
    ok = wrong == 0
    print("ALL PROVIDER WAITS ENDED CORRECTLY" if ok else "FAILED")
    return ok


# ---------------------------------------------------------------------------------------------------- main

# Full size, then --quick, per option (None: the option was not given).
SIZES: dict[str, tuple[float, float]] = {
    "jobs": (10_000, 500),
    "interval": (30.0, 5.0),
    "spread": (180.0, 30.0),
    "cf_executions": (2_000, 300),
    "cf_flows": (20, 3),
    "cf_interval": (2.0, 2.0),
    "cf_spread": (600.0, 60.0),
    "restart_ends": (200, 60),
    "restart_lead": (10.0, 5.0),
    "restart_spread": (60.0, 20.0),
    "dws_clusters": (1_000, 100),
    "dws_interval": (10.0, 3.0),
    "dws_lead": (30.0, 10.0),
    "dws_spread": (120.0, 20.0),
}
COUNTS = ("jobs", "cf_executions", "cf_flows", "restart_ends", "dws_clusters")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--quick", action="store_true", help="each chosen target at a small size")
    parser.add_argument("--jobs", type=int, help="Batch job waits")
    parser.add_argument("--interval", type=float, help="poll interval of every Batch wait (s)")
    parser.add_argument("--spread", type=float, help="Batch job ends spread uniformly over this (s)")
    parser.add_argument("--cf-executions", type=int, help="CloudFlow waits (cloudflow and restart)")
    parser.add_argument("--cf-flows", type=int, help="flows they belong to")
    parser.add_argument("--cf-interval", type=float, help="poll interval of every CloudFlow wait (s)")
    parser.add_argument("--cf-spread", type=float, help="CloudFlow ends spread uniformly over this (s)")
    parser.add_argument("--restart-ends", type=int, help="executions that end in the restart target")
    parser.add_argument("--restart-lead", type=float, help="their ends start this long after the restart (s)")
    parser.add_argument("--restart-spread", type=float, help="and are spread over this (s)")
    parser.add_argument("--dws-clusters", type=int, help="DWS waits, one cluster each")
    parser.add_argument("--dws-interval", type=float, help="poll interval of every DWS wait (s)")
    parser.add_argument("--dws-lead", type=float, help="DWS task ends start this long after the start (s)")
    parser.add_argument("--dws-spread", type=float, help="and are spread uniformly over this (s)")
    parser.add_argument("--fail", type=float, default=0.01, help="share of the executions that fail")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline-worker", action="store_true", help=argparse.SUPPRESS)
    add_write_option(parser)
    args = parser.parse_args(argv)
    if args.baseline_worker:
        return _baseline_main()
    for name, (full, quick) in SIZES.items():
        if getattr(args, name) is None:
            value = quick if args.quick else full
            setattr(args, name, int(value) if name in COUNTS else value)
    chosen = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(chosen) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose among {', '.join(TARGETS)}")

    # Imported here, not at the top: the baseline process needs neither Airflow nor the trigger.
    from scale_triggerer import Emulator

    # Every throttled attempt is logged at WARNING: a thousand DWS waits' first checks say nothing here
    # (errors still show); the emulator's request log counts the throttled answers. The triggers' loggers
    # write to this process's stdout whatever the level: the file descriptor goes to stderr, the report
    # keeps stdout.
    logging.disable(logging.WARNING)
    sys.stdout.flush()
    report = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(report, "w", buffering=1)

    run = {"batch": _target_batch, "cloudflow": _target_cloudflow, "restart": _target_restart, "dws": _target_dws}
    emulator = Emulator()
    results = {}
    started = time.monotonic()
    try:
        os.environ.update(emulator.env)
        for number, target in enumerate(t for t in TARGETS if t in chosen):
            if number:
                print("\n")
                emulator.control("reset", {})  # executions and the request log; keys and quotas stay
            WRONG.clear()
            # One section per target: a rerun of one target replaces only its own figures.
            with recording(f"bench_quota/{target}", args.write, argv):
                results[target] = run[target](args, emulator)
                for message in sorted(set(WRONG))[:3]:
                    print(f"  wrong outcome ({WRONG.count(message)}x): {message}")
            sys.stdout.flush()
    finally:
        emulator.stop()
    print()
    print(
        f"run of {', '.join(results)} in {time.monotonic() - started:.0f}s: "
        + ", ".join(f"{target} {'ok' if ok else 'FAILED'}" for target, ok in results.items())
    )
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
