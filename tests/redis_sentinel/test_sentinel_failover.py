"""Redis Sentinel: a Huey built on ``Sentinel(...).master_for(...)`` survives a failover.

Each test starts its own master, replica and three sentinels (quorum 2) on loopback ports,
kills the master with SIGKILL and goes on, with the same objects, on the replica the sentinels
promote. Nothing is restarted or rebuilt on the client side: redis-py's sentinel pool asks the
sentinels for the master's address on every new connection, and the storage lets connection
errors out for the caller (or the consumer) to retry.

What a failover guarantees, and all these tests assert: writes the replica acknowledged before
the master died (``WAIT``) are on the promoted master; a call made while there is no master
raises ``redis.exceptions.ConnectionError`` instead of hanging; everything written after the
promotion is kept. What it does not guarantee, and these tests do not assert: replication is
asynchronous, so writes made shortly before the master died may be gone, and a task a worker
had already taken off the queue exists only in that worker's memory (huey's usual at-most-once
delivery; see the recipe "High-Availability Redis").
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis
from redis.sentinel import Sentinel
from redis_servers import SERVICE, SentinelGroup

from huey import RedisHuey

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

HERE = Path(__file__).resolve().parent
CONSUMER_SCRIPT = Path(sys.executable).parent / "huey_consumer"
# As the recipe says: a socket timeout well above the blocking read timeout (1s).
SOCKET_TIMEOUT = 5
# How long the sentinels may take to promote the replica (about 3 to 5s here: a second of
# silence, the vote, the promotion; a split vote is retried after 2 x failover-timeout).
FAILOVER_DEADLINE = 30


def _wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, details: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{details()}")
        time.sleep(0.05)


def test_a_huey_on_master_for_keeps_working_on_the_promoted_master(
    sentinel_group: SentinelGroup, caplog: pytest.LogCaptureFixture
) -> None:
    """One ``RedisHuey`` instance, never rebuilt: before the failover it enqueues, runs and
    stores; while no master is available its calls raise ``ConnectionError`` (promptly, not
    after hanging); once the sentinels report the promoted master, the same instance, on the
    same pool, finds the queue, schedule and data the replica had acknowledged (``WAIT``) and
    enqueues, dequeues, stores and reads there. A write made between the master's death and the
    promotion fails and is absent, not half-done."""
    group = sentinel_group
    sentinel = Sentinel(group.sentinel_addresses, socket_timeout=SOCKET_TIMEOUT)
    pool = sentinel.master_for(SERVICE).connection_pool
    huey = RedisHuey("failover", connection_pool=pool)
    storage = huey.storage
    # socket_timeout leaves room for the blocking read: no warning that it was shortened.
    assert not [r for r in caplog.records if r.name.startswith("huey.backends.redis")]

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    first = add(1, 2)
    task = huey.dequeue()
    assert task is not None
    huey.execute(task)
    assert first.get() == 3
    add.schedule((10, 10), delay=3600)
    task = huey.dequeue()  # Not due: a worker would put it in the schedule, as here.
    assert task is not None and not huey.ready_to_run(task)
    huey.add_schedule(task)
    kept = [add(i, i) for i in range(3)]
    huey.put("before", "kept")

    old_port = group.master_port()
    assert old_port == group.initial_master.port
    # WAIT counts replicas that have this connection's last write, and replication keeps
    # order: once the replica has the marker, it has everything written before it.
    with sentinel.master_for(SERVICE) as client:  # A pool of its own: closing it is harmless.
        acked = client.pipeline(transaction=False).set("marker", 1).wait(1, 5000).execute()
    assert acked == [True, 1], "the replica did not acknowledge the writes"

    group.servers[old_port].stop(kill=True)
    started = time.monotonic()
    with pytest.raises(redis.exceptions.ConnectionError):
        add(100, 100)  # The sentinels still name the dead master, or no master at all.
    assert time.monotonic() - started < SOCKET_TIMEOUT, "the failed call hung"

    promoted = group.wait_failover(old_port, FAILOVER_DEADLINE)
    assert promoted.port != old_port

    # The same instance, storage and pool: nothing was rebuilt.
    assert huey.storage is storage and storage.connection_pool is pool
    assert huey.pending_count() == 3  # The enqueue that failed is not there.
    assert huey.scheduled_count() == 1
    assert huey.get("before", peek=True) == "kept"
    while huey.pending_count():
        task = huey.dequeue()
        assert task is not None
        huey.execute(task)
    assert [result.get() for result in kept] == [0, 2, 4]

    after = add(5, 6)
    huey.put("after", "written")
    task = huey.dequeue()
    assert task is not None
    huey.execute(task)
    assert after.get() == 11
    assert pool.get_master_address() == ("127.0.0.1", promoted.port)

    # Read straight from the promoted node, without Sentinel: that is where it all went.
    direct = RedisHuey("failover", port=promoted.port)
    try:
        assert direct.get("after", peek=True) == "written"
        assert direct.get("before", peek=True) == "kept"
        assert direct.scheduled_count() == 1
        assert direct.pending_count() == 0
    finally:
        direct.storage.close()


# -- a real consumer --------------------------------------------------------------------------
def _load_app(ports: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The consumer's application module, loaded in this process under its own name (so task
    names match) for the given sentinels."""
    monkeypatch.setenv("HUEY_SENTINEL_TEST_PORTS", ports)
    spec = importlib.util.spec_from_file_location(
        "sentinel_consumer_app", HERE / "sentinel_consumer_app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Producer(threading.Thread):
    """Enqueues ``record(n)`` for n = start, start + 1, ... every ``interval`` seconds until
    stopped, noting when each enqueue began and whether it succeeded (a failed one is not
    retried: its task never exists)."""

    def __init__(self, record: Any, start: int, interval: float = 0.02) -> None:
        super().__init__(name="producer", daemon=True)
        self.record = record
        self.next = start
        self.interval = interval
        self.sent: list[tuple[int, float, bool]] = []
        self.errors: list[BaseException] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            n, began = self.next, time.monotonic()
            try:
                self.record(n)
                ok = True
            except Exception as exc:  # Checked by the test: ConnectionError only.
                self.errors.append(exc)
                ok = False
            self.sent.append((n, began, ok))
            self.next += 1
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)
        assert not self.is_alive(), "the producer hung"

    def enqueued_since(self, moment: float) -> list[int]:
        return [n for n, began, ok in list(self.sent) if ok and began >= moment]


