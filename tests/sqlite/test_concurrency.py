"""Many processes on one SQLite file: no task lost, none run twice, no "database is locked".

Real ``huey_consumer`` processes (thread and process workers) and plain producer processes
share one database file (the app is ``apps/sqlite_stress.py``). Every execution marks its tag
with ``put_if_empty`` and bumps a counter, so a lost task is a missing key and a duplicate is
a second ``put_if_empty`` that finds the key taken. A producers-only run, drained in this
process, separates write contention from the consumers' behaviour.

``HUEY_STRESS_PER_PRODUCER=25000`` (default 5000) makes the first test a longer soak.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import IO

import pytest
from polling import wait_for

pytestmark = pytest.mark.slow

APPS = Path(__file__).parent / "apps"
CONSUMER_SCRIPT = Path(sys.executable).parent / "huey_consumer"
# Quick scheduler and health checks; workers block on the database's wake channel.
FAST = ["-d", "0.01", "-m", "0.1", "-s", "0.1", "-c", "0.5"]
CONSUMERS = {  # label: worker options
    "thread4": ["-k", "thread", "-w", "4"],
    "process2": ["-k", "process", "-w", "2"],
    "thread2": ["-k", "thread", "-w", "2"],
}
PRODUCERS = 4
EXECUTIONS_PER_PRODUCER = 5000  # 20,000 task runs in all.
# Anything in a log that means a failure reached the user (or the log).
TROUBLE = re.compile(r"database is locked|Traceback|\bERROR\b|\bWARNING\b|\bCRITICAL\b|busy")


class Processes:
    """Subprocesses in ``directory``'s app, each logging stdout and stderr to its own file."""

    def __init__(self, directory: Path, db: Path) -> None:
        self.directory = directory
        self.db = db
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def start(self, name: str, command: list[str], **env: str) -> subprocess.Popen[bytes]:
        environ = {**os.environ, "HUEY_STRESS_DB": str(self.db), "PYTHONUNBUFFERED": "1", **env}
        environ.pop("PYTHONPATH", None)  # The app is found through the working directory.
        log = open(self.log_path(name), "wb")  # noqa: SIM115 - closed in close()
        self._logs.append(log)
        proc = subprocess.Popen(command, cwd=APPS, env=environ, stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def log(self, name: str) -> str:
        return self.log_path(name).read_text(errors="replace")

    def trouble(self, name: str) -> list[str]:
        return [line for line in self.log(name).splitlines() if TROUBLE.search(line)]

    def producer(self, index: int, executions: int, **options: int) -> None:
        arguments = ", ".join(f"{key}={value}" for key, value in options.items())
        code = (
            "import sqlite_stress; sqlite_stress.produce("
            f"{str(self.directory)!r}, {index}, {executions}, {arguments})"
        )
        self.start(f"producer{index}", [sys.executable, "-c", code])

    def release_producers(self, count: int) -> float:
        """Start every producer at once, when all are connected; the start time."""

        def ready() -> bool:
            for name, proc in self.procs.items():
                if name.startswith("producer") and proc.poll() is not None:
                    pytest.fail(f"{name} exited ({proc.returncode}):\n{self.log(name)}")
            return all((self.directory / f"ready-{i}").exists() for i in range(count))

        wait_for(ready, 60, "the producers to connect")
        (self.directory / "go").touch()
        return time.monotonic()

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for log in self._logs:
            log.close()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``apps/sqlite_stress`` imported here on this test's database, under the name the
    consumers give it (so its tasks have the same names)."""
    monkeypatch.setenv("HUEY_STRESS_DB", str(tmp_path / "huey.db"))
    spec = importlib.util.spec_from_file_location("sqlite_stress", APPS / "sqlite_stress.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "sqlite_stress", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path, tmp_path / "huey.db")
    try:
        yield procs
    finally:
        procs.close()


def counter(app: ModuleType, key: str) -> int:
    return int(app.huey.storage.incr(key, 0))


def test_producers_and_consumers_run_every_task_exactly_once(
    app: ModuleType, processes: Processes
) -> None:
    executions = int(os.environ.get("HUEY_STRESS_PER_PRODUCER", EXECUTIONS_PER_PRODUCER))
    options = {"pipelines": 20, "scheduled": 75, "priority_every": 5}
    plans = [app.plan(index, executions, **options) for index in range(PRODUCERS)]
    expected = app.expected_tags(plans)
    total = len(expected)
    assert total == PRODUCERS * executions and len(set(expected)) == total
    storage = app.huey.storage

    began = time.monotonic()
    for label, worker_options in CONSUMERS.items():
        command = [str(CONSUMER_SCRIPT), "sqlite_stress.huey", *worker_options, *FAST]
        processes.start(label, command, HUEY_STRESS_LABEL=label)
    for index in range(PRODUCERS):
        processes.producer(index, executions, **options)
    for label in CONSUMERS:
        wait_for(
            lambda label=label: "huey consumer started" in processes.log(label),
            30,
            f"consumer {label} to start",
        )
    started = processes.release_producers(PRODUCERS)

    def done() -> bool:
        for name, proc in processes.procs.items():
            if name in CONSUMERS and proc.poll() is not None:
                pytest.fail(f"consumer {name} exited ({proc.returncode}):\n{processes.log(name)}")
            if name.startswith("producer") and proc.poll() not in (None, 0):
                pytest.fail(f"{name} failed ({proc.returncode}):\n{processes.log(name)}")
        producing = any(
            proc.poll() is None for name, proc in processes.procs.items() if name not in CONSUMERS
        )
        return (
            not producing
            and counter(app, app.EXECUTIONS) >= total
            and storage.queue_size() == 0
            and storage.schedule_size() == 0
        )

    try:
        wait_for(done, 150, "every task to run", interval=0.25)
    except pytest.fail.Exception:
        print(
            f"executions={counter(app, app.EXECUTIONS)}/{total} queue={storage.queue_size()} "
            f"schedule={storage.schedule_size()}"
        )
        raise
    finished = time.monotonic()
    produced = [processes.log(f"producer{index}").strip() for index in range(PRODUCERS)]

    for label in CONSUMERS:
        processes.procs[label].send_signal(signal.SIGINT)
    for label in CONSUMERS:
        try:
            assert processes.procs[label].wait(30) == 0, processes.log(label)
        except subprocess.TimeoutExpired:
            pytest.fail(f"consumer {label} did not stop on SIGINT:\n{processes.log(label)}")
    print(
        f"\n{total} tasks: {finished - started:.1f}s from the first enqueue to the last "
        f"execution, {time.monotonic() - began:.1f}s in all; " + "; ".join(produced)
    )

    for name, proc in processes.procs.items():
        assert proc.returncode == 0, f"{name}:\n{processes.log(name)}"
        assert processes.trouble(name) == [], f"{name}:\n{processes.log(name)}"
        if name in CONSUMERS:
            assert "consumer stopped" in processes.log(name)

    # Exactly once: every tag ran, no other, none twice, pipelines in order; nothing left.
    ran = {
        key.removeprefix("ran:"): value
        for key, value in storage.result_items().items()
        if key.startswith("ran:")
    }
    assert counter(app, app.DUPLICATES) == 0
    assert counter(app, app.MISORDERED) == 0
    assert counter(app, app.EXECUTIONS) == total
    missing = set(expected) - set(ran)
    assert not missing, f"{len(missing)} tasks never ran, e.g. {sorted(missing)[:10]}"
    assert set(ran) == set(expected)
    assert storage.queue_size() == 0 and storage.schedule_size() == 0
    # What went on the schedule came off it once. (How many went there depends on timing: a
    # task a consumer takes after its eta runs at once.)
    # The scheduler's "Enqueueing <task>" line (huey 3.5.4's words); the app has no periodic task.
    moved = sum(processes.log(label).count("Enqueueing ") for label in CONSUMERS)
    assert moved == counter(app, app.SCHEDULED) <= PRODUCERS * options["scheduled"]
    # Every consumer took part.
    by_consumer = Counter(value.decode() for value in ran.values())
    assert set(by_consumer) == set(CONSUMERS), by_consumer
    print(f"executions by consumer: {dict(by_consumer)}; {moved} went through the schedule")


def test_concurrent_producers_lose_and_duplicate_nothing(
    app: ModuleType, processes: Processes
) -> None:
    executions = 2500
    for index in range(PRODUCERS):
        processes.producer(index, executions)
    started = processes.release_producers(PRODUCERS)
    for name, proc in processes.procs.items():
        try:
            assert proc.wait(90) == 0, processes.log(name)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} still enqueueing after 90s")
        assert processes.trouble(name) == [], processes.log(name)
    elapsed = time.monotonic() - started
    assert app.huey.pending_count() == PRODUCERS * executions

    app.huey.storage.supports_blocking_dequeue = False  # Drain without waiting at the end.
    tags = []
    while (task := app.huey.dequeue()) is not None:
        assert task.qualified_name == "sqlite_stress.record"
        tags.append(task.args[0])
    assert app.huey.pending_count() == 0
    assert len(tags) == PRODUCERS * executions
    duplicated = [tag for tag, seen in Counter(tags).items() if seen > 1]
    assert duplicated == []
    expected = app.expected_tags([app.plan(index, executions) for index in range(PRODUCERS)])
    assert set(tags) == set(expected)
    # One producer's enqueues are sequential, so they leave the queue in the order made.
    for index in range(PRODUCERS):
        mine = [int(tag.split("-")[1]) for tag in tags if tag.startswith(f"p{index}-")]
        assert mine == sorted(mine)
    print(f"\n{len(tags)} enqueues by {PRODUCERS} processes in {elapsed:.1f}s")
