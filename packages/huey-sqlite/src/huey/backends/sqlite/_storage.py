"""``SqliteStorage``: queue, schedule, results and counters in one SQLite file.

SQLite cannot push, so waiters do not poll it: an idle ``dequeue`` and a blocking result read
sleep on a wake channel (``_wakeup``) that writers on this machine signal, and re-check on a
timer as well, for writers that do not signal (huey 3.5.4, another machine on a shared disk).

The tables are those of huey 3.5.4, so a file moves between the two in either direction;
leases and dead letters live in two tables of their own, which huey 3.5.4 ignores, and so do
the expiries of entries stored by ``put_if_empty(..., ttl=...)`` (``kv_expiry``: an entry
whose expiry has passed reads as absent; triggers drop an expiry when its entry is written or
deleted, by either implementation).
Every operation is one autocommit statement (``DELETE ... RETURNING`` for the destructive
reads): a statement is atomic on its own, and no transaction ever has to upgrade a read lock
to a write lock, which is what makes SQLite answer "database is locked" under contention.
The two that need several statements (``lease`` moves a row between tables, ``flush_queue``
empties two) run in one ``BEGIN EXCLUSIVE`` transaction, which takes the write lock at its
start and so never upgrades either; so does ``extend_lease``, which reads the clock.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from huey.backends.sqlite._wakeup import WakeChannel, channel_directory
from huey.constants import EmptyData
from huey.storage import BaseStorage, Key, Lease, check_ttl, key_text
from huey.utils import to_timestamp

T = TypeVar("T")

# Rows of one multi-row INSERT: 3 parameters each, well under SQLite's oldest variable limit.
_ROWS_PER_INSERT = 300

_SCHEMA = (
    "create table if not exists kv (queue text not null, key text not null, "
    "value blob not null, primary key(queue, key))",
    "create table if not exists schedule (id integer not null primary key, "
    "queue text not null, data blob not null, timestamp real not null)",
    "create index if not exists schedule_queue_timestamp on schedule (queue, timestamp)",
    "create table if not exists task (id integer not null primary key{autoincrement}, "
    "queue text not null, data blob not null, priority real not null default 0.0)",
    "create index if not exists task_queue_priority_id on task (queue, priority desc, id)",
    "create table if not exists counter (queue text not null, key text not null, "
    "value integer not null default 0, primary key(queue, key))",
    # Not huey 3.5.4's: a leased message lives here until it is acknowledged, so it is always
    # in exactly one of task and lease. The deadline is wall-clock time (``time.time()``), the
    # one clock every process sharing the file agrees on.
    "create table if not exists lease (token text primary key, queue text not null, "
    "data blob not null, priority real not null, deliveries integer not null, "
    "deadline real not null)",
    "create index if not exists lease_queue_deadline on lease (queue, deadline)",
    "create table if not exists dead_letter (queue text not null, key text not null, "
    "data blob not null, primary key(queue, key))",
    # Not huey 3.5.4's: when (wall clock) a kv entry stored with a ttl expires.
    "create table if not exists kv_expiry (queue text not null, key text not null, "
    "expires real not null, primary key(queue, key))",
    # A write replaces an entry's expiry with none; a delete takes it along.
    "create trigger if not exists kv_expiry_on_insert after insert on kv begin "
    "delete from kv_expiry where queue = new.queue and key = new.key; end",
    "create trigger if not exists kv_expiry_on_delete after delete on kv begin "
    "delete from kv_expiry where queue = old.queue and key = old.key; end",
)
# The kv rows of a queue that read as present: not expired.
_LIVE = (
    "not exists (select 1 from kv_expiry e where e.queue = kv.queue and e.key = kv.key "
    "and e.expires <= ?)"
)
# Takes the next message in dequeue order; shared by dequeue and lease.
_POP_TASK = (
    "delete from task where id = (select id from task where queue = ? "
    "order by priority desc, id limit 1) returning data, priority"
)
_JOURNAL_MODES = frozenset({"delete", "truncate", "persist", "memory", "wal", "off"})


def _naming_file(exc: Exception, filename: str) -> Exception:
    """``exc`` (the driver's "unable to open database file") again, naming ``filename`` and what
    is wrong with its path when that is plain; the same type, so handlers of the driver's errors
    still catch it."""
    text = str(exc).rstrip(".")
    folder = os.path.dirname(os.path.abspath(filename))
    if not os.path.isdir(folder):
        text += f": {filename} (no such directory: {folder})"
    elif os.path.isdir(filename):
        text += f": {filename} (a directory, not a file)"
    else:
        text += f": {filename}"
    try:
        named = type(exc)(text)
    except Exception:  # An error type that takes other arguments: left as it is.
        return exc
    for attribute in ("sqlite_errorcode", "sqlite_errorname"):
        if hasattr(exc, attribute):
            setattr(named, attribute, getattr(exc, attribute))
    return named


class SqliteStorage(BaseStorage):
    """A queue in an SQLite database file; several queues (names) can share one file."""

    supports_priority = True
    supports_leases = True
    supports_blocking_dequeue = True
    #: What the driver raises for "database is locked" (and other operational errors).
    _operational_error: type[Exception] = sqlite3.OperationalError

    def __init__(
        self,
        name: str = "huey",
        filename: str = "huey.db",
        cache_mb: int = 8,
        fsync: bool = False,
        journal_mode: str = "wal",
        timeout: float = 5,
        strict_fifo: bool = False,
        blocking: bool = True,
        read_timeout: float = 1,
        create_tables: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name)
        if str(journal_mode).lower() not in _JOURNAL_MODES:
            raise ValueError(
                f"SqliteStorage: journal_mode must be one of {sorted(_JOURNAL_MODES)}, "
                f"not {journal_mode!r}"
            )
        self.filename = os.fspath(filename)
        self.cache_mb = cache_mb
        self.fsync = fsync
        self.journal_mode = journal_mode.lower()
        self.timeout = timeout
        self.strict_fifo = strict_fifo
        self.supports_blocking_dequeue = blocking
        self.read_timeout = read_timeout
        self._connect_kwargs = kwargs
        self._queue_wakeups = WakeChannel(channel_directory(self.filename, name, "queue"))
        self._result_wakeups = WakeChannel(channel_directory(self.filename, name, "results"))
        self._local = threading.local()
        if create_tables:
            self.initialize_schema()

    # -- connections ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.filename,
                timeout=self.timeout,
                isolation_level=None,  # Autocommit: each statement is its own transaction.
                check_same_thread=False,
                **self._connect_kwargs,
            )
        except TypeError as exc:
            raise TypeError(f"invalid sqlite3.connect argument: {exc}") from exc
        conn.execute(f"pragma cache_size = {-1000 * int(self.cache_mb)}")
        conn.execute(f"pragma synchronous = {'FULL' if self.fsync else 'NORMAL'}")
        self._with_retry(lambda: conn.execute(f"pragma journal_mode = {self.journal_mode}"))
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection; a forked child opens its own."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            try:
                local.conn = self._connect()
            except TypeError:
                raise
            except Exception as exc:  # The driver's error names no file: say which one.
                raise _naming_file(exc, self.filename) from exc
            local.pid = os.getpid()
        conn: sqlite3.Connection = local.conn
        return conn

    def _with_retry(self, operation: Callable[[], T]) -> T:
        """Run ``operation``, waiting out lock contention beyond the busy timeout.

        The busy handler covers ordinary waits; this covers the rare cases where SQLite
        reports busy at once (WAL recovery, journal mode switches) so it never reaches users.
        """
        deadline = time.monotonic() + max(self.timeout, 1) * 6
        delay = 0.001
        while True:
            try:
                return operation()
            except self._operational_error as exc:
                message = str(exc)
                if "locked" not in message and "busy" not in message:
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self._with_retry(lambda: self.conn.execute(sql, tuple(params)))

    def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        return self._with_retry(lambda: self.conn.execute(sql, tuple(params)).fetchall())

    def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self._with_retry(lambda: self.conn.execute(sql, tuple(params)).fetchone())

    def _transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` in one ``BEGIN EXCLUSIVE`` transaction, retried as a whole when busy.

        Holding the write lock from the start means no other writer can interleave and no read
        lock is ever upgraded; a failed attempt is rolled back, so a retry starts clean. Every
        wait comes before ``body``: in WAL mode EXCLUSIVE is IMMEDIATE, in the rollback journal
        modes it also waits for readers at the start, where IMMEDIATE waits at the commit. So a
        lease deadline ``body`` computes from the clock is not spent waiting before it holds.
        """

        def attempt() -> T:
            conn = self.conn
            conn.execute("begin exclusive")
            try:
                result = body(conn)
                conn.execute("commit")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("rollback")
                raise
            return result

        return self._with_retry(attempt)

    def initialize_schema(self) -> None:
        """Create the tables, indexes and triggers that are missing (``create_tables=True``
        does it on construction)."""
        autoincrement = " autoincrement" if self.strict_fifo else ""
        for statement in _SCHEMA:
            self._execute(statement.format(autoincrement=autoincrement))

    def close(self) -> bool:
        self._queue_wakeups.close()
        self._result_wakeups.close()
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            return False
        conn.close()
        del self._local.conn, self._local.pid
        return True

    # -- queue ---------------------------------------------------------------------------------
    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        self._execute(
            "insert into task (queue, data, priority) values (?, ?, ?)",
            (self.name, data, priority or 0.0),
        )
        self._queue_wakeups.notify()

    def enqueue_many(self, items: Sequence[tuple[bytes, float | None]]) -> None:
        # One multi-row INSERT per chunk: one statement is one transaction, where executemany
        # in autocommit mode would commit (and sync) every row.
        for start in range(0, len(items), _ROWS_PER_INSERT):
            chunk = items[start : start + _ROWS_PER_INSERT]
            values = ", ".join(["(?, ?, ?)"] * len(chunk))
            params = [v for data, prio in chunk for v in (self.name, data, prio or 0.0)]
            self._execute(f"insert into task (queue, data, priority) values {values}", params)
        self._queue_wakeups.notify()

    def dequeue(self) -> bytes | None:
        """The next message; when blocking, waits up to ``read_timeout`` for one."""
        return self._wait_for(self._pop_task)

    def _wait_for(
        self, take: Callable[[], T | None], next_due: Callable[[], float | None] | None = None
    ) -> T | None:
        """``take()``'s first result; when blocking, retried for up to ``read_timeout``.

        Between attempts it sleeps until an enqueue wakes it or, when ``next_due`` gives one,
        until the wall-clock time something else becomes available (a lease lapsing).
        """
        found = take()
        if found is not None or not self.supports_blocking_dequeue:
            return found
        self._queue_wakeups.arm()  # Before the re-check, so no enqueue goes unnoticed.
        deadline = time.monotonic() + self.read_timeout
        while (found := take()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            due = None if next_due is None else next_due()
            if due is not None:
                remaining = min(remaining, due - time.time())
            self._queue_wakeups.wait(remaining)
        return found

    def _pop_task(self) -> bytes | None:
        row = self._fetchone(_POP_TASK, (self.name,))
        return None if row is None else bytes(row[0])

    def queue_size(self) -> int:
        return int(self._fetchone("select count(id) from task where queue = ?", (self.name,))[0])

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        rows = self._fetchall(
            "select data from task where queue = ? order by priority desc, id limit ?",
            (self.name, -1 if limit is None else limit),
        )
        return [bytes(row[0]) for row in rows]

    def flush_queue(self) -> None:
        def flush(conn: sqlite3.Connection) -> None:
            # One transaction: a lease running meanwhile cannot carry a message past both.
            conn.execute("delete from task where queue = ?", (self.name,))
            conn.execute("delete from lease where queue = ?", (self.name,))

        self._transaction(flush)

    # -- leases --------------------------------------------------------------------------------
    def lease(self, visibility_timeout: float) -> Lease | None:
        """The next message, hidden for ``visibility_timeout`` seconds; a lapsed lease first.

        When blocking, waits up to ``read_timeout`` for an enqueue or for a lease to lapse.
        """
        return self._wait_for(lambda: self._lease_once(visibility_timeout), self._next_lapse)

    def _lease_once(self, visibility_timeout: float) -> Lease | None:
        def take(conn: sqlite3.Connection) -> Lease | None:
            token, now = uuid.uuid4().hex, time.time()
            deadline = now + visibility_timeout
            # A new token per delivery, so the holder of a lapsed lease can no longer ack it.
            rows = conn.execute(
                "update lease set token = ?, deliveries = deliveries + 1, deadline = ? "
                "where token = (select token from lease where queue = ? and deadline <= ? "
                "order by deadline limit 1) returning data, deliveries",
                (token, deadline, self.name, now),
            ).fetchall()  # fetchall: run each statement to completion before the commit.
            if rows:
                return Lease(token, bytes(rows[0][0]), int(rows[0][1]))
            rows = conn.execute(_POP_TASK, (self.name,)).fetchall()
            if not rows:
                return None
            data, priority = rows[0]
            conn.execute(
                "insert into lease (token, queue, data, priority, deliveries, deadline) "
                "values (?, ?, ?, ?, 1, ?)",
                (token, self.name, data, priority, deadline),
            )
            return Lease(token, bytes(data), 1)

        return self._transaction(take)

    def _next_lapse(self) -> float | None:
        """When the earliest lease of this queue lapses (wall clock), or None without leases."""
        row = self._fetchone("select min(deadline) from lease where queue = ?", (self.name,))
        return None if row[0] is None else float(row[0])

    def ack(self, lease_id: str) -> bool:
        # A lapsed lease nobody took yet still acknowledges: its token changes when it is
        # leased again, so nobody else can be running it.
        cursor = self._execute(
            "delete from lease where token = ? and queue = ?", (lease_id, self.name)
        )
        return cursor.rowcount > 0

    def extend_lease(self, lease_id: str, visibility_timeout: float) -> bool:
        def extend(conn: sqlite3.Connection) -> bool:
            now = time.time()  # Once the write lock is held: no wait shortens the extension.
            cursor = conn.execute(
                "update lease set deadline = ? where token = ? and queue = ? and deadline > ?",
                (now + visibility_timeout, lease_id, self.name, now),
            )
            return cursor.rowcount > 0

        extended = self._transaction(extend)
        if extended and visibility_timeout <= 0:
            self._queue_wakeups.notify()  # Shown again at once: wake a waiting lease().
        return extended

    def lease_count(self) -> int:
        return int(self._fetchone("select count(*) from lease where queue = ?", (self.name,))[0])

    # -- dead letters --------------------------------------------------------------------------
    def add_dead_letter(self, key: str, data: bytes) -> None:
        self._execute(
            "insert or replace into dead_letter (queue, key, data) values (?, ?, ?)",
            (self.name, key, data),
        )

    def dead_letter_items(self) -> dict[str, bytes]:
        rows = self._fetchall("select key, data from dead_letter where queue = ?", (self.name,))
        return {key: bytes(data) for key, data in rows}

    def dead_letter_count(self) -> int:
        row = self._fetchone("select count(*) from dead_letter where queue = ?", (self.name,))
        return int(row[0])

    def delete_dead_letter(self, key: str) -> bool:
        cursor = self._execute(
            "delete from dead_letter where queue = ? and key = ?", (self.name, key)
        )
        return cursor.rowcount > 0

    def flush_dead_letters(self) -> None:
        self._execute("delete from dead_letter where queue = ?", (self.name,))

    # -- schedule ------------------------------------------------------------------------------
    def add_to_schedule(self, data: bytes, ts: dt.datetime) -> None:
        self._execute(
            "insert into schedule (queue, data, timestamp) values (?, ?, ?)",
            (self.name, data, to_timestamp(ts)),
        )

    def read_schedule(self, ts: dt.datetime) -> list[bytes]:
        rows = self._fetchall(
            "delete from schedule where queue = ? and timestamp <= ? returning timestamp, id, data",
            (self.name, to_timestamp(ts)),
        )
        return [bytes(data) for _, _, data in sorted(rows)]

    def schedule_size(self) -> int:
        row = self._fetchone("select count(id) from schedule where queue = ?", (self.name,))
        return int(row[0])

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        rows = self._fetchall(
            "select data from schedule where queue = ? order by timestamp, id limit ?",
            (self.name, -1 if limit is None else limit),
        )
        return [bytes(row[0]) for row in rows]

    def flush_schedule(self) -> None:
        self._execute("delete from schedule where queue = ?", (self.name,))

    # -- key/value -----------------------------------------------------------------------------
    def put_data(self, key: Key, value: bytes, is_result: bool = False) -> None:
        self._execute(
            "insert or replace into kv (queue, key, value) values (?, ?, ?)",
            (self.name, key_text(key), value),
        )
        if is_result:
            self._result_wakeups.notify()

    def wait_result(
        self,
        key: Key,
        timeout: float | None = None,
        backoff: float = 1.15,
        max_delay: float = 1.0,
    ) -> bool:
        self._result_wakeups.arm()  # Before the first check, so no write goes unnoticed.
        return super().wait_result(key, timeout, backoff, max_delay)

    def sleep_for_result(self, delay: float) -> bool:
        return self._result_wakeups.wait(delay)

    def peek_data(self, key: Key) -> Any:
        row = self._fetchone(
            f"select value from kv where queue = ? and key = ? and {_LIVE}",
            (self.name, key_text(key), time.time()),
        )
        return EmptyData if row is None else bytes(row[0])

    def pop_data(self, key: Key) -> Any:
        row = self._fetchone(
            f"delete from kv where queue = ? and key = ? and {_LIVE} returning value",
            (self.name, key_text(key), time.time()),
        )
        return EmptyData if row is None else bytes(row[0])

    def delete_data(self, key: Key) -> bool:
        cursor = self._execute(
            f"delete from kv where queue = ? and key = ? and {_LIVE}",
            (self.name, key_text(key), time.time()),
        )
        return cursor.rowcount > 0

    def has_data_for_key(self, key: Key) -> bool:
        row = self._fetchone(
            f"select 1 from kv where queue = ? and key = ? and {_LIVE}",
            (self.name, key_text(key), time.time()),
        )
        return row is not None

    def put_if_empty(self, key: Key, value: bytes, ttl: float | None = None) -> bool:
        key, ttl = key_text(key), check_ttl(ttl)

        def put(conn: sqlite3.Connection) -> bool:
            now = time.time()
            # Expired entries of this queue go first (their expiry rows go with them).
            conn.execute(
                "delete from kv where queue = ? and key in (select key from kv_expiry "
                "where queue = ? and expires <= ?)",
                (self.name, self.name, now),
            )
            stored = conn.execute(
                "insert or ignore into kv (queue, key, value) values (?, ?, ?)",
                (self.name, key, value),
            ).rowcount
            if stored and ttl is not None:
                conn.execute(
                    "insert into kv_expiry (queue, key, expires) values (?, ?, ?)",
                    (self.name, key, now + ttl),
                )
            return stored == 1

        return self._transaction(put)

    def result_store_size(self) -> int:
        row = self._fetchone(
            f"select count(*) from kv where queue = ? and {_LIVE}", (self.name, time.time())
        )
        return int(row[0])

    def result_items(self) -> dict[str, bytes]:
        rows = self._fetchall(
            f"select key, value from kv where queue = ? and {_LIVE}", (self.name, time.time())
        )
        return {key: bytes(value) for key, value in rows}

    def flush_results(self) -> None:
        self._execute("delete from kv where queue = ?", (self.name,))

    # -- counters ------------------------------------------------------------------------------
    def incr(self, key: Key, amount: int = 1) -> int:
        row = self._fetchone(
            "insert into counter (queue, key, value) values (?, ?, ?) "
            "on conflict (queue, key) do update set value = value + excluded.value "
            "returning value",
            (self.name, key_text(key), amount),
        )
        return int(row[0])

    def delete_counter(self, key: Key) -> None:
        self._execute("delete from counter where queue = ? and key = ?", (self.name, key_text(key)))

    def flush_counters(self) -> None:
        self._execute("delete from counter where queue = ?", (self.name,))
