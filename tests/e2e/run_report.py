"""What the run reports beside the test results: the phases' timings and the notes of what it had to work around.

Both are observations, not checks: a slow step on a busy machine is reported, never failed. They are printed
after pytest's summary, whether or not the test that took them passed (its captured output is shown only on a
failure).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class RunReport:
    """Named durations and notes, in the order they were taken."""

    started: float = field(default_factory=time.monotonic)
    timings: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def timing(self, name: str, seconds: float) -> None:
        """Record one duration and print it (visible with ``-s``)."""
        self.timings.append((name, seconds))
        print(f"TIME {name}: {seconds:.1f}s", flush=True)

    def note(self, message: str) -> None:
        """Record a note (a re-run, a workaround) and print it."""
        self.notes.append(message)
        print(f"NOTE {message}", flush=True)

    def lines(self) -> list[str]:
        """The notes, every duration, then the total since the run started."""
        rows = [f"NOTE {note}" for note in self.notes]
        rows += [f"{seconds:7.1f}s  {name}" for name, seconds in self.timings]
        return [*rows, f"{time.monotonic() - self.started:7.1f}s  total"]
