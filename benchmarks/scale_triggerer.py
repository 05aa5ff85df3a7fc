"""N deferred waits over the five services in ONE triggerer loop, against the emulator in another process.

The target: 1,000 deferred sensors over the five services (a fifth of them CloudFlow) all end correctly in
one triggerer. Each wait is a ``CloudExecutionTrigger`` rebuilt from its serialized kwargs (as
the triggerer does from the database) and driven as Airflow's ``TriggerRunner`` drives it: one task per
trigger running ``async for event in trigger.run()``; a DWS wait that hands its memory back is deferred
again with it, as the sensor does. The emulator runs as ``python -m cloudflows_emulator
--port 0`` and is scripted through its control API; its documented rate limits stay on (Batch DescribeTask
3/s, EMR/CynosDB 20/s), so the Batch share and the intervals are sized to what those rates allow.

Checks: every wait ends with its scripted outcome, no error event, no ``PoolTimeout``. Prints counts, wall
time, loop lag p50/p99, requests and throttled answers per service.

Run: ``.venv/bin/python benchmarks/scale_triggerer.py [--waits 1000] [--min-run 60 --max-run 120]``
(about 2.5 minutes at the defaults; ``--waits 50 --min-run 5 --max-run 10`` takes ~25 s); ``--write`` puts the
output into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import pathlib
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cloudflows-bench-"))
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from results import add_write_option, recording

from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger

CONN = {"tencent": "tencentcloud_default", "alibaba": "alibabacloud_default", "huawei": "huaweicloud_default"}


class Emulator:
    """The emulator in its own process (started and stopped by PID), scripted over its control API."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloudflows_emulator", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.url = ""
        self.env: dict[str, str] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "listening on" in line:
                self.url = line.split()[-1]
            elif line.startswith("export AIRFLOW_CONN_"):
                name, _, value = line[len("export ") :].strip().partition("=")
                self.env[name] = shlex.split(value)[0]
            elif line.startswith("airflow connections add"):
                break

    def control(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + "/_emulator/" + path, data=data, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.loads(reply.read())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def plan(waits: int, min_run: float, max_run: float, seed: int) -> list[dict[str, Any]]:
    """The waits: a fifth CloudFlow (long polls), Batch as many as 3/s allows, the rest EMR/CynosDB/DWS."""
    rng = random.Random(seed)
    cloudflow = waits // 5
    batch_interval = 10.0
    # Batch DescribeTask is documented at 3/s per account: at most ~2.7/s leave this process.
    batch = max(1, min(waits // 40, int(2.5 * batch_interval)))
    rest = waits - cloudflow - batch
    emr = cynosdb = rest // 3
    dws = rest - emr - cynosdb
    # EMR and CynosDB are documented at 20/s: an interval that keeps each under ~17/s.
    short_interval = max(5.0, round(emr / 17.0, 1))
    items: list[dict[str, Any]] = []
    for service, count in (
        ("cloudflow", cloudflow),
        ("batch", batch),
        ("emr", emr),
        ("cynosdb", cynosdb),
        ("dws", dws),
    ):
        for i in range(count):
            run = rng.uniform(min_run, max_run)
            ok = rng.random() >= 0.15
            items.append({"service": service, "index": i, "run": run, "ok": ok})
    for item in items:
        i, run, ok = item["index"], item["run"], item["ok"]
        if item["service"] == "cloudflow":
            item["builder"] = {
                "builder": "cloudflow_execution",
                "args": {
                    "flow_name": "scale_flow",
                    "execution_name": f"run_{i:05d}",
                    "phases": [[0, "Running"], [run, "Succeeded" if ok else "Failed"]],
                },
            }
            item["trigger"] = (
                "alibaba_cloudflow_execution",
                {"flow_name": "scale_flow", "execution_name": f"run_{i:05d}"},
            )
            item["interval"] = 10.0
        elif item["service"] == "batch":
            job = f"job-{i:08d}"
            item["builder"] = {
                "builder": "batch_task",
                "args": {
                    "job_id": job,
                    "task_name": "A",
                    "phases": [[0, "RUNNING"], [run, "SUCCEED" if ok else "FAILED"]],
                },
            }
            item["trigger"] = ("tencent_batch_task", {"job_id": job, "task_name": "A"})
            item["interval"] = batch_interval
        elif item["service"] == "emr":
            instance = f"emr-{i:08d}"
            end = [run, 2] if ok else [run, -1, None, "scale-out failed (emulated)"]
            item["builder"] = {
                "builder": "emr_flow",
                "args": {"instance_id": instance, "flow_id": i, "phases": [[0, 1, 0], end]},
            }
            item["trigger"] = ("tencent_emr_flow", {"instance_id": instance, "flow_id": i})
            item["interval"] = short_interval
        elif item["service"] == "cynosdb":
            item["builder"] = {
                "builder": "cynosdb_flow",
                "args": {"flow_id": i, "statuses": [[0, 2], [run, 0 if ok else 1]]},
            }
            item["trigger"] = ("tencent_cynosdb_flow", {"flow_id": i})
            item["interval"] = short_interval
        else:
            cluster = str(uuid.UUID(int=rng.getrandbits(128)))
            item["builder"] = {
                "builder": "dws_task",
                "args": {
                    "cluster_id": cluster,
                    "action_name": "SNAPSHOTTING",
                    "phases": [[0, "RUNNING", 20]],
                    "end": "success" if ok else "failed",
                    "end_at": run,
                },
            }
            item["trigger"] = ("huawei_dws_cluster_task", {"cluster_id": cluster, "action_name": "SNAPSHOTTING"})
            item["interval"] = 10.0
        item["expected"] = "success" if ok else "failure"
    return items


class Counts(logging.Handler):
    """Counts warning lines naming a pool timeout (there must be none)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.pool = 0
        self.warnings = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.warnings += 1
        text = record.getMessage()
        if "PoolTimeout" in text or "no free connection" in text:
            self.pool += 1


async def drive(trigger: CloudExecutionTrigger) -> dict[str, Any]:
    """What TriggerRunner does per trigger; a memory hand-back is deferred again (what the sensor does)."""
    while True:
        events = [event.payload async for event in trigger.run()]
        if len(events) != 1:
            return {"outcome": "error", "message": f"{len(events)} events"}
        event: dict[str, Any] = events[0]
        if event.get("outcome") != "memory":
            return event
        _, kwargs = trigger.serialize()
        kwargs["options"] = {**kwargs["options"], "memory": event["memory"]}
        trigger = CloudExecutionTrigger(**kwargs)


async def lag_monitor(samples: list[float], stop: asyncio.Event, every: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        expected = loop.time() + every
        await asyncio.sleep(every)
        samples.append(max(0.0, loop.time() - expected))


# Throttling answers: Tencent RequestLimitExceeded (HTTP 200), Alibaba Throttling.* and Huawei APIG.0308 (429).
THROTTLE_CODES = ("RequestLimitExceeded", "Throttling", "APIG.0308")


def is_throttled(record: dict[str, Any]) -> bool:
    """Whether the emulator answered this request with a throttling error."""
    error = record.get("error") or ""
    return record.get("status") == 429 or any(code in error for code in THROTTLE_CODES)


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    items: list[dict[str, Any]], ramp: float, max_run: float
) -> tuple[list[dict[str, Any]], list[float], float]:
    lags: list[float] = []
    stop = asyncio.Event()
    monitor = asyncio.create_task(lag_monitor(lags, stop))
    started = time.monotonic()

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        # Deferrals reach a triggerer over time, not in one instant.
        await asyncio.sleep(random.uniform(0, ramp))
        service, identifiers = item["trigger"]
        original = CloudExecutionTrigger(
            service=service,
            identifiers=identifiers,
            conn_id=CONN[service.split("_")[0]],
            deadline=time.time() + max_run + ramp + 240,
            timeout=max_run + ramp + 240,
            poll_interval=item["interval"],
        )
        _, kwargs = original.serialize()
        # Rebuilt from the JSON the database would hold.
        return await drive(CloudExecutionTrigger(**json.loads(json.dumps(kwargs))))

    events = await asyncio.gather(*(one(item) for item in items))
    wall = time.monotonic() - started
    stop.set()
    await monitor
    return list(events), lags, wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--waits", type=int, default=1000)
    parser.add_argument("--min-run", type=float, default=60.0)
    parser.add_argument("--max-run", type=float, default=120.0)
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the waits are deferred")
    parser.add_argument("--seed", type=int, default=7)
    add_write_option(parser)
    args = parser.parse_args(argv)
    with recording("scale_triggerer", args.write, argv):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    items = plan(args.waits, args.min_run, args.max_run, args.seed)
    emulator = Emulator()
    try:
        os.environ.update(emulator.env)
        for chunk in range(0, len(items), 200):
            emulator.control("executions", [item["builder"] for item in items[chunk : chunk + 200]])
        counts = Counts()
        logging.getLogger().addHandler(counts)
        logging.disable(logging.INFO)  # transitions are logged at INFO: a thousand of them say nothing here
        events, lags, wall = asyncio.run(run(items, args.ramp, args.max_run))
        logging.disable(logging.NOTSET)
        records = emulator.control("requests")["requests"]
    finally:
        emulator.stop()
    wrong = [
        (item["service"], item["index"], item["expected"], event.get("outcome"), event.get("message"))
        for item, event in zip(items, events, strict=True)
        if event.get("outcome") != item["expected"]
    ]
    by_service = Counter(item["service"] for item in items)
    outcomes = Counter(f"{item['service']}:{event.get('outcome')}" for item, event in zip(items, events, strict=True))
    requests = Counter(r["service"] for r in records)
    throttled = Counter(r["service"] for r in records if is_throttled(r))
    errors = sum(1 for e in events if e.get("outcome") == "error")
    print(f"{len(items)} waits in one event loop: {dict(by_service)}")
    print(f"  outcomes: {dict(sorted(outcomes.items()))}")
    print(
        f"  wrong outcomes: {len(wrong)}; error events: {errors}; PoolTimeout lines: {counts.pool}; "
        f"warnings: {counts.warnings}"
    )
    print(
        f"  wall time {wall:.1f}s (executions run {args.min_run:.0f}-{args.max_run:.0f}s, "
        f"deferred over {args.ramp:.0f}s)"
    )
    print(
        f"  loop lag p50 {1000 * pct(lags, 0.5):.1f} ms, p99 {1000 * pct(lags, 0.99):.1f} ms, "
        f"max {1000 * max(lags or [0]):.0f} ms"
    )
    print(
        f"  requests {sum(requests.values())} {dict(requests)}; "
        f"throttled answers {sum(throttled.values())} {dict(throttled)}"
    )
    if lags:
        print(f"  (lag samples {len(lags)}, mean {1000 * statistics.fmean(lags):.1f} ms)")
    for detail in wrong[:10]:
        print("  WRONG:", detail)
    ok = not wrong and not errors and not counts.pool
    print("ALL WAITS ENDED CORRECTLY" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
