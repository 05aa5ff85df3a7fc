"""N Batch job waits on one account against the documented quotas: the provider beside the bare loop.

Target: N Tencent Batch job waits of one account, poll interval ``--interval``; the emulator enforces the
documented quotas of ``limits.py`` per account (DescribeJobs and DescribeJob 2/s, DescribeTask 3/s).

- provider: N ``tencent_batch_job`` waits on account A, each a ``CloudExecutionTrigger`` rebuilt from its
  serialized kwargs and driven as Airflow's ``TriggerRunner`` drives it (one task per trigger,
  ``async for event in trigger.run()``), all in this process's event loop. The trigger's Batcher reads up
  to 100 jobs per ``DescribeJobs``; a failed job is read again with ``DescribeJob`` and ``DescribeTask``.
- baseline: the bare one-request-per-wait loop (as in ``bench_triggers.py``: one shared
  ``httpx.AsyncClient``, TC3-signed with the provider's signer, ``response.json()``), one ``DescribeJob``
  per wait per interval, the requests spaced exactly at the documented 2/s in first-come order. It runs in
  a child process (so the provider's CPU figures are its own) on account B, whose quota is its own.

Both wait on the same N jobs, scripted to end at times spread uniformly over ``--spread`` seconds after the
waits start (``--fail`` of them FAILED). Detection latency = when the wait saw the end (the event was
yielded; the bare loop's answer arrived) - the job's scripted end. The run lasts until every provider wait
has yielded its event; the baseline is stopped then, and for the ends it had not seen the latency is at
least the run's end - the scripted end.

Setup: the jobs are submitted with ``SubmitJob`` while its 7/s quota is lifted through the control API
(then restored), and their tasks are re-scripted through the ``batch_task`` builder with the chosen end
times. The emulator runs in its own process (``python -m airflow_provider_cloudflows.emulator --port 0``).

Run: ``.venv/bin/python benchmarks/bench_quota.py [--jobs 10000] [--interval 30] [--spread 180]`` (about 4
minutes at the defaults on 2 cores, setup 25 s of it; ``--jobs 500 --spread 30 --interval 5`` takes ~40 s).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import pathlib
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cloudflows-bench-"))
# Every transition is logged at INFO: ten thousand waits' worth say nothing here (warnings still show).
os.environ.setdefault("AIRFLOW__LOGGING__NAMESPACE_LEVELS", "airflow_provider_cloudflows=warning")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

VERSION = "2017-03-12"
REGION = "ap-guangzhou"
CONN_ID = "tencentcloud_default"
CONN_ENV = "AIRFLOW_CONN_TENCENTCLOUD_DEFAULT"
ACCOUNT_B = "bench-baseline"
KEY_B = ("AKIDBASELINEACCOUNTB0000000000000", "baseline-account-b-secret")
FINAL = ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")
HEADER = "| N Batch job waits, one account | provider (DescribeJobs batches) | baseline (bare DescribeJob per wait) |"


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


async def _baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """The bare loop: one DescribeJob per wait per interval, requests spaced at ``rate`` in FIFO order."""
    import httpx

    from airflow_provider_cloudflows.credentials import Credentials

    loop = asyncio.get_running_loop()
    creds = Credentials(*spec["key"])
    url, host = spec["url"], spec["url"].split("://", 1)[1]
    jobs: list[str] = spec["jobs"]
    interval, gap = float(spec["interval"]), 1.0 / float(spec["rate"])
    detected: list[float | None] = [None] * len(jobs)
    counts: Counter[str] = Counter()
    next_slot = [float(spec["t0"])]
    client = httpx.AsyncClient(timeout=30.0)

    async def wait(index: int) -> None:
        job_id = jobs[index]
        while True:
            # Reserve the next free slot of the account's 2/s: first come, first served.
            slot = next_slot[0] = max(loop.time(), next_slot[0])
            next_slot[0] += gap
            await asyncio.sleep(slot - loop.time())
            started = loop.time()
            body, headers = _signed(creds, host, "DescribeJob", {"JobId": job_id})
            counts["requests"] += 1
            reply = (await client.post(url, content=body, headers=headers)).json()["Response"]
            error = (reply.get("Error") or {}).get("Code")
            if error is not None:
                counts["throttled" if error.startswith("RequestLimitExceeded") else "errors"] += 1
            elif reply.get("JobState") in FINAL:
                detected[index] = loop.time()
                return
            await asyncio.sleep(interval * random.uniform(0.9, 1.1) - (loop.time() - started))

    await asyncio.sleep(max(0.0, spec["t0"] - loop.time()))
    tasks = [asyncio.create_task(wait(i)) for i in range(len(jobs))]
    await loop.run_in_executor(None, sys.stdin.readline)  # the parent says stop
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.aclose()
    return {"detected": detected, "counts": dict(counts)}


def _baseline_main() -> int:
    spec = json.loads(sys.stdin.readline())
    print("ready", flush=True)
    result = asyncio.run(_baseline(spec))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


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


def _script_ends(emulator: Any, ids: list[str], ends: list[float], fails: list[bool]) -> tuple[float, list[float]]:
    """Re-script each job's task to run and end ``ends[i]`` seconds after t0; t0 (monotonic) leaves room for
    the registration itself. Returns t0 and the monotonic time each job ends."""
    chunk = 100
    scripted = [0.0] * len(ids)

    def post(start: int, t0: float) -> None:
        sent = time.monotonic()
        items = []
        for i in range(start, min(start + chunk, len(ids))):
            # The clock starts when the emulator registers the task, at or just after `sent`: the latency
            # measured from `sent + at` overstates the true one by at most this request's round trip.
            at = max(0.01, t0 + ends[i] - sent)
            scripted[i] = sent + at
            end = [at, "FAILED" if fails[i] else "SUCCEED"]
            items.append(
                {
                    "builder": "batch_task",
                    "args": {
                        "job_id": ids[i],
                        "task_name": "A",
                        "phases": [[0, "RUNNING"], end],
                        "start_immediately": True,
                    },
                }
            )
        emulator.control("executions", items)

    first = time.monotonic()
    post(0, first + 3600.0)  # timed, then scripted again below
    took = time.monotonic() - first
    t0 = time.monotonic() + took * (len(ids) / chunk) * 1.5 + 1.0
    for start in range(0, len(ids), chunk):
        post(start, t0)
    return t0, scripted


# ---------------------------------------------------------------------------------------------- provider


async def _provider(
    ids: list[str], t0: float, interval: float, budget: float
) -> tuple[list[tuple[float, dict[str, Any]]], dict[str, float]]:
    """The N waits in this loop from t0; per wait (when its event was yielded, the event)."""
    from scale_triggerer import pct

    from airflow_provider_cloudflows.triggers.execution import CloudExecutionTrigger

    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, t0 - loop.time()))
    gc.collect()
    stats = {"rss0": _rss_kb(), "rss_max": 0.0, "cpu0": _cpu(), "lag_p99": 0.0}
    stop = asyncio.Event()
    lags: list[float] = []

    async def monitor() -> None:
        while not stop.is_set():
            expected = loop.time() + 0.1
            await asyncio.sleep(0.1)
            lags.append(max(0.0, loop.time() - expected))
            if len(lags) % 10 == 0:
                stats["rss_max"] = max(stats["rss_max"], _rss_kb())

    async def one(job_id: str) -> tuple[float, dict[str, Any]]:
        original = CloudExecutionTrigger(
            service="tencent_batch_job",
            identifiers={"job_id": job_id},
            conn_id=CONN_ID,
            deadline=time.time() + budget,
            timeout=budget,
            poll_interval=interval,
        )
        _, kwargs = original.serialize()
        # Rebuilt from the JSON the database would hold.
        trigger = CloudExecutionTrigger(**json.loads(json.dumps(kwargs)))
        events = [(loop.time(), event.payload) async for event in trigger.run()]
        if len(events) != 1:
            return loop.time(), {"outcome": "error", "message": f"{len(events)} events"}
        return events[0]

    watcher = asyncio.create_task(monitor())
    results = await asyncio.gather(*(one(job_id) for job_id in ids))
    stats["cpu"] = _cpu() - stats["cpu0"]
    stats["rss_max"] = max(stats["rss_max"], _rss_kb())
    stop.set()
    await watcher
    stats["lag_p99"] = pct(lags, 0.99)
    return list(results), stats


# ------------------------------------------------------------------------------------------------- report


def _latencies(values: list[float]) -> str:
    from scale_triggerer import pct

    if not values:
        return "-"
    return f"{pct(values, 0.5):.1f} / {pct(values, 0.99):.1f} / {max(values):.1f}"


def _quota(api: str) -> str:
    from airflow_provider_cloudflows.limits import quota

    found = quota("tencentcloud", api)
    if found is None:
        return "unlimited"
    if found.burst is None:
        return f"{found.rate:g}/s"
    return f"bucket {found.burst} refilled at {found.rate:g}/s"


def _share(part: int, whole: int) -> str:
    return f"{part} ({100.0 * part / whole:.2f}%)" if whole else f"{part}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=30.0, help="poll interval of every wait (s)")
    parser.add_argument("--spread", type=float, default=180.0, help="job ends spread uniformly over this (s)")
    parser.add_argument("--fail", type=float, default=0.01, help="share of the jobs that fail")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_worker:
        return _baseline_main()

    # Imported here, not at the top: the baseline process needs neither Airflow nor the trigger.
    from scale_triggerer import Emulator, is_throttled, pct

    from airflow_provider_cloudflows.credentials import Credentials
    from airflow_provider_cloudflows.limits import quota

    rng = random.Random(args.seed)
    ends = [rng.uniform(0.0, args.spread) for _ in range(args.jobs)]
    fails = [rng.random() < args.fail for _ in range(args.jobs)]
    child = subprocess.Popen(
        [sys.executable, __file__, "--baseline-worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    emulator = Emulator()
    try:
        os.environ.update(emulator.env)
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
        t0, scripted = _script_ends(emulator, ids, ends, fails)
        setup.append(time.monotonic())
        describe_quota = quota("tencentcloud", "batch:DescribeJob")
        assert describe_quota is not None
        spec = {
            "url": emulator.url,
            "key": KEY_B,
            "jobs": ids,
            "t0": t0,
            "interval": args.interval,
            "rate": describe_quota.rate,
        }
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(json.dumps(spec) + "\n")
        child.stdin.flush()
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the baseline process did not start")
        t0_wall = time.time() + (t0 - time.monotonic())
        budget = args.spread + max(10 * args.interval, 120.0) + args.jobs / 100.0
        results, stats = asyncio.run(_provider(ids, t0, args.interval, budget))
        run_end = time.monotonic()
        child.stdin.write("stop\n")
        child.stdin.flush()
        line = child.stdout.readline()
        if not line.startswith("RESULT "):
            raise RuntimeError(f"the baseline process answered {line!r}")
        bare = json.loads(line[len("RESULT ") :])
        child.wait(timeout=30)
        records = [
            r
            for action in ("DescribeJobs", "DescribeJob", "DescribeTask")
            for r in emulator.control(f"requests?service=batch&action={action}")["requests"]
            if r["time"] >= t0_wall - 1.0
        ]
    finally:
        if child.poll() is None:
            child.kill()
        emulator.stop()

    from airflow_provider_cloudflows.triggers.batching import BATCHER
    from airflow_provider_cloudflows.triggers.execution import COALESCER

    wall = run_end - t0
    expected = ["failure" if failed else "success" for failed in fails]
    outcomes = Counter(event.get("outcome") for _, event in results)
    wrong = sum(1 for (_, event), want in zip(results, expected, strict=True) if event.get("outcome") != want)
    provider_lat = [
        at - end
        for (at, event), end, want in zip(results, scripted, expected, strict=True)
        if event.get("outcome") == want
    ]
    bare_lat = [at - end for at, end in zip(bare["detected"], scripted, strict=True) if at is not None]
    bare_bound = [run_end - end for at, end in zip(bare["detected"], scripted, strict=True) if at is None]
    by_side: dict[str, Counter[str]] = {conn["login"]: Counter(), KEY_B[0]: Counter()}
    throttled: dict[str, int] = {conn["login"]: 0, KEY_B[0]: 0}
    for r in records:
        if r["key_id"] in by_side:
            by_side[r["key_id"]][r["action"]] += 1
            throttled[r["key_id"]] += is_throttled(r)
    mine, theirs = by_side[conn["login"]], by_side[KEY_B[0]]
    sent, sent_bare = sum(mine.values()), sum(theirs.values())
    n = args.jobs
    # Job states read: items of the list calls, plus the waits' own checks (failures, a lone wait).
    reads = BATCHER.items + COALESCER.requests
    # Among all N waits, the bare loop's p99 is at least the p99 of (seen latency, or its lower bound).
    bare_p99_floor = pct(bare_lat + bare_bound, 0.99)
    provider_p99 = pct(provider_lat, 0.99)

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
    print(HEADER)
    print("|---|---|---|")
    rows = [
        ("account", "A", "B (its own quota)"),
        (
            "ends detected within the run",
            f"{len(provider_lat)}/{n} ({100.0 * len(provider_lat) / n:.1f}%)",
            f"{len(bare_lat)}/{n} ({100.0 * len(bare_lat) / n:.1f}%)",
        ),
        ("latency of detected ends p50 / p99 / max (s)", _latencies(provider_lat), _latencies(bare_lat)),
        ("lower bound for ends not detected p50 / p99 / max (s)", "-", _latencies(bare_bound)),
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
    ]
    for name, left, right in rows:
        print(f"| {name} | {left} | {right} |")
    print()
    ratio = bare_p99_floor / provider_p99 if provider_p99 > 0 else float("inf")
    print(
        f"ratio: baseline p99 >= {bare_p99_floor:.1f}s (seen latencies and lower bounds of all {n} waits) / "
        f"provider p99 {provider_p99:.1f}s = {ratio:.1f}x or more; ends detected "
        f"{len(provider_lat) / n:.1%} vs {len(bare_lat) / n:.1%}"
    )
    print(
        f"provider: {BATCHER.calls} DescribeJobs calls covered {BATCHER.items} job reads "
        f"({BATCHER.items / max(BATCHER.calls, 1):.1f} per call); CPU {stats['cpu']:.1f}s over the run; "
        f"loop lag p99 {1000 * stats['lag_p99']:.0f} ms; "
        f"outcomes {dict(outcomes)}; wrong outcomes {wrong}"
    )
    answered = bare["counts"].get("requests", 0) - bare["counts"].get("throttled", 0)
    print(
        f"baseline: {bare['counts'].get('requests', 0)} DescribeJob sent, "
        f"{bare['counts'].get('throttled', 0)} throttled, {bare['counts'].get('errors', 0)} other errors; "
        f"at the {answered / wall:.2f} answers/s it got, it reads each of the {n} waits once every "
        f"{n * wall / max(answered, 1):.0f}s"
    )
    ok = wrong == 0 and len(provider_lat) == n
    print("ALL PROVIDER WAITS ENDED CORRECTLY" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
