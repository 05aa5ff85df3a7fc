"""The declarative service model: what one vendor API is asked, and how its answer is read.

A service spec is a small object: the identifiers it needs, the state table, and a ``check`` generator that
yields API calls and receives their responses (sans-IO), so one spec drives both the async trigger and the
sync poke path. Errors are thrown back into the generator, which lets a spec treat a vendor's 404 as data
(Huawei DWS) while every other spec simply lets it propagate.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_provider_cloudflows.status import ExecutionStatus, StateTable, Verdict, show
from airflow_provider_cloudflows.transport.decoding import parse_embedded_json, text_field
from airflow_provider_cloudflows.transport.endpoints import check_path_segment
from airflow_provider_cloudflows.transport.messages import ApiResponse

__all__ = [
    "BatchCheck",
    "Check",
    "CheckContext",
    "Listing",
    "ServiceSpec",
    "Snapshot",
    "fraction",
    "integer",
    "mapping",
    "number",
    "objects",
    "parse_embedded_json",
    "require_text",
    "text",
    "text_field",
]


@dataclass(frozen=True)
class Snapshot:
    """One observation of an execution, normalized."""

    vendor_status: Any
    status: ExecutionStatus
    request_id: str | None = None
    progress: float | None = None
    reason: str | None = None
    # JSON-safe vendor fields worth returning to the DAG (they become part of the XCom).
    details: Mapping[str, Any] = field(default_factory=dict)
    # Things whose changes are worth a log line (stage states, instance counters), never logged per poll.
    markers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckContext:
    """What a check may need besides the identifiers."""

    verdict: Callable[[Any], Verdict]
    # Long-polling services may hold the request server-side up to this many seconds (0 = answer now).
    wait_seconds: float = 0.0
    options: Mapping[str, Any] = field(default_factory=dict)
    # JSON-safe facts a spec carries from one check to the next within one wait (e.g. "the action was seen
    # running"). The sensor hands it to the trigger in the kwargs, so it survives the hand-over.
    memory: dict[str, Any] = field(default_factory=dict)


Check = Generator[Any, ApiResponse, Snapshot]
# A read of many executions in one call: a snapshot per execution (by its id) the answer proves something
# about; an execution the answer leaves out, repeats or shows of the wrong type has none.
BatchCheck = Generator[Any, ApiResponse, Mapping[str, Snapshot]]


class ServiceSpec(abc.ABC):
    """One vendor API that reports the status of a long-running execution."""

    name: ClassVar[str]
    vendor: ClassVar[str]
    title: ClassVar[str]
    table: ClassVar[StateTable]
    identifiers: ClassVar[tuple[str, ...]]
    supports_long_polling: ClassVar[bool] = False
    # Waits of one group (``batch_group``) the API reads in one call, at most this many; 0: one per call.
    batch_size: ClassVar[int] = 0
    # A group is read in batches while a process runs at least ``batch_crowd`` waits of it and at least
    # ``batch_account_crowd`` waits of this spec on its account and region.
    batch_crowd: ClassVar[int] = 2
    batch_account_crowd: ClassVar[int] = 0
    # The list call answers every execution of the group, asked or not (a cluster list, a flow's running
    # executions): its answer then serves any wait of the group for a while, not only those it was sent for.
    batch_lists_group: ClassVar[bool] = False

    @abc.abstractmethod
    def normalize(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """Validate rendered identifiers, returning their canonical JSON-safe form.

        Raises ``ValueError`` naming the offending parameter.
        """

    @abc.abstractmethod
    def check(self, ids: Mapping[str, Any], ctx: CheckContext) -> Check:
        """Yield the API calls that observe the execution once; return the snapshot."""

    def batch_group(self, ids: Mapping[str, Any]) -> str:
        """Which waits one list call can cover (e.g. the job of task waits); all of an account by default."""
        return ""

    def batch_ready(self, memory: Mapping[str, Any]) -> bool:
        """Whether a list answer may stand for this wait's next poll, given what the wait remembers."""
        return True

    def batch_item(self, ids: Mapping[str, Any]) -> str:
        """The execution's id in a list answer (specs with a ``batch_size``)."""
        raise NotImplementedError(f"{self.name} has no batch read")

    def read_many(self, group: str, items: Sequence[str]) -> BatchCheck:
        """Yield the one call reading ``items`` of ``group``; return a snapshot per item it proves something
        about, read as strictly as a single answer (specs with a ``batch_size``)."""
        raise NotImplementedError(f"{self.name} has no batch read")

    def changes(self, previous: Snapshot | None, current: Snapshot) -> list[str]:
        """Log lines for what changed since the previous observation (status and progress by default)."""
        lines: list[str] = []
        if previous is None or previous.vendor_status != current.vendor_status:
            key = self.table.exact_key(current.vendor_status)
            meaning = self.table.descriptions.get(key) if key is not None else None
            status = f"{current.status.value}: {meaning}" if meaning else current.status.value
            lines.append(f"{self.table.vendor_field} is now {show(current.vendor_status)} ({status})")
        if current.progress is not None and (previous is None or previous.progress != current.progress):
            lines.append(f"progress {current.progress:.0%}")
        return lines

    def warnings(self, snapshot: Snapshot) -> list[str]:
        """Things worth a WARNING line about an observation (none by default)."""
        return []

    def subject(self, ids: Mapping[str, Any]) -> str:
        """A human name of the awaited execution for messages."""
        return f"{self.title} " + ", ".join(f"{k}={v}" for k, v in ids.items() if v is not None)


