"""``python -m cloudflows_emulator``: run the emulator in the foreground.

Prints the URL and the ``AIRFLOW_CONN_*`` exports to point Airflow at it, then serves until interrupted.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence

from cloudflows_emulator.cloud import CloudEmulator
from cloudflows_emulator.scenarios import SCENARIOS
from cloudflows_emulator.server import EmulatorServer


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, start the server, print how to use it and block until SIGINT / SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m cloudflows_emulator",
        description="Local emulator of the Tencent Cloud, Alibaba Cloud and Huawei Cloud APIs used by "
        "airflow-provider-cloudflows.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help="preload a set of executions")
    args = parser.parse_args(argv)

    emulator = CloudEmulator()
    if args.scenario:
        SCENARIOS[args.scenario](emulator)
    try:
        server = EmulatorServer(emulator, host=args.host, port=args.port).start()
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    # A plain wait so that SIGTERM (e.g. from a demo script) ends the process as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"cloudflows emulator listening on {server.url}", flush=True)
    if args.scenario:
        print(f"scenario {args.scenario!r} loaded: {len(emulator.executions)} executions", flush=True)
    connections = server.airflow_connections()
    print("# point Airflow at it: either export these in EVERY component's environment", flush=True)
    print("# (api-server, scheduler, dag-processor, triggerer, workers) ...", flush=True)
    for name, value in connections.items():
        print(f"export {name}={shlex.quote(value)}", flush=True)
    print("# ... or store them once in the metadata DB, where every component reads them:", flush=True)
    for name, value in connections.items():
        conn_id = name.removeprefix("AIRFLOW_CONN_").lower()
        print(f"airflow connections add {conn_id} --conn-json {shlex.quote(value)}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
