"""Every documented vendor state value, mapped and judged; overrides; unknown values never succeed."""

from __future__ import annotations

import pytest

from airflow_provider_cloudflows.services import get_service, service_names
from airflow_provider_cloudflows.status import ExecutionStatus as S
from airflow_provider_cloudflows.status import Verdict as V

# (service, vendor value, normalized status, default verdict): straight from the vendor docs and notes.
DOCUMENTED = [
    ("tencent_emr_flow", 0, S.PENDING, V.WAITING),
    ("tencent_emr_flow", 1, S.RUNNING, V.WAITING),
    ("tencent_emr_flow", 2, S.SUCCEEDED, V.SUCCESS),
    ("tencent_emr_flow", 3, S.SUCCEEDED, V.SUCCESS),
    ("tencent_emr_flow", -1, S.FAILED, V.FAILURE),
    ("tencent_emr_flow", -3, S.BLOCKED, V.FAILURE),
    ("tencent_cynosdb_flow", 0, S.SUCCEEDED, V.SUCCESS),
    ("tencent_cynosdb_flow", 1, S.FAILED, V.FAILURE),
    ("tencent_cynosdb_flow", 2, S.RUNNING, V.WAITING),
    ("tencent_batch_task", "SUBMITTED", S.PENDING, V.WAITING),
    ("tencent_batch_task", "PENDING", S.PENDING, V.WAITING),
    ("tencent_batch_task", "RUNNABLE", S.PENDING, V.WAITING),
    ("tencent_batch_task", "STARTING", S.PENDING, V.WAITING),
    ("tencent_batch_task", "RUNNING", S.RUNNING, V.WAITING),
    ("tencent_batch_task", "SUCCEED", S.SUCCEEDED, V.SUCCESS),
    ("tencent_batch_task", "FAILED", S.FAILED, V.FAILURE),
    ("tencent_batch_task", "FAILED_INTERRUPTED", S.FAILED, V.FAILURE),
    ("alibaba_cloudflow_execution", "Starting", S.PENDING, V.WAITING),
    ("alibaba_cloudflow_execution", "Running", S.RUNNING, V.WAITING),
    ("alibaba_cloudflow_execution", "Succeeded", S.SUCCEEDED, V.SUCCESS),
    ("alibaba_cloudflow_execution", "Failed", S.FAILED, V.FAILURE),
    ("alibaba_cloudflow_execution", "Stopped", S.CANCELLED, V.FAILURE),
    ("alibaba_cloudflow_execution", "TimedOut", S.TIMED_OUT, V.FAILURE),
    ("huawei_dws_cluster_task", "WAITING", S.PENDING, V.WAITING),
    ("huawei_dws_cluster_task", "RUNNING", S.RUNNING, V.WAITING),
    ("huawei_dws_cluster_task", "ROLLBACK_RUNNING", S.RUNNING, V.WAITING),
    ("huawei_dws_cluster_task", "SUCCESS", S.SUCCEEDED, V.SUCCESS),
    ("huawei_dws_cluster_task", "FAILED", S.FAILED, V.FAILURE),
    ("huawei_dws_cluster_task", "ROLLBACK_FAIL", S.FAILED, V.FAILURE),
    ("huawei_dws_cluster_task", "ROLLBACK_SUCCESS", S.FAILED, V.FAILURE),
    ("tencent_batch_job", "SUBMITTED", S.PENDING, V.WAITING),
    ("tencent_batch_job", "PENDING", S.PENDING, V.WAITING),
    ("tencent_batch_job", "RUNNABLE", S.PENDING, V.WAITING),
    ("tencent_batch_job", "STARTING", S.PENDING, V.WAITING),
    ("tencent_batch_job", "RUNNING", S.RUNNING, V.WAITING),
    ("tencent_batch_job", "SUCCEED", S.SUCCEEDED, V.SUCCESS),
    ("tencent_batch_job", "FAILED", S.FAILED, V.FAILURE),
    ("tencent_batch_job", "FAILED_INTERRUPTED", S.FAILED, V.FAILURE),
    ("huawei_dws_job", "INIT", S.PENDING, V.WAITING),
    ("huawei_dws_job", "WAITING", S.PENDING, V.WAITING),
    ("huawei_dws_job", "DELAY_SCHEDULED", S.PENDING, V.WAITING),
    ("huawei_dws_job", "RUNNING", S.RUNNING, V.WAITING),
    ("huawei_dws_job", "SUCCESS", S.SUCCEEDED, V.SUCCESS),
    ("huawei_dws_job", "FAIL", S.FAILED, V.FAILURE),
    ("huawei_dws_job", "STOP", S.CANCELLED, V.FAILURE),
]


