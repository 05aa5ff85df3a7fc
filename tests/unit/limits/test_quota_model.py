"""The limiter's constants against the quota model (benchmarks/sim_quota.py): the real per-key rate logic and
the emulator's real sliding window, in virtual time, over seeded runs. Deterministic and fast; the wall-clock
version of the same scenario is the quota section of benchmarks/bench_triggers.py."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from types import ModuleType

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sim_quota", BENCHMARKS / "sim_quota.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sim_quota"] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


def test_a_survivor_regains_the_quota_within_two_minutes_of_its_partners_leaving(sim: ModuleType) -> None:
    for scenario in (s for s in sim.SCENARIOS if s.leaves_at is not None):
        summary = sim.summarize(scenario, 20)
        assert summary["recovery_max"] < 120.0, (scenario.name, summary)


def test_a_slower_regrowth_would_leave_the_survivor_below_the_quota(sim: ModuleType) -> None:
    # The model tells the constants apart: it guards REGAIN rather than restating it.
    killed = next(s for s in sim.SCENARIOS if s.leaves_at is not None)
    with sim.constants(REGAIN=240.0):
        summary = sim.summarize(killed, 10)
    assert summary["recovery_p50"] >= 150.0, summary


def test_processes_sharing_a_quota_use_it_and_are_rarely_throttled(sim: ModuleType) -> None:
    bench = sim.SCENARIOS[0]
    assert (bench.processes, bench.documented, bench.window) == (3, 3.0, 180.0)
    summary = sim.summarize(bench, 40)
    # Three overloaded processes probe for a share about once a minute each (see throttle.REGAIN).
    assert summary["p90"] < 5.0, summary
    assert summary["rate"] > 2.5, summary  # the limit is shared, not given up: 3/s documented


def test_one_process_alone_is_never_throttled_and_emr_stays_low(sim: ModuleType) -> None:
    alone = next(s for s in sim.SCENARIOS if s.processes == 1)
    assert sim.summarize(alone, 10)["max"] == 0.0
    emr = next(s for s in sim.SCENARIOS if s.documented == 20.0)
    summary = sim.summarize(emr, 10)
    assert summary["max"] < 1.0 and summary["rate"] > 16.0, summary
