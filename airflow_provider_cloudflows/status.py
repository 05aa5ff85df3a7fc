"""One status model for every service: normalized statuses, vendor state tables and the wait's verdict."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class ExecutionStatus(str, enum.Enum):
    """The normalized status of a cloud execution, whatever the vendor calls it.

    ``UNKNOWN`` is what a vendor value missing from the state table maps to: it is never success, the wait
    goes on and the raw value travels in the event so that nothing is silently swallowed.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    BLOCKED = "BLOCKED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        """Whether the execution can no longer change (BLOCKED may still be unblocked by an operator)."""
        return self in _FINAL


_FINAL = frozenset(
    {ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED, ExecutionStatus.TIMED_OUT}
)
_DEFAULT_FAILURES = frozenset(
    {ExecutionStatus.FAILED, ExecutionStatus.CANCELLED, ExecutionStatus.TIMED_OUT, ExecutionStatus.BLOCKED}
)


class Verdict(str, enum.Enum):
    """What the wait does with an observed status."""

    SUCCESS = "success"
    FAILURE = "failure"
    WAITING = "waiting"


def vendor_key(value: Any) -> str:
    """Normalize a vendor-native state value for lookups: EMR sends ``2``, users may write ``"2"``."""
    if isinstance(value, bool):
        # bool is an int subclass; no vendor state is boolean, so refuse to conflate True with 1.
        raise TypeError(f"state values are strings or integers, not {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


@dataclass(frozen=True)
class StateTable:
    """A vendor's state values mapped onto :class:`ExecutionStatus`, plus the default success/failure sets.

    The success set defaults to the values mapped to ``SUCCEEDED``, the failure set to those mapped to
    ``FAILED``, ``CANCELLED``, ``TIMED_OUT`` or ``BLOCKED``. Users override either with vendor-native values.
    """

    vendor_field: str
    states: Mapping[str, ExecutionStatus]
    descriptions: Mapping[str, str] = field(default_factory=dict)

    def status_of(self, value: Any) -> ExecutionStatus:
        """Map one vendor value; anything not in the table is ``UNKNOWN``."""
        if value is None:
            return ExecutionStatus.UNKNOWN
        return self.states.get(vendor_key(value), ExecutionStatus.UNKNOWN)

    def default_success(self) -> frozenset[str]:
        """Vendor values that end the wait successfully unless overridden."""
        return frozenset(k for k, s in self.states.items() if s is ExecutionStatus.SUCCEEDED)

    def default_failure(self) -> frozenset[str]:
        """Vendor values that fail the wait unless overridden."""
        return frozenset(k for k, s in self.states.items() if s in _DEFAULT_FAILURES)

    def validate_overrides(self, name: str, values: Iterable[Any] | None) -> frozenset[str] | None:
        """Check user-supplied state values against the table; a typo would otherwise wait forever."""
        if values is None:
            return None
        if isinstance(values, (str, bytes)):
            raise ValueError(f"{name} must be a list of {self.vendor_field} values, not a single string")
        keys = frozenset(vendor_key(v) for v in values)
        unknown = sorted(keys - set(self.states))
        if unknown:
            raise ValueError(
                f"{name} contains values that are not {self.vendor_field} states: {unknown}; "
                f"valid values are {sorted(self.states)}"
            )
        return keys

    def verdict(
        self,
        value: Any,
        success_states: Iterable[str] | None = None,
        failure_states: Iterable[str] | None = None,
    ) -> Verdict:
        """Decide success, failure or keep waiting for one observed vendor value."""
        if value is None:
            return Verdict.WAITING
        key = vendor_key(value)
        success = frozenset(success_states) if success_states is not None else self.default_success()
        failure = frozenset(failure_states) if failure_states is not None else self.default_failure()
        if key in success:
            return Verdict.SUCCESS
        if key in failure:
            return Verdict.FAILURE
        # An execution that has ended outside the accepted states will never reach them: waiting on would
        # only burn the sensor's timeout, so it is a failure.
        if self.status_of(value).is_final:
            return Verdict.FAILURE
        return Verdict.WAITING
