"""End to end: a real ``huey_consumer`` process runs a ``ValkeyGlideHuey`` application.

Thread, forked process and (monkey-patched) greenlet workers, all blocking on BRPOP. This
process enqueues and reads results through its own ``ValkeyGlideHuey`` (and once through
redis-py, as a RedisHuey producer would), then stops the consumer with SIGINT and expects a
clean exit with no warning or error logged.
"""

from __future__ import annotations

import importlib
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from consumer_process import ConsumerProcess

from huey.exceptions import TaskException

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


@pytest.fixture
def app(port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("HUEY_GLIDE_PORT", str(port))
    module = importlib.import_module("valkey_glide_app")
    module = importlib.reload(module)  # Built on this session's port.
    try:
        yield module
    finally:
        module.huey.storage.close()


def trouble(log: str) -> list[str]:
    """Warnings and errors the consumer logged, other than the planned failure of ``flaky``."""
    return [
        line
        for line in log.splitlines()
        if re.match(r"\[[^]]*\] (WARNING|ERROR|CRITICAL):", line)
        and "valkey_glide_app.flaky" not in line
    ]


@pytest.fixture
def consumer(tmp_path: Path) -> Iterator[Any]:
    started: list[ConsumerProcess] = []

    def start(*args: str) -> ConsumerProcess:
        log = tmp_path / f"consumer-{len(started)}.log"
        run = ConsumerProcess("valkey_glide_app.huey", HERE, log, *args)
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop()


WORKERS = {
    "thread": ["-k", "thread", "-w", "3"],
    "process": ["-k", "process", "-w", "2"],
    "greenlet": ["-k", "greenlet", "-w", "4"],
}


@pytest.mark.parametrize("kind", sorted(WORKERS))
def test_consumer_runs_tasks(app: ModuleType, consumer: Any, redis_py: Any, kind: str) -> None:
    import pickle

    run = consumer(*WORKERS[kind])
    run.wait_started()
    assert "blocking dequeue" in run.log()

    assert app.add(1, 2).get(blocking=True, timeout=30) == 3
    results = [app.add(index, index) for index in range(40)]
    assert [r.get(blocking=True, timeout=30) for r in results] == [2 * i for i in range(40)]
    pipeline = app.huey.enqueue(app.add.s(1, 2).then(app.add, 3).then(app.add, 4))
    assert pipeline.get(blocking=True, timeout=30) == [3, 6, 10]
    flaky = app.flaky("x")
    try:  # The failed first run may be read before the retry overwrites it.
        outcome = flaky.get(blocking=True, timeout=30)
    except TaskException:
        flaky.reset()
        outcome = flaky.get(blocking=True, timeout=30)
    assert outcome == "x ok"
    assert app.huey.storage.incr("flaky:x", 0) == 2
    assert app.guarded("g").get(blocking=True, timeout=30) == "g"
    start = time.monotonic()
    assert app.add.schedule((5, 5), delay=1).get(blocking=True, timeout=30) == 10
    assert time.monotonic() - start >= 0.9

    # A producer that writes with redis-py in huey's layout (as RedisHuey does).
    message = app.add.s(100, 1)
    redis_py.lpush("huey.redis.glidee2e", app.huey.serialize_task(message))
    assert app.huey.result(message.id, blocking=True, timeout=30) == 101
    # ...and results that redis-py reads back.
    handle = app.add(2, 2)
    deadline = time.monotonic() + 30
    while (stored := redis_py.hget("huey.results.glidee2e", handle.id)) is None:
        assert time.monotonic() < deadline, run.log()
        time.sleep(0.02)
    assert pickle.loads(stored) == 4

    who = {app.whoami().get(blocking=True, timeout=30) for _ in range(20)}
    pids = {int(entry.split(":")[0]) for entry in who}
    if kind == "process":
        assert run.process.pid not in pids, "process workers run tasks in forked children"
    else:
        assert pids == {run.process.pid}

    assert run.interrupt() == 0, run.log()
    assert trouble(run.log()) == [], run.log()
    assert app.huey.storage.queue_size() == 0


def test_sighup_restarts_process_workers(app: ModuleType, consumer: Any) -> None:
    run = consumer("-k", "process", "-w", "2")
    run.wait_started()
    before = {app.whoami().get(blocking=True, timeout=30) for _ in range(10)}
    run.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while True:  # New children, forked again from a parent that has used its clients.
        after = {app.whoami().get(blocking=True, timeout=30) for _ in range(10)}
        if not after & before:
            break
        assert time.monotonic() < deadline, run.log()
        time.sleep(0.2)
    assert app.add(20, 22).get(blocking=True, timeout=30) == 42
    assert run.interrupt() == 0, run.log()
    assert trouble(run.log()) == [], run.log()
