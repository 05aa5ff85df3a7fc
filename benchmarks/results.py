"""Benchmark results live in one generated file, written by the benchmarks themselves.

A figure copied by hand into a README goes stale the day the code changes, and nobody can tell which run
it came from. So a benchmark run with ``--write`` replaces its own section of ``docs/benchmarks.md``
(between ``<!-- BEGIN name -->`` and ``<!-- END name -->``) with the command that ran, the date, the
machine and what the run printed, which holds the provider's figures beside its baseline's. Nothing else
in the file is touched; a section not there yet is appended.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import pathlib
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = ROOT / "docs" / "benchmarks.md"

HEADER = """\
# Benchmark results

Generated file: each section below is written by its benchmark, run with `--write`
(`benchmarks/results.py`). Do not edit between the markers; run the benchmark again instead. Each section
says the command, the date, the commit and the machine it ran on; a `--quick` (smoke) run is labelled as
such by its command and is not a measurement of the targets.
"""


def add_write_option(parser: argparse.ArgumentParser) -> None:
    """``--write`` (to ``docs/benchmarks.md``) or ``--write PATH``."""
    parser.add_argument(
        "--write",
        nargs="?",
        const=str(RESULTS),
        metavar="PATH",
        help=f"write this run's output into its section of the results file (default {RESULTS.relative_to(ROOT)})",
    )


def command_line(script: str, argv: list[str]) -> str:
    """The command as a reader would type it from the repository root, without ``--write``."""
    args: list[str] = []
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--write":
            # "--write PATH": the path is the next argument unless it is an option.
            skip = index + 1 < len(argv) and not argv[index + 1].startswith("-")
            continue
        if arg.startswith("--write="):
            continue
        args.append(arg)
    return shlex.join(["python", f"benchmarks/{pathlib.Path(script).name}", *args])


def machine() -> str:
    """One line: the CPU, the cores, the load when the run ended, the OS and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = "load n/a"
    if hasattr(os, "getloadavg"):
        load = "load " + " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {load}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def commit() -> str:
    """The short commit of the checkout, with ``+changes`` when the tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT, capture_output=True).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" +changes" if dirty else "")


def render_section(name: str, command: str, output: str, when: datetime.datetime) -> str:
    """The section's text, markers included."""
    fence = "```"
    while fence in output:
        fence += "`"
    return (
        f"<!-- BEGIN {name} -->\n"
        f"## {name}\n\n"
        f"- command: `{command}`\n"
        f"- date: {when.strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"- commit: {commit()}\n"
        f"- machine: {machine()}\n\n"
        f"{fence}\n{output.rstrip()}\n{fence}\n"
        f"<!-- END {name} -->\n"
    )


def write_section(path: pathlib.Path, name: str, command: str, output: str) -> None:
    """Replace (or append) the section ``name`` of ``path`` with this run's output."""
    section = render_section(name, command, output, datetime.datetime.now(datetime.timezone.utc))
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(rf"<!-- BEGIN {re.escape(name)} -->\n.*?<!-- END {re.escape(name)} -->\n", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


class _Tee(io.TextIOBase):
    """Writes go to the stream it wraps; those made by the benchmarks' own code also go into a buffer.

    Loggers write to ``sys.stdout`` too (Airflow's structlog resolves it when first used), but a log line is
    not a result: only a write whose caller is a file in one of ``sources`` (a ``print`` there) is kept.
    """

    def __init__(self, target: TextIO, sources: tuple[pathlib.Path, ...]) -> None:
        self.target = target
        self.sources = sources
        self.buffer_ = io.StringIO()

    def write(self, text: str) -> int:
        caller = pathlib.Path(sys._getframe(1).f_code.co_filename).resolve().parent
        if caller in self.sources:
            self.buffer_.write(text)
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def fileno(self) -> int:
        return self.target.fileno()


@contextmanager
def recording(
    name: str, write: str | None, argv: list[str] | None = None, sources: tuple[pathlib.Path, ...] = (HERE,)
) -> Iterator[None]:
    """Print as usual; with ``write`` set, put what code in ``sources`` printed into section ``name`` of that file.

    Nothing is written when the block raises: a run that crashed has no result to show.
    """
    if write is None:
        yield
        return
    tee = _Tee(sys.stdout, tuple(source.resolve() for source in sources))
    sys.stdout = tee
    try:
        yield
    finally:
        sys.stdout = tee.target
    command = command_line(sys.argv[0], sys.argv[1:] if argv is None else argv)
    write_section(pathlib.Path(write), name, command, tee.buffer_.getvalue())
    print(f"(written to section {name} of {write})")
