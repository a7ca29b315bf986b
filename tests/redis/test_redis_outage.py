"""Redis going away: calls fail fast with redis-py's errors, and a consumer carries on by itself.

Every test has a private server of its own (``own_server``: append-only persistence, so what it
held survives a restart) and stops and restarts it. Time limits here only guard against
hanging; nothing asserts how fast a call fails.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis
from redis_servers import RedisServer, free_port

from huey import PriorityRedisExpireHuey, RedisExpireHuey, RedisHuey
from huey.api import Huey

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
CONSUMER_SCRIPT = Path(sys.executable).parent / "huey_consumer"
FAST = ["-s", "0.2", "-m", "0.5", "-c", "0.5"]  # Quick scheduler ticks, retries, checks.


@pytest.mark.timeout(120)
@pytest.mark.parametrize("huey_class", [RedisHuey, PriorityRedisExpireHuey])
def test_calls_while_the_server_is_down_raise_connection_errors(
    huey_class: type[Huey], own_server: RedisServer
) -> None:
    app = huey_class("down", port=own_server.port)

    @app.task()
    def add(a: int, b: int) -> int:
        return a + b

    add(1, 2)  # The pool has a live connection when the server goes away.
    own_server.stop()
    calls: list[Callable[[], Any]] = [
        lambda: add(1, 2),  # An enqueue.
        app.dequeue,  # A worker's blocking pop.
        lambda: app.read_schedule(),
        lambda: app.result("some-id"),
        lambda: app.put("k", "v"),
        app.pending_count,
    ]
    for call in calls:
        with pytest.raises(redis.exceptions.ConnectionError):
            call()
    own_server.start()
    assert add(2, 3) is not None  # The same pool reconnects.
    assert app.pending_count() == 2  # The first enqueue survived; the failed ones are absent.


@pytest.mark.timeout(120)
def test_a_storage_made_while_the_server_is_down_works_once_it_is_up(
    own_server: RedisServer,
) -> None:
    own_server.stop()
    app = RedisExpireHuey("later", port=own_server.port)  # Connects lazily: no error yet.
    with pytest.raises(redis.exceptions.ConnectionError):
        app.put("k", "v")
    own_server.start()
    app.put("k", "v")
    assert app.get("k") == "v"


def _load_app(port: int, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The consumer's application module, loaded in this process under its own name (so task
    names match) for the given server."""
    monkeypatch.setenv("HUEY_REDIS_TEST_PORT", str(port))
    spec = importlib.util.spec_from_file_location(
        "redis_consumer_app", HERE / "redis_consumer_app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{log.read_text()[-5000:]}")
        time.sleep(0.05)


def _start_consumer(port: int, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``huey_consumer`` on ``redis_consumer_app`` (Redis at ``port``), logging to ``log``, which
    sits in its working directory."""
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "PYTHONUNBUFFERED": "1",
        "HUEY_REDIS_TEST_PORT": str(port),
    }
    with open(log, "ab") as output:
        return subprocess.Popen(
            [CONSUMER_SCRIPT, "redis_consumer_app.huey", *args],
            cwd=log.parent,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.timeout(240)
@pytest.mark.parametrize("worker_type", ["thread", "process"])
def test_a_consumer_resumes_by_itself_after_a_server_restart(
    worker_type: str,
    own_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _load_app(own_server.port, monkeypatch)
    huey = app.huey
    log = tmp_path / "consumer.log"
    consumer = _start_consumer(own_server.port, log, "-w", "2", "-k", worker_type, *FAST)
    try:

        def workers_up() -> bool:
            return sum(key.startswith("up:") for key in huey.storage.result_items()) >= 2

        _wait_for(workers_up, 30, "two workers", log)
        before = [app.add(i, i) for i in range(10)]
        assert [r.get(blocking=True, timeout=30) for r in before] == [2 * i for i in range(10)]
        # Due after the outage; kept through the restart by the server's append-only file.
        later = app.add.schedule((100, 1), delay=4)
        _wait_for(lambda: huey.scheduled_count() == 1, 30, "the task in the schedule", log)

        own_server.stop()
        _wait_for(lambda: "cannot read the queue" in log.read_text(), 30, "dequeue errors", log)
        with pytest.raises(redis.exceptions.ConnectionError):
            app.add(1, 1)
        time.sleep(1)  # A few failed retries of the workers and the scheduler.
        assert consumer.poll() is None, log.read_text()[-5000:]
        own_server.start()

        after = [app.add(i, 1) for i in range(10)]
        assert [r.get(blocking=True, timeout=30) for r in after] == [i + 1 for i in range(10)]
        assert later.get(blocking=True, timeout=30) == 101
        _wait_for(lambda: "storage available again" in log.read_text(), 30, "recovery", log)
        assert consumer.poll() is None
    finally:
        if consumer.poll() is None:
            consumer.send_signal(signal.SIGINT)
            try:
                consumer.wait(30)
            except subprocess.TimeoutExpired:
                consumer.kill()
                consumer.wait(10)
    assert consumer.returncode == 0, log.read_text()[-5000:]
    # The outage was one line per failed try: no client traceback at the default level.
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("verbose", [False, True], ids=["default", "-v"])
def test_a_server_unreachable_at_start_is_one_line_per_worker(
    tmp_path: Path, verbose: bool
) -> None:
    log = tmp_path / "consumer.log"
    args = ["-w", "2", *FAST, *(["-v"] if verbose else [])]
    consumer = _start_consumer(free_port(), log, *args)  # Nothing listens on that port.
    try:
        _wait_for(lambda: log.read_text().count("still") >= 3, 30, "retries", log)
    finally:
        consumer.send_signal(signal.SIGINT)
        consumer.wait(30)
    lines = log.read_text().splitlines()
    first = [
        i
        for i, line in enumerate(lines)
        if "cannot read the queue, retrying in" in line or "scheduler: storage error" in line
    ]
    # One error per worker and one for the scheduler, each naming the error...
    assert len(first) == 3, log.read_text()
    assert all("ConnectionError: " in lines[i] for i in first)
    # ...then a traceback only with -v; later tries are one WARNING line each.
    assert all(lines[i + 1].startswith("Traceback") == verbose for i in first), log.read_text()
    retries = [line for line in lines if "queue still unavailable" in line]
    assert retries and all("WARNING" in line and "ConnectionError" in line for line in retries)
