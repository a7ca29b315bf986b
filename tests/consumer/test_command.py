"""``huey_consumer`` as a real subprocess, driven with real signals, for every worker type."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from consumer_support import CONSUMER_SCRIPT, FAST, ConsumerRun, wait_for

pytestmark = pytest.mark.slow

WORKER_TYPES = ["thread", "process", "greenlet"]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def worker_pids(run: ConsumerRun) -> set[int]:
    return {int(event[0].split(":")[0]) for event in run.events("startup")}


def running_nap(app: Any, run: ConsumerRun, seconds: float, tag: str, workers: int = 1) -> Any:
    """Once ``run`` has started, queue ``app.nap(seconds, tag)`` and wait until it begins."""
    run.wait_started(workers=workers)
    result = app.nap(seconds, tag)
    wait_for(lambda: run.events("begin"), what="the task to start")
    return result


@pytest.mark.parametrize("worker_type", WORKER_TYPES)
def test_sigint_lets_running_tasks_finish_then_exits(
    app: Any, run_consumer: Any, worker_type: str
) -> None:
    run = run_consumer("-w", "2", "-k", worker_type, *FAST)
    result = running_nap(app, run, 1.0, "finishing", workers=2)
    run.send(signal.SIGINT)
    assert run.wait() == 0
    assert [e[0] for e in run.events("end")] == ["finishing"]
    assert result.get() == "finishing"
    assert run.events("interrupted") == []
    assert len(run.events("shutdown")) == 2
    log = run.log()
    assert f"- workers: 2 x {worker_type}" in log
    assert "- delivery: at-most-once\n" in log
    assert "+ apps.basic.add" in log and "+ apps.basic.nap" in log  # The banner's task list.
    assert "consumer stopped" in log


@pytest.mark.parametrize("worker_type", WORKER_TYPES)
def test_sigterm_interrupts_running_tasks_and_signals_them(
    app: Any, run_consumer: Any, worker_type: str
) -> None:
    run = run_consumer("-w", "2", "-k", worker_type, *FAST)
    result = running_nap(app, run, 120, "endless", workers=2)
    run.send(signal.SIGTERM)
    assert run.wait() == 0
    assert run.events("end") == []
    [(task_id, reported_by)] = run.events("interrupted")
    assert task_id == result.id
    ran_in = run.events("begin")[0][1]
    assert reported_by == ran_in  # Sent in the process that ran the task.
    if worker_type == "process":
        assert int(ran_in) != run.pid
    # The re-enqueue recipe put it back for the next consumer.
    assert [task.id for task in app.huey.pending()] == [result.id]


@pytest.mark.parametrize("worker_type", WORKER_TYPES)
def test_graceful_signal_term_lets_running_tasks_finish_even_sent_to_the_group(
    app: Any, run_consumer: Any, worker_type: str
) -> None:
    # -g TERM, as under systemd/Docker/Kubernetes: SIGTERM to every process of the group,
    # worker processes included, still lets the running task finish.
    run = run_consumer("-w", "2", "-k", worker_type, "-g", "TERM", *FAST, new_session=True)
    result = running_nap(app, run, 1.0, "finishing", workers=2)
    run.send_to_group(signal.SIGTERM)
    assert run.wait() == 0
    assert [e[0] for e in run.events("end")] == ["finishing"]
    assert result.get() == "finishing"
    assert run.events("interrupted") == []
    assert len(run.events("shutdown")) == 2
    assert (
        "- graceful shutdown: SIGTERM waits for running tasks, SIGINT interrupts them" in run.log()
    )


@pytest.mark.parametrize("worker_type", ["thread", "process"])
def test_graceful_signal_term_makes_sigint_interrupt(
    app: Any, run_consumer: Any, worker_type: str
) -> None:
    run = run_consumer("-w", "1", "-k", worker_type, "--graceful-signal=TERM", *FAST)
    result = running_nap(app, run, 120, "endless")
    run.send(signal.SIGINT)
    assert run.wait() == 0
    assert run.events("end") == []
    assert [e[0] for e in run.events("interrupted")] == [result.id]


@pytest.mark.parametrize(
    ("options", "graceful"), [((), signal.SIGINT), (("-g", "TERM"), signal.SIGTERM)]
)
def test_a_second_graceful_signal_interrupts(
    app: Any, run_consumer: Any, options: tuple[str, ...], graceful: signal.Signals
) -> None:
    run = run_consumer("-w", "1", *options, *FAST)
    result = running_nap(app, run, 120, "stubborn")
    run.send(graceful)
    wait_for(lambda: "waiting for running tasks" in run.log(), what="graceful shutdown")
    assert run.process.poll() is None  # Still waiting for the task.
    run.send(graceful)
    assert run.wait() == 0
    assert [e[0] for e in run.events("interrupted")] == [result.id]


def test_default_signals_sent_to_the_group_sigint_is_still_graceful(
    app: Any, run_consumer: Any
) -> None:
    # Ctrl-C in a terminal signals the whole group: process workers ignore SIGINT by default.
    run = run_consumer("-w", "1", "-k", "process", *FAST, new_session=True)
    result = running_nap(app, run, 1.0, "finishing")
    run.send_to_group(signal.SIGINT)
    assert run.wait() == 0
    assert result.get() == "finishing"
    assert run.events("interrupted") == []
    assert (
        "- graceful shutdown: SIGINT waits for running tasks, SIGTERM interrupts them" in run.log()
    )


def test_the_shutdown_timeout_interrupts_tasks_still_running(app: Any, run_consumer: Any) -> None:
    run = run_consumer("-w", "1", "-t", "0.5", *FAST)
    result = running_nap(app, run, 120, "too-long")
    run.send(signal.SIGINT)
    assert run.wait() == 0
    assert [e[0] for e in run.events("interrupted")] == [result.id]
    assert "still busy after 0.5s" in run.log()


@pytest.mark.parametrize("worker_type", WORKER_TYPES)
def test_sighup_restarts_workers_after_running_tasks_finish(
    app: Any, run_consumer: Any, worker_type: str
) -> None:
    run = run_consumer("-w", "2", "-k", worker_type, *FAST)
    run.wait_started(workers=2)
    old = worker_pids(run)
    result = app.nap(0.8, "across-restart")
    wait_for(lambda: run.events("begin"), what="the task to start")
    run.send(signal.SIGHUP)
    wait_for(lambda: len(run.events("startup")) == 4, what="two new workers")
    kinds = [event[0] for event in run.events_all()]
    first_new = [i for i, kind in enumerate(kinds) if kind == "startup"][2]
    assert kinds[:first_new].count("end") == 1 and kinds[:first_new].count("shutdown") == 2
    if worker_type == "process":  # New processes.
        assert len(worker_pids(run) - old) == 2
    assert result.get() == "across-restart"
    assert len(run.events("shutdown")) == 2
    assert app.add(1, 2).get(blocking=True, timeout=15) == 3
    run.send(signal.SIGINT)
    assert run.wait() == 0


@pytest.mark.parametrize("worker_type", WORKER_TYPES)
@pytest.mark.parametrize("delivery", ["at-most-once", "at-least-once"])
def test_max_tasks_recycles_workers_and_runs_every_task_once(
    tmp_path: Path, run_consumer: Any, worker_type: str, delivery: str
) -> None:
    from apps.basic import build

    app = build(tmp_path, delivery=delivery)
    run = run_consumer(
        "-M", "2", "-w", "1", "-k", worker_type, *FAST, env={"HUEY_TEST_DELIVERY": delivery}
    )
    run.wait_started()
    results = [app.nap(0, f"t{i}") for i in range(7)]
    assert [r.get(blocking=True, timeout=20) for r in results] == [f"t{i}" for i in range(7)]
    # Seven tasks, two per worker: the fourth worker runs the last one.
    wait_for(lambda: len(run.events("startup")) == 4, what="the fourth worker")
    assert len(run.events("shutdown")) == 3  # The first three ended, each after its tasks.
    if delivery == "at-least-once":  # Each lease acknowledged, none left to lapse.
        wait_for(lambda: app.huey.storage.lease_count() == 0, what="every lease acknowledged")
        assert app.huey.dead_letter_count() == 0
    run.send(signal.SIGINT)
    assert run.wait() == 0
    begun = run.events("begin")
    assert sorted(tag for tag, _ in begun) == sorted(f"t{i}" for i in range(7))  # Once each.
    assert len(run.events("end")) == 7
    assert app.huey.pending_count() == 0
    log = run.log()
    assert f"- workers: 1 x {worker_type}, each recycled after 2 tasks" in log
    assert log.count("recycled, starting a new worker") == 3
    assert "died" not in log
    if worker_type == "process":  # A fresh process every two tasks, forked by the consumer.
        pids = [int(pid) for _, pid in begun]
        assert [len(set(pids[i : i + 2])) for i in range(0, 7, 2)] == [1, 1, 1, 1]
        assert len(set(pids)) == 4 and run.pid not in pids
        assert worker_pids(run) == set(pids)


def test_process_workers_end_when_the_consumer_is_killed(app: Any, run_consumer: Any) -> None:
    run = run_consumer("-w", "2", "-k", "process", *FAST)
    run.wait_started(workers=2)
    children = worker_pids(run)
    assert len(children) == 2 and run.pid not in children
    result = app.nap(120, "orphaned")
    wait_for(lambda: run.events("begin"), what="the task to start")
    run.send(signal.SIGKILL)
    run.wait()
    wait_for(lambda: all(gone(pid) for pid in children), what="worker processes to end")
    # They went through the interrupt path: the task was reported and re-enqueued.
    assert [e[0] for e in run.events("interrupted")] == [result.id]
    assert [task.id for task in app.huey.pending()] == [result.id]


def test_a_killed_worker_process_is_replaced(app: Any, run_consumer: Any) -> None:
    run = run_consumer("-w", "2", "-k", "process", *FAST)
    run.wait_started(workers=2)
    victim = sorted(worker_pids(run))[0]
    psutil.Process(victim).kill()
    wait_for(lambda: len(run.events("startup")) == 3, what="a replacement worker")
    assert "died with exit code -9" in run.log()
    results = [app.whoami() for _ in range(6)]
    ran_in = {int(r.get(blocking=True, timeout=15).split(":")[0]) for r in results}
    assert victim not in ran_in and run.pid not in ran_in
    run.send(signal.SIGINT)
    assert run.wait() == 0


def test_a_worker_process_enforces_timeouts_with_sigalrm(app: Any, run_consumer: Any) -> None:
    run = run_consumer("-w", "1", "-k", "process", *FAST)
    run.wait_started()
    result = app.overrun("alarm")  # timeout=0.5, sleeps 30s
    wait_for(lambda: run.events("timeout"), what="the timeout signal")
    assert [e[0] for e in run.events("timeout")] == [result.id]
    assert app.add(2, 2).get(blocking=True, timeout=15) == 4
    run.send(signal.SIGINT)
    assert run.wait() == 0


def test_greenlet_workers_are_monkey_patched_before_the_app_is_imported(
    app: Any, run_consumer: Any
) -> None:
    run = run_consumer("-w", "10", "-k", "greenlet", *FAST)
    run.wait_started(workers=10)
    assert [e[1] for e in run.events("imported")] == ["gevent-patched"]
    results = [app.nap(0.5, f"g{i}") for i in range(10)]
    assert sorted(r.get(blocking=True, timeout=15) for r in results) == sorted(
        f"g{i}" for i in range(10)
    )
    # time.sleep yielded: all ten ran at once, every one began before any ended.
    kinds = [event[0] for event in run.events_all()]
    assert kinds.index("end") > max(i for i, kind in enumerate(kinds) if kind == "begin")
    run.send(signal.SIGINT)
    assert run.wait() == 0


def test_thread_workers_do_not_patch(app: Any, run_consumer: Any) -> None:
    run = run_consumer("-w", "1", *FAST)
    run.wait_started()
    assert [e[1] for e in run.events("imported")] == ["plain"]
    run.send(signal.SIGINT)
    assert run.wait() == 0


def test_quiet_logfile_gets_warnings_and_errors(app: Any, run_consumer: Any) -> None:
    # -q is huey 3.5.4's "minimal logging": level WARNING.
    logfile = Path(app.directory) / "quiet.log"
    run = run_consumer("-q", "-l", str(logfile), *FAST)
    wait_for(lambda: run.events("startup"), what="startup")  # No banner with -q.
    app.boom()
    wait_for(lambda: "ValueError: boom" in logfile.read_text(), what="the task's traceback")
    app.exit_worker()  # Its worker ends; the health check warns while replacing it.
    wait_for(lambda: "died, starting a new worker" in logfile.read_text(), what="the warning")
    run.send(signal.SIGINT)
    assert run.wait() == 0
    text = logfile.read_text()
    assert "huey consumer started" not in text and "consumer stopped" not in text
    assert "Traceback" in text and "WARNING:huey.consumer.pool" in text
    assert "INFO:" not in text


def test_verbose_logs_debug(app: Any, run_consumer: Any) -> None:
    run = run_consumer("-v", *FAST)
    run.wait_started()
    wait_for(lambda: "DEBUG:huey.consumer" in run.log(), what="debug lines")
    run.send(signal.SIGINT)
    assert run.wait() == 0


@pytest.mark.parametrize(
    "entry",
    [[str(CONSUMER_SCRIPT) + ".py"], [sys.executable, "-m", "huey.bin.huey_consumer"]],
    ids=["huey_consumer.py", "python -m"],
)
def test_other_ways_to_run_the_command(app: Any, run_consumer: Any, entry: list[str]) -> None:
    run = run_consumer(*FAST, entry=entry)
    run.wait_started()
    assert app.add(3, 4).get(blocking=True, timeout=15) == 7
    run.send(signal.SIGINT)
    assert run.wait() == 0


@pytest.mark.parametrize("worker_type", ["thread", "process"])
def test_a_healthy_consumer_logs_each_task_as_huey_does(
    app: Any, run_consumer: Any, worker_type: str
) -> None:
    run = run_consumer("-k", worker_type, *FAST)
    run.wait_started()
    result = app.add(1, 2)
    assert result.get(blocking=True, timeout=15) == 3
    failed = app.boom()
    wait_for(lambda: "Unhandled exception in task" in run.log(), what="the failure")
    run.send(signal.SIGINT)
    assert run.wait() == 0
    log = run.log()
    # huey 3.5.4's INFO lines, at the default level: the start, and the finish with its duration.
    add = re.escape(f"{app.add.task_class.qualified_name}: {result.id}")
    assert re.search(rf"^\[.*\] INFO:huey:\d+:[\w-]+:Executing {add}$", log, re.M), log
    assert re.search(rf"^\[.*\] INFO:huey:\d+:[\w-]+:{add} executed in \d+\.\d{{3}}s$", log, re.M)
    # A failure: one ERROR line, then the traceback from the task's own code.
    lines = log.splitlines()
    (at,) = [i for i, line in enumerate(lines) if "Unhandled exception in task" in line]
    assert lines[at].endswith(f"{app.boom.task_class.qualified_name}: {failed.id}.")
    assert lines[at + 1] == "Traceback (most recent call last):"
    assert "apps/basic.py" in lines[at + 2] and lines[at + 2].endswith(", in boom")
