"""One status model for every service: normalized statuses, vendor state tables and the wait's verdict."""

from __future__ import annotations

import enum
import functools
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


def show(value: Any, limit: int = 80) -> str:
    """A bounded ``repr`` of a vendor value for messages: whatever the network sent, it cannot raise or flood."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        # repr() of an int with thousands of digits raises ValueError (Python 3.11's int/str limit).
        return f"<integer of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def vendor_key(value: Any) -> str:
    """Normalize a *user-supplied* state value for lookups: EMR sends ``2``, users may write ``"2"``.

    Lenient on purpose, for input only; a vendor's answer is matched exactly (:meth:`StateTable.exact_key`).
    """
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
    # The documented JSON type of the vendor's value (EMR and CynosDB send integers, the others strings).
    value_type: type = str

    def exact_key(self, value: Any) -> str | None:
        """The table key of a vendor value, only if it is exactly a documented value of the documented type.

        ``"2 "``, ``2.0``, ``"2"`` for an integer field, ``"Succeeded\n"`` or ``True`` are not: they prove
        nothing, so they are ``None`` (UNKNOWN), never coerced into a success.
        """
        # type() rather than isinstance(): bool is an int subclass, and str subclasses are not JSON.
        if type(value) is not self.value_type:
            return None
        if self.value_type is int:
            # Compared as integers: str() of an int with thousands of digits raises in Python 3.11+.
            return str(value) if value in self._int_keys else None
        return value if isinstance(value, str) and value in self.states else None

    @functools.cached_property
    def _int_keys(self) -> frozenset[int]:
        return frozenset(int(k) for k in self.states)

    def status_of(self, value: Any) -> ExecutionStatus:
        """Map one vendor value; anything not exactly in the table is ``UNKNOWN``."""
        key = self.exact_key(value)
        return ExecutionStatus.UNKNOWN if key is None else self.states[key]

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
        key = self.exact_key(value)
        if key is None:
            # UNKNOWN is never success, and not an end either: the wait goes on (and logs it once).
            return Verdict.WAITING
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
