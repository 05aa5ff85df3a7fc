"""The stack's processes, read and signalled through Linux ``/proc``: each component leads its own process group.

A process group per component lets a test kill or stall a component with everything it forked (a triggerer's
supervisor and its child) and lets teardown stop whatever is left, without touching any other process.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Component:
    """One started process (leader of its own process group) and the file holding its stdout and stderr."""

    name: str
    popen: subprocess.Popen[bytes]
    output: Path
    started: float

    @property
    def pgid(self) -> int:
        """The process group id (the leader's pid: every component starts a new session)."""
        return self.popen.pid


@dataclass
class Processes:
    """The processes started for the stack, each in a new process group, its output in ``workdir/process-output``."""

    workdir: Path
    env: dict[str, str]
    components: list[Component] = field(default_factory=list)

    def start(self, name: str, args: list[str]) -> Component:
        """Start ``args`` in a new process group with the stack's environment; output to a file."""
        out_dir = self.workdir / "process-output"
        out_dir.mkdir(exist_ok=True)
        index = sum(1 for c in self.components if c.name == name)
        output = out_dir / (f"{name}.log" if index == 0 else f"{name}.{index}.log")
        with output.open("wb") as sink:
            popen = subprocess.Popen(
                args,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        component = Component(name, popen, output, time.time())
        self.components.append(component)
        return component

    def component(self, name: str) -> Component:
        """The most recently started component of that name."""
        return [c for c in self.components if c.name == name][-1]

    def alive(self, component: Component) -> bool:
        """Whether any process of the component's group still runs (zombies awaiting their reaper do not)."""
        return any(pgrp == component.pgid and state != "Z" for pgrp, state in process_table().values())

    def kill(self, component: Component, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the component's whole process group and reap the leader."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(component.pgid, sig)
        if sig == signal.SIGKILL:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.popen.wait(timeout=10)

    def stop(self, component: Component, grace: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after ``grace`` seconds."""
        if not self.alive(component):
            component.popen.poll()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(component.pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.alive(component):
            component.popen.poll()
            time.sleep(0.2)
        if self.alive(component):
            self.kill(component)
        component.popen.poll()

    def stop_all(self) -> None:
        """Stop every component still running, newest first (idempotent)."""
        for component in reversed(self.components):
            self.stop(component)

    def tree_pids(self, component: Component) -> set[int]:
        """The component's live processes: its process group and any descendant in a group of its own."""
        return {
            pid
            for pid, (pgrp, state) in process_table().items()
            if state != "Z" and (pgrp == component.pgid or component.pgid in ancestors(pid))
        }

    def group_pids(self) -> set[int]:
        """The pids currently in any of the stack's process groups."""
        groups = {c.pgid for c in self.components}
        return {pid for pid, (pgrp, _state) in process_table().items() if pgrp in groups}


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (process group id, state letter) of every process (Linux /proc)."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesized command name: state, ppid, pgrp, ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2:
            table[int(entry.name)] = (int(fields[2]), fields[0])
    return table


def sqlite_writers(db: Path) -> set[int]:
    """Pids holding an exclusive POSIX lock on the SQLite DB ``db`` or its WAL index (Linux /proc/locks).

    In WAL mode every open connection keeps shared locks; an exclusive one is a write or checkpoint under way,
    which blocks every other writer while it lasts."""
    files = {db, db.with_name(db.name + "-shm")}
    devices = set()
    for path in files:
        with contextlib.suppress(OSError):
            st = path.stat()
            devices.add(f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}")
    holders = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()  # id: POSIX ADVISORY WRITE pid maj:min:inode start end ("->" marks a waiter)
            if len(fields) >= 6 and fields[1] == "POSIX" and fields[3] == "WRITE" and fields[5] in devices:
                holders.add(int(fields[4]))
    return holders


def ancestors(pid: int) -> list[int]:
    """The parent, grandparent... pids of ``pid`` (Linux /proc); empty when it is gone."""
    found: list[int] = []
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rfind(")") + 2 :].split()[1])
        found.append(pid)
    return found


def listening_sockets(pids: set[int]) -> list[tuple[int, str, int]]:
    """``(pid, address, port)`` of every TCP socket in LISTEN state owned by ``pids`` (Linux /proc)."""
    listening: dict[str, tuple[str, int]] = {}
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != "0A":  # 0A: LISTEN
                continue
            hex_address, hex_port = parts[1].split(":")
            listening[parts[9]] = (_decode_address(hex_address[:width]), int(hex_port, 16))
    found: list[tuple[int, str, int]] = []
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    match = re.fullmatch(r"socket:\[(\d+)\]", target)
                    if match and match.group(1) in listening:
                        found.append((pid, *listening[match.group(1)]))
    return found


def connected_to(pid: int, port: int) -> bool:
    """Whether ``pid`` holds an established TCP connection to ``port`` on the local host (Linux /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if len(parts) >= 10 and parts[3] == "01" and int(parts[2].split(":")[1], 16) == port:  # 01: ESTABLISHED
                    inodes.add(parts[9])
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
                if match and match.group(1) in inodes:
                    return True
    return False


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 or an IPv4-mapped loopback."""
    return address.startswith("127.") or address == "::1" or address.startswith("::ffff:127.")