class Listing:
    """The items of a list answer (one page or several) that name an asked execution exactly once.

    A list proves something about an execution only through an item naming it in ``field`` (a string, one of
    ``wanted``, or any with ``wanted`` None); two items naming it prove nothing, nor does an item of another
    type.
    """

    def __init__(self, wanted: Iterable[str] | None, field: str) -> None:
        self.wanted = None if wanted is None else set(wanted)
        self.field = field
        self._seen: dict[str, Mapping[str, Any] | None] = {}

    def add(self, items: Any) -> None:
        """The items of one page (any JSON value: only a list of objects has items)."""
        for item in objects(items):
            key = item.get(self.field)
            if isinstance(key, str) and (self.wanted is None or key in self.wanted):
                self._seen[key] = None if key in self._seen else item

    def complete(self) -> bool:
        """Whether every asked execution was named (further pages can only repeat or add others)."""
        return self.wanted is not None and self.wanted <= self._seen.keys()

    def once(self) -> dict[str, Mapping[str, Any]]:
        """Each execution named exactly once, with its item."""
        return {key: item for key, item in self._seen.items() if item is not None}


def require_text(
    ids: Mapping[str, Any], name: str, *, optional: bool = False, path_segment: bool = False
) -> str | None:
    """A non-empty string identifier, or a ValueError naming it.

    ``path_segment``: the value goes into a URL path (DWS), where ``/``, ``..``, ``?``, ``#``, ``%`` or a
    backslash would address another resource than the one named.
    """
    value = ids.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        raise ValueError(f"{name} is required and must be a non-empty string")
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text.isprintable():
        raise ValueError(f"{name} contains control characters (line breaks, tabs...)")
    if path_segment:
        check_path_segment(name, text)
    return text


# --- defensive readers of vendor answers -------------------------------------------------------------------
# An answer has passed strict JSON decoding (no NaN, no huge integers, bounded nesting), so every value is
# JSON-safe; its *shape* is still whatever the network sent. Readers take fields through these getters: a
# field of the wrong type reads as absent, never as an exception. The state field is not read through them:
# the state table matches it exactly (anything else is UNKNOWN), and the fields naming the execution are
# checked by the transport (``check_echo``).


def objects(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list field; a missing, null or non-list field, and non-object items, read as none."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def mapping(value: Any) -> Mapping[str, Any]:
    """An object field, or an empty one when the field is missing or of another type."""
    return value if isinstance(value, Mapping) else {}


def integer(value: Any) -> int | None:
    """An integer field (not a boolean, not a float), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def number(value: Any) -> float | None:
    """A numeric field (int or float, not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def fraction(value: Any) -> float | None:
    """A progress fraction in [0, 1], else None (a progress of 7 or -1 says nothing)."""
    result = number(value)
    return result if result is not None and 0.0 <= result <= 1.0 else None


def text(value: Any, limit: int = 500) -> str | None:
    """A string field (bounded), else None: never the ``str()`` of a list or an object."""
    return value[:limit] if isinstance(value, str) else None
