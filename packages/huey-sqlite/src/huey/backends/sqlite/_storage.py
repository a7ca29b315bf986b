"""``SqliteStorage``: queue, schedule, results and counters in one SQLite file.

SQLite cannot push, so waiters do not poll it: an idle ``dequeue`` and a blocking result read
sleep on a wake channel (``_wakeup``) that writers on this machine signal, and re-check on a
timer as well, for writers that do not signal (huey 3.5.4, another machine on a shared disk).

The tables are those of huey 3.5.4, so a file moves between the two in either direction.
Every operation is one autocommit statement (``DELETE ... RETURNING`` for the destructive
reads): a statement is atomic on its own, and no transaction ever has to upgrade a read lock
to a write lock, which is what makes SQLite answer "database is locked" under contention.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from huey.backends.sqlite._wakeup import WakeChannel, channel_directory
from huey.constants import EmptyData
from huey.storage import BaseStorage
from huey.utils import to_timestamp

T = TypeVar("T")

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
)
_JOURNAL_MODES = frozenset({"delete", "truncate", "persist", "memory", "wal", "off"})


class SqliteStorage(BaseStorage):
    """A queue in an SQLite database file; several queues (names) can share one file."""

    supports_priority = True
    supports_blocking_dequeue = True

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
            self._create_tables()

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
            local.conn, local.pid = self._connect(), os.getpid()
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
            except sqlite3.OperationalError as exc:
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

    def _create_tables(self) -> None:
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

    def dequeue(self) -> bytes | None:
        """The next message; when blocking, waits up to ``read_timeout`` for one."""
        data = self._pop_task()
        if data is not None or not self.supports_blocking_dequeue:
            return data
        self._queue_wakeups.arm()  # Before the re-check, so no enqueue goes unnoticed.
        deadline = time.monotonic() + self.read_timeout
        while (data := self._pop_task()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._queue_wakeups.wait(remaining)
        return data

    def _pop_task(self) -> bytes | None:
        row = self._fetchone(
            "delete from task where id = (select id from task where queue = ? "
            "order by priority desc, id limit 1) returning data",
            (self.name,),
        )
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
        self._execute("delete from task where queue = ?", (self.name,))

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
    def put_data(self, key: str, value: bytes, is_result: bool = False) -> None:
        self._execute(
            "insert or replace into kv (queue, key, value) values (?, ?, ?)",
            (self.name, key, value),
        )
        if is_result:
            self._result_wakeups.notify()

    def wait_result(
        self,
        key: str,
        timeout: float | None = None,
        backoff: float = 1.15,
        max_delay: float = 1.0,
    ) -> bool:
        self._result_wakeups.arm()  # Before the first check, so no write goes unnoticed.
        return super().wait_result(key, timeout, backoff, max_delay)

    def sleep_for_result(self, delay: float) -> bool:
        return self._result_wakeups.wait(delay)

    def peek_data(self, key: str) -> Any:
        row = self._fetchone("select value from kv where queue = ? and key = ?", (self.name, key))
        return EmptyData if row is None else bytes(row[0])

    def pop_data(self, key: str) -> Any:
        row = self._fetchone(
            "delete from kv where queue = ? and key = ? returning value", (self.name, key)
        )
        return EmptyData if row is None else bytes(row[0])

    def delete_data(self, key: str) -> bool:
        cursor = self._execute("delete from kv where queue = ? and key = ?", (self.name, key))
        return cursor.rowcount > 0

    def has_data_for_key(self, key: str) -> bool:
        row = self._fetchone("select 1 from kv where queue = ? and key = ?", (self.name, key))
        return row is not None

    def put_if_empty(self, key: str, value: bytes) -> bool:
        cursor = self._execute(
            "insert or ignore into kv (queue, key, value) values (?, ?, ?)",
            (self.name, key, value),
        )
        return cursor.rowcount == 1

    def result_store_size(self) -> int:
        return int(self._fetchone("select count(*) from kv where queue = ?", (self.name,))[0])

    def result_items(self) -> dict[str, bytes]:
        rows = self._fetchall("select key, value from kv where queue = ?", (self.name,))
        return {key: bytes(value) for key, value in rows}

    def flush_results(self) -> None:
        self._execute("delete from kv where queue = ?", (self.name,))

    # -- counters ------------------------------------------------------------------------------
    def incr(self, key: str, amount: int = 1) -> int:
        row = self._fetchone(
            "insert into counter (queue, key, value) values (?, ?, ?) "
            "on conflict (queue, key) do update set value = value + excluded.value "
            "returning value",
            (self.name, key, amount),
        )
        return int(row[0])

    def delete_counter(self, key: str) -> None:
        self._execute("delete from counter where queue = ? and key = ?", (self.name, key))

    def flush_counters(self) -> None:
        self._execute("delete from counter where queue = ?", (self.name,))