def test_a_consumer_carries_on_on_the_promoted_master(
    sentinel_group: SentinelGroup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``huey_consumer`` process (two thread workers) whose Huey is built on Sentinel, fed
    a steady stream of tasks, while its master is killed with SIGKILL.

    Asserted (guaranteed): the consumer process is never restarted and never exits (same PID
    all along, and it stops cleanly on SIGINT at the end); it logs the storage errors it
    weathered and then that the storage is available again; every task enqueued after the
    sentinels reported the promoted master runs, in that same process, and its mark is on the
    promoted master. Not asserted (not guaranteed): tasks enqueued shortly before the kill may
    be lost with the master's unreplicated writes, or with the worker that had taken them;
    enqueues during the failover window fail (the producer sees ``ConnectionError``)."""
    group = sentinel_group
    ports = ",".join(str(port) for _, port in group.sentinel_addresses)
    app = _load_app(ports, monkeypatch)
    huey = app.huey
    log = tmp_path / "consumer.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "PYTHONUNBUFFERED": "1",
        "HUEY_SENTINEL_TEST_PORTS": ports,
    }
    # Quick scheduler ticks and health checks; storage retries back off to 1s at most.
    options = ["-w", "2", "-k", "thread", "-m", "1", "-s", "0.2", "-c", "0.5"]
    with open(log, "ab") as output:
        consumer = subprocess.Popen(
            [CONSUMER_SCRIPT, "sentinel_consumer_app.huey", *options],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    producer: Producer | None = None

    def details() -> str:
        sent = producer.sent if producer is not None else []
        failed = sum(not ok for _, _, ok in sent)
        return (
            f"consumer exit code: {consumer.poll()}; enqueues: {len(sent)}, failed: {failed}\n"
            f"consumer log:\n{log.read_text()[-6000:]}"
        )

    def marks(numbers: list[int], on: RedisHuey = huey) -> dict[int, Any]:
        return {n: on.get(f"done:{n}", peek=True) for n in numbers}

    def all_done(numbers: list[int]) -> bool:
        return None not in marks(numbers).values()

    try:
        warmup = list(range(10))
        for n in warmup:
            app.record(n)
        _wait_for(lambda: all_done(warmup), 30, "the first tasks", details)
        assert set(marks(warmup).values()) == {consumer.pid}

        producer = Producer(app.record, start=len(warmup))
        producer.start()
        # Mid-run: the stream is flowing and being consumed when the master dies.
        _wait_for(
            lambda: (
                len(producer.enqueued_since(0)) >= 20 and all_done(producer.enqueued_since(0)[:10])
            ),
            30,
            "the stream to flow",
            details,
        )
        old_port = group.master_port()
        assert old_port is not None
        group.servers[old_port].stop(kill=True)
        promoted = group.wait_failover(old_port, FAILOVER_DEADLINE)
        failed_over_at = time.monotonic()

        _wait_for(
            lambda: len(producer.enqueued_since(failed_over_at)) >= 30,
            30,
            "30 enqueues on the promoted master",
            details,
        )
        producer.stop()
        after = producer.enqueued_since(failed_over_at)
        unexpected = [
            e for e in producer.errors if not isinstance(e, redis.exceptions.ConnectionError)
        ]
        assert not unexpected, f"enqueues failed otherwise than with ConnectionError: {unexpected}"
        assert consumer.poll() is None, details()

        def missing() -> str:
            absent = [n for n, mark in marks(after).items() if mark is None]
            return f"tasks not run: {absent}\n{details()}"

        _wait_for(lambda: all_done(after), 30, "every task enqueued after the failover", missing)
        assert set(marks(after).values()) == {consumer.pid}, "another process ran tasks"
        # Their marks are on the promoted node itself.
        direct = RedisHuey("sentinel-app", port=promoted.port)
        try:
            assert None not in marks(after, on=direct).values()
        finally:
            direct.storage.close()

        _wait_for(lambda: "storage available again" in log.read_text(), 30, "the recovery", details)
        text = log.read_text()
        assert "cannot read the queue" in text, details()  # The errors it weathered...
        assert consumer.poll() is None, details()  # ...without exiting.
    finally:
        if producer is not None and producer.is_alive():
            producer.stop()
        if consumer.poll() is None:
            consumer.send_signal(signal.SIGINT)
            try:
                consumer.wait(30)
            except subprocess.TimeoutExpired:
                consumer.kill()
                consumer.wait(10)
    assert consumer.returncode == 0, details()
