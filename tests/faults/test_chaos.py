"""Fault injection with real processes: SIGKILLed consumers, a killed Redis, a task that kills
its own worker. Each test runs ``examples/chaos``'s ``run_chaos`` with small sizes and checks
what it reports: results, the run log's count of runs, the storage's dead letters.

Every run kills the consumer running task 0 (it runs for two seconds) while it runs, so a kill
lands mid-task every time; the other kills come at random moments. What is asserted holds
whatever the timing: no task lost, every duplicate run explained by a fault that had the task
in flight, and no more duplicates than tasks were in flight.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from redis_servers import REDIS_SERVER

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "chaos"))

from chaos import (
    AT_MOST_ONCE,
    ChaosConfig,
    ChaosReport,
    Fault,
    Run,
    run_chaos,
    unexplained_duplicates,
)

pytestmark = pytest.mark.slow

# Small enough for CI, large enough that the consumers are busy when the kills land.
TASKS = 300


def require_redis_server(request: pytest.FixtureRequest) -> None:
    """Fail under CI, skip locally, through the root conftest's ``service_unavailable``."""
    if REDIS_SERVER is None:
        root = str(Path(__file__).resolve().parents[1] / "conftest.py")
        conftest: Any = request.config.pluginmanager.get_plugin(root)
        conftest.service_unavailable("redis-server")


@pytest.fixture
def redis_available(request: pytest.FixtureRequest) -> None:
    require_redis_server(request)


def chaos(tmp_path: Path, **options: Any) -> ChaosReport:
    options = {"tasks": TASKS, "timeout": 90.0, "directory": tmp_path, **options}
    return run_chaos(ChaosConfig(**options))


def assert_nothing_lost(report: ChaosReport, kills: int, redis_restarts: int = 0) -> None:
    summary = report.format()
    assert report.drained, summary
    assert report.accounting_errors() == [], summary
    assert (report.kills, report.redis_restarts) == (kills, redis_restarts), summary
    assert report.unexpected_exits == 0, summary
    assert report.lost == [], summary
    assert report.wrong == [] and report.failed == {}, summary
    assert report.results == report.tasks, summary
    # Every task ran; the only re-runs are of tasks a fault had in flight.
    assert all(count >= 1 for count in report.run_counts.values()), summary
    assert report.unexplained == [], summary
    assert report.duplicated <= report.bound, summary
    assert report.duplicated <= report.ceiling, summary
    assert report.dead_letters == [], summary
    # The first kill cut task 0 off mid-run: it was delivered again and finished.
    assert 0 in report.interrupted, summary
    assert report.run_counts[0] >= 2, summary
    assert report.stopped_cleanly, summary


@pytest.mark.timeout(150)
def test_sqlite_thread_workers_survive_consumer_kills(tmp_path: Path) -> None:
    report = chaos(tmp_path, backend="sqlite", workers=4, worker_type="thread", kills=4)
    assert_nothing_lost(report, kills=4)


@pytest.mark.timeout(150)
def test_sqlite_process_workers_survive_consumer_kills(tmp_path: Path) -> None:
    report = chaos(tmp_path, backend="sqlite", workers=2, worker_type="process", kills=3)
    assert_nothing_lost(report, kills=3)


@pytest.mark.timeout(150)
def test_four_consumers_on_one_sqlite_file_killed_repeatedly(tmp_path: Path) -> None:
    report = chaos(tmp_path, backend="sqlite", workers=2, consumers=4, kills=5)
    # One consumer dies at a time; the others carry on and take its leases once they lapse.
    assert_nothing_lost(report, kills=5)


@pytest.mark.timeout(150)
@pytest.mark.usefixtures("redis_available")
def test_redis_thread_workers_survive_consumer_kills(tmp_path: Path) -> None:
    report = chaos(tmp_path, backend="redis", workers=4, kills=3)
    assert_nothing_lost(report, kills=3)


@pytest.mark.timeout(150)
@pytest.mark.usefixtures("redis_available")
def test_redis_restart_mid_run_loses_nothing(tmp_path: Path) -> None:
    # The server is SIGKILLed and started again on its port from its append-only file.
    report = chaos(tmp_path, backend="redis", workers=4, kills=1, redis_restarts=2)
    assert_nothing_lost(report, kills=1, redis_restarts=2)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_task_that_kills_its_worker_ends_in_the_dead_letters(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "redis":
        require_redis_server(request)
    report = chaos(
        tmp_path,
        backend=backend,
        workers=2,
        worker_type="process",
        tasks=100,
        kills=0,
        poison=1,
        max_deliveries=3,
        visibility_timeout=1.0,
        long_task_seconds=0,
    )
    summary = report.format()
    assert report.drained, summary
    (poison,) = report.poison_runs
    # Each delivery ran it (and lost its worker process); the fourth lease buried it.
    assert report.poison_runs[poison] == 3, summary
    assert len(report.dead_letters) == 1, summary
    (letter,) = report.dead_letters
    assert (letter.index, letter.name, letter.deliveries) == (poison, "chaos_app.poison", 3)
    assert "delivered 3 times" in letter.reason, summary
    assert "max_deliveries=3" in letter.reason, summary
    # Meanwhile the tasks around it ran, once each: only worker processes died.
    assert report.unexpected_exits == 0, summary
    assert report.lost == [] and report.wrong == [] and report.failed == {}, summary
    assert report.duplicated == 0 and report.unexplained == [], summary
    assert report.problems() == [], summary


@pytest.mark.timeout(150)
def test_at_most_once_loses_the_task_a_kill_cuts_off(tmp_path: Path) -> None:
    """The control: the same harness, huey's default delivery. Task 0 is mid-run at the first
    kill, so it is lost for certain; whatever else the random kills cut off is lost too, and
    nothing runs twice."""
    report = chaos(tmp_path, backend="sqlite", workers=4, kills=3, delivery=AT_MOST_ONCE)
    summary = report.format()
    assert report.drained and report.accounting_errors() == [], summary
    assert 0 in report.interrupted and 0 in report.lost, summary
    assert report.run_counts[0] == 1, summary
    assert report.duplicated == 0 and report.bound == len(report.interrupted), summary
    # Lost are exactly the interrupted tasks, and those taken but killed before they began.
    assert set(report.interrupted) <= set(report.lost), summary
    assert {index for index in report.lost if report.run_counts[index]} == set(
        report.interrupted
    ), summary
    assert report.dead_letters == [] and report.problems() == [], summary


# -- the duplicate check itself -------------------------------------------------------------------
def _run(position: int, index: int, incarnation: str = "1") -> Run:
    return Run(position, index, incarnation, ("pid", "thread"))


def _kill(position: int, candidates: set[int]) -> Fault:
    return Fault(1, "kill", position, frozenset(candidates), len(candidates), ())


def test_a_rerun_needs_a_fault_that_had_the_previous_run_in_flight() -> None:
    runs = [_run(0, 7), _run(1, 8), _run(5, 7, "2")]
    assert unexplained_duplicates(runs, [_kill(3, {0})], set()) == []
    # No fault; a fault after the re-run; a fault that had another run in flight.
    assert unexplained_duplicates(runs, [], set()) == [(7, 0, 5)]
    assert unexplained_duplicates(runs, [_kill(6, {0})], set()) == [(7, 0, 5)]
    assert unexplained_duplicates(runs, [_kill(3, {1})], set()) == [(7, 0, 5)]
    assert unexplained_duplicates(runs, [], {7}) == []  # Excluded: a poison task.