@pytest.mark.parametrize(("service", "value", "status", "verdict"), DOCUMENTED)
def test_documented_state(service: str, value: object, status: S, verdict: V) -> None:
    table = get_service(service).table
    assert table.status_of(value) is status
    assert table.verdict(value) is verdict


@pytest.mark.parametrize("service", service_names())
def test_tables_hold_exactly_the_documented_values(service: str) -> None:
    documented = {str(v) for s, v, _, _ in DOCUMENTED if s == service}
    assert set(get_service(service).table.states) == documented


@pytest.mark.parametrize("service", service_names())
def test_unknown_value_is_never_success(service: str) -> None:
    table = get_service(service).table
    for value in ("SOMETHING_NEW", 99, "", None):
        assert table.status_of(value) in (S.UNKNOWN,)
        assert table.verdict(value) is V.WAITING


def test_emr_blocked_can_be_made_a_wait() -> None:
    table = get_service("tencent_emr_flow").table
    failure = table.validate_overrides("failure_states", [-1])
    assert table.verdict(-3, failure_states=failure) is V.WAITING
    assert table.verdict(-1, failure_states=failure) is V.FAILURE


def test_success_override_turns_an_ended_state_into_failure() -> None:
    # Only 2 accepted: 3 (skipped steps) has ended and can never become 2, so waiting on would be pointless.
    table = get_service("tencent_emr_flow").table
    success = table.validate_overrides("success_states", ["2"])
    assert table.verdict(2, success_states=success) is V.SUCCESS
    assert table.verdict(3, success_states=success) is V.FAILURE


def test_failure_override_accepts_a_native_value() -> None:
    table = get_service("alibaba_cloudflow_execution").table
    success = table.validate_overrides("success_states", ["Succeeded", "Stopped"])
    assert table.verdict("Stopped", success_states=success) is V.SUCCESS


def test_override_typo_is_a_clear_error() -> None:
    table = get_service("tencent_batch_task").table
    with pytest.raises(
        ValueError, match=r"success_states contains values that are not TaskState states: \['SUCCEEDED'\]"
    ):
        table.validate_overrides("success_states", ["SUCCEEDED"])
    with pytest.raises(ValueError, match="list of"):
        table.validate_overrides("failure_states", "FAILED")


# Near-misses of every documented value: whitespace, case, float or string forms of integers, booleans.
def _near_misses(value: object) -> list[object]:
    if isinstance(value, int):
        return [str(value), f" {value}", f"{value} ", f"{value}\n", float(value), [value], {"v": value}]
    text = str(value)
    return [f" {text}", f"{text} ", f"{text}\n", text.lower(), text.upper() if text != text.upper() else text.title()]


@pytest.mark.parametrize(("service", "value", "status", "verdict"), DOCUMENTED)
def test_coerced_vendor_values_are_unknown(service: str, value: object, status: S, verdict: V) -> None:
    table = get_service(service).table
    for miss in _near_misses(value):
        if miss == value:  # e.g. an upper-case value's .upper()
            continue
        assert table.status_of(miss) is S.UNKNOWN, miss
        assert table.verdict(miss) is V.WAITING, miss
        # Even with the value itself among the user's overrides, a near-miss proves nothing.
        success = table.validate_overrides("success_states", [value])
        assert table.verdict(miss, success_states=success) is V.WAITING, miss


@pytest.mark.parametrize("service", service_names())
def test_hostile_values_never_raise(service: str) -> None:
    table = get_service(service).table
    for value in (True, False, 10**5000, -(10**5000), float("nan"), float("inf"), b"2", object()):
        assert table.status_of(value) is S.UNKNOWN
        assert table.verdict(value) is V.WAITING


def test_user_overrides_stay_lenient() -> None:
    table = get_service("tencent_emr_flow").table
    success = table.validate_overrides("success_states", ["2", " 3 "])
    assert table.verdict(2, success_states=success) is V.SUCCESS
    assert table.verdict(3, success_states=success) is V.SUCCESS


def test_show_is_bounded() -> None:
    from airflow_provider_cloudflows.status import show

    assert show(10**5000).startswith("<integer of")
    assert len(show("x" * 10_000)) == 80
    assert show(2) == "2"
