"""SqliteStorage's leases across real processes and threads; the contract is in test_conformance.

Each process opens its own ``SqliteStorage`` on one file, as consumers on one machine do: a
lease must be exclusive between them, survive the death of its holder, and a waiting
``lease()`` must be woken rather than sit out its read timeout.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from huey.storage import BaseStorage, Lease, SqliteStorage
from huey.testing.conformance import StorageConformance, StorageFactory

FORK = multiprocessing.get_context("fork")
LONG = 60.0


def _messages(count: int) -> list[bytes]:
    return [f"m-{index:04d}".encode() for index in range(count)]


def _start(target: Any, *args: Any) -> Any:
    """A forked child; a daemon, so a stuck one cannot hold up the end of the test run."""
    process = FORK.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def _receive(reader: Connection, timeout: float = 60) -> Any:
    assert reader.poll(timeout), f"no report from the child within {timeout}s"
    return reader.recv()


def _join(process: Any, timeout: float = 60) -> None:
    process.join(timeout)
    if process.is_alive():
        process.kill()
        pytest.fail(f"{process.name} did not finish within {timeout}s")


class TestNonBlockingConformance(StorageConformance):
    """The whole contract, leases included, with ``blocking=False`` (the default blocks)."""

    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> StorageFactory:
        filename = str(tmp_path / "nonblocking.db")
        return lambda name: SqliteStorage(name, filename=filename, blocking=False)


# -- exclusive across processes -------------------------------------------------------------------
def _lease_and_ack(filename: str, out: str, start: Event) -> None:
    storage = SqliteStorage("q", filename=filename, read_timeout=0.2)
    taken: list[str] = []
    start.wait(30)
    while True:
        lease = storage.lease(LONG)
        if lease is None:
            if storage.queue_size() == 0:
                break
            continue
        assert storage.ack(lease.id) is True, f"ack of {lease} refused"
        taken.append(f"{lease.data.decode()} {lease.deliveries}")
    Path(out).write_text("\n".join(taken))


@pytest.mark.slow
def test_four_processes_lease_every_message_exactly_once(tmp_path: Path) -> None:
    filename = str(tmp_path / "fleet.db")
    storage = SqliteStorage("q", filename=filename)
    messages = _messages(2000)
    for message in messages:
        storage.enqueue(message)
    start = FORK.Event()
    outs = [str(tmp_path / f"worker{index}.txt") for index in range(4)]
    workers = [_start(_lease_and_ack, filename, out, start) for out in outs]
    start.set()  # All at once, so they contend for the same rows.
    for worker in workers:
        _join(worker, 120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]

    per_worker = [Path(out).read_text().split("\n") for out in outs]
    taken = Counter(line for lines in per_worker for line in lines if line)
    assert sorted(taken) == sorted(f"{m.decode()} 1" for m in messages), "lost or redelivered"
    assert set(taken.values()) == {1}, "a message was leased by two processes"
    assert sum(1 for lines in per_worker if lines != [""]) >= 2, "the workers did not overlap"
    assert (storage.queue_size(), storage.lease_count()) == (0, 0)


# -- the holder dies ------------------------------------------------------------------------------
# Children report through a pipe of their own, not a shared multiprocessing.Queue: a child
# killed while its queue's feeder thread holds the queue's lock would leave it locked for good.
def _lease_then_hang(filename: str, visibility: float, report: Connection) -> None:
    storage = SqliteStorage("q", filename=filename, blocking=False)
    called = time.time()
    lease = storage.lease(visibility)
    report.send((lease, called))
    time.sleep(3600)  # Killed before it can acknowledge.


def _lease_and_report(filename: str, report: Connection) -> None:
    storage = SqliteStorage("q", filename=filename, read_timeout=30)
    lease = storage.lease(LONG)
    acked = lease is not None and storage.ack(lease.id)
    report.send((lease, time.time(), acked))


@pytest.mark.slow
def test_a_message_leased_by_a_killed_process_is_delivered_again(tmp_path: Path) -> None:
    filename = str(tmp_path / "crash.db")
    storage = SqliteStorage("q", filename=filename, blocking=False)
    storage.enqueue(b"crash me")
    visibility = 3.0  # The taker starts well before it lapses, so it has to wait for that.
    reader, writer = FORK.Pipe(duplex=False)
    holder = _start(_lease_then_hang, filename, visibility, writer)
    first, called_at = _receive(reader)
    assert isinstance(first, Lease) and (first.data, first.deliveries) == (b"crash me", 1)
    # Counted from a moment inside lease(): no later than it returned (its commit, and the
    # return to the caller, take time after the deadline is set), no earlier than it was called.
    (deadline,) = storage.conn.execute("select deadline from lease").fetchone()
    assert deadline >= called_at + visibility
    os.kill(holder.pid or 0, signal.SIGKILL)
    _join(holder)
    assert holder.exitcode == -signal.SIGKILL

    assert (storage.queue_size(), storage.lease_count()) == (0, 1)  # Not lost with its holder.

    reader, writer = FORK.Pipe(duplex=False)
    taker = _start(_lease_and_report, filename, writer)
    again, taken_at, acked = _receive(reader)
    _join(taker)
    assert isinstance(again, Lease)
    assert (again.data, again.deliveries) == (b"crash me", 2)
    assert again.id != first.id
    assert taken_at >= deadline, "delivered again before its lease lapsed"
    # A blocking lease() wakes when the lease lapses, not at the end of its 30 s read timeout.
    assert taken_at - called_at < visibility + 10
    assert acked is True
    assert storage.ack(first.id) is False
    assert (storage.queue_size(), storage.lease_count()) == (0, 0)


# -- the lock is held by someone else meanwhile --------------------------------------------------
VISIBILITY = 0.5
HELD = 2 * VISIBILITY  # Longer than the visibility timeout: a deadline set before it lapses.


def _while_locked(filename: str, begin: str, operation: Any) -> Any:
    """``operation()`` in a thread while another connection holds a transaction opened with
    ``begin`` and a read, for ``HELD`` seconds."""
    other = sqlite3.connect(filename, isolation_level=None)
    other.execute(begin)
    other.execute("select count(*) from task").fetchall()
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(operation()), daemon=True)
    thread.start()
    time.sleep(HELD)
    other.execute("rollback")
    other.close()
    thread.join(30)
    assert outcome, "the operation did not finish once the lock was free"
    return outcome[0]


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_a_lease_is_not_spent_waiting_for_the_database(tmp_path: Path, journal_mode: str) -> None:
    """In the rollback journal modes a commit waits for readers: the lease's clock must start
    after that wait, as it does after the wait for the write lock."""
    filename = str(tmp_path / f"{journal_mode}.db")
    storage = SqliteStorage("q", filename=filename, blocking=False, journal_mode=journal_mode)
    storage.enqueue(b"m")
    begin = "begin immediate" if journal_mode == "wal" else "begin"  # A writer / a reader.
    lease = _while_locked(filename, begin, lambda: storage.lease(VISIBILITY))
    assert isinstance(lease, Lease)
    assert storage.lease(LONG) is None, "the lease lapsed before its visibility timeout"
    assert storage.ack(lease.id) is True


def test_an_extension_is_not_spent_waiting_for_the_write_lock(tmp_path: Path) -> None:
    filename = str(tmp_path / "extend.db")
    storage = SqliteStorage("q", filename=filename, blocking=False)
    storage.enqueue(b"m")
    lease = storage.lease(LONG)
    assert lease is not None
    extend = lambda: storage.extend_lease(lease.id, VISIBILITY)  # noqa: E731
    assert _while_locked(filename, "begin immediate", extend) is True
    assert storage.lease(LONG) is None, "the extension lapsed before its visibility timeout"
    assert storage.ack(lease.id) is True


def _lease_forever(filename: str) -> None:
    storage = SqliteStorage("q", filename=filename, blocking=False)
    while storage.lease(LONG) is not None:
        pass
    time.sleep(3600)


@pytest.mark.slow
def test_killing_a_leasing_process_at_any_moment_loses_nothing(tmp_path: Path) -> None:
    """Each message is in exactly one of the task and lease tables, whenever the taker dies."""
    filename = str(tmp_path / "kill.db")
    storage = SqliteStorage("q", filename=filename, blocking=False)
    messages = _messages(10_000)  # Enough that five short runs cannot take them all.
    conn = storage.conn  # One transaction: enqueueing them one by one would take seconds.
    conn.execute("begin")
    conn.executemany("insert into task (queue, data) values ('q', ?)", [(m,) for m in messages])
    conn.execute("commit")
    rng = random.Random(1234)
    for _ in range(5):
        before = storage.lease_count()
        taker = _start(_lease_forever, filename)
        deadline = time.monotonic() + 30
        while storage.lease_count() == before:  # Killed mid-run, not before it started.
            assert time.monotonic() < deadline, "the leasing process never leased"
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        os.kill(taker.pid or 0, signal.SIGKILL)
        _join(taker)
    assert 0 < storage.lease_count() < len(messages), "every kill should land mid-queue"
    rows = storage.conn.execute(
        "select data from task where queue = 'q' union all select data from lease where queue = 'q'"
    ).fetchall()
    assert sorted(bytes(row[0]) for row in rows) == messages


# -- waking a waiting lease() ---------------------------------------------------------------------
def _lease_in_thread(storage: BaseStorage) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def wait() -> None:
        started = time.monotonic()
        outcome["lease"] = storage.lease(LONG)
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    time.sleep(0.3)  # Let it find nothing and start waiting.
    assert thread.is_alive(), "lease() returned before there was anything to lease"
    return thread, outcome


def test_blocking_lease_is_woken_by_an_enqueue_in_another_thread(tmp_path: Path) -> None:
    storage = SqliteStorage("q", filename=str(tmp_path / "wake.db"), read_timeout=60)
    thread, outcome = _lease_in_thread(storage)
    storage.enqueue(b"wake up")
    thread.join(30)
    assert not thread.is_alive()
    assert outcome["lease"].data == b"wake up"
    assert outcome["elapsed"] < 10, "lease() waited for its read timeout: not woken"


def test_blocking_lease_wakes_when_a_lease_lapses(tmp_path: Path) -> None:
    storage = SqliteStorage("q", filename=str(tmp_path / "lapse.db"), read_timeout=60)
    storage.enqueue(b"slow")
    first = storage.lease(1.0)
    assert first is not None
    thread, outcome = _lease_in_thread(storage)
    thread.join(30)
    assert not thread.is_alive()
    assert (outcome["lease"].data, outcome["lease"].deliveries) == (b"slow", 2)
    assert outcome["elapsed"] < 10, "lease() waited for its read timeout, not for the lapse"


def test_blocking_lease_is_woken_by_a_release(tmp_path: Path) -> None:
    """``extend_lease(id, 0)`` shows the message at once, to a lease() already waiting too."""
    storage = SqliteStorage("q", filename=str(tmp_path / "release.db"), read_timeout=60)
    storage.enqueue(b"released")
    first = storage.lease(LONG)
    assert first is not None
    thread, outcome = _lease_in_thread(storage)
    assert storage.extend_lease(first.id, 0) is True
    thread.join(30)
    assert not thread.is_alive()
    assert (outcome["lease"].data, outcome["lease"].deliveries) == (b"released", 2)
    assert outcome["elapsed"] < 10, "lease() waited for its read timeout: not woken"


def test_a_lapsed_lease_cannot_be_extended_or_acknowledged_once_taken(tmp_path: Path) -> None:
    """Lapsed, it cannot be renewed; once leased again, its old holder cannot ack it."""
    storage = SqliteStorage("q", filename=str(tmp_path / "lapsed.db"), blocking=False)
    storage.enqueue(b"late")
    lease = storage.lease(0.2)
    assert lease is not None
    time.sleep(0.3)
    assert storage.extend_lease(lease.id, LONG) is False
    assert storage.lease_count() == 1
    again = storage.lease(LONG)
    assert again is not None and again.deliveries == 2
    assert storage.ack(lease.id) is False
    assert storage.ack(again.id) is True


def test_dead_letters_and_leases_have_their_own_tables(tmp_path: Path) -> None:
    """huey 3.5.4 ignores them; the four tables it knows hold nothing of them."""
    storage = SqliteStorage("q", filename=str(tmp_path / "tables.db"), blocking=False)
    storage.enqueue(b"leased")
    assert storage.lease(LONG) is not None
    storage.add_dead_letter("k", b"letter")
    tables = {
        name: storage.conn.execute(f"select count(*) from {name}").fetchone()[0]
        for (name,) in storage.conn.execute("select name from sqlite_master where type = 'table'")
    }
    assert tables == {
        "kv": 0,
        "schedule": 0,
        "task": 0,
        "counter": 0,
        "lease": 1,
        "dead_letter": 1,
        "kv_expiry": 0,  # Expiries of put_if_empty(ttl=) entries, also ours.
    }
