"""Where a run's queue lives: a fresh SQLite file, or a fresh private ``redis-server``.

Every workload runs on one backend. ``Backend.open`` gives a run its ``Queue``: the
environment of the implementation's processes (``apps/bench_app.py`` reads its backend and
settings from it, see ``app_settings``), the harness's own counters of pending messages and
stored results (read without ``huey``: ``sqlite3`` read-only on the tables of huey 3.5.4's
layout, which this project keeps, or RESP on its keys), and the helpers that start that
implementation's fill client and consumer against it.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks._envs import APPS, Implementation
from benchmarks._harness import BenchmarkError, Consumer, run_client, wait_until
from benchmarks._redis import QUEUE_KEY, RESULTS_KEY, RedisServer, Resp

APP = "bench_app"  # The application module of every workload (benchmarks/apps/).
QUEUE_NAME = "bench"  # Its queue's name.
FILL = APPS / "fill_client.py"
# ``--log``: the arguments every ``huey_consumer`` of both implementations gets, and what they
# mean. "info", the default of both: huey 3.5.4 logs ``Executing …`` and ``… executed in
# 0.000s`` for every task, in the same words as this project. "quiet": ``-q``, warnings and
# errors only, so neither logs per task. The difference is what per-task logging costs.
CONSUMER_LOGS: dict[str, tuple[str, ...]] = {"info": (), "quiet": ("-q",)}
LOG_MEANINGS = {
    "info": "default logging (INFO): both implementations log two lines per task",
    "quiet": "-q (WARNING): neither implementation logs per task",
}


def app_settings(
    *,
    notify_result: bool = False,
    gevent: bool = False,
    sleep: float = 0.0,
    asyncio: bool = False,
    max_connections: int | None = None,
) -> dict[str, str]:
    """``bench_app``'s settings as environment variables: ``notify_result=True`` (Redis),
    gevent's monkey-patching first (for ``-k greenlet``: huey 3.5.4's consumer leaves it to
    the application), the task's body (a no-op, or waiting ``sleep`` seconds with
    ``time.sleep`` or, ``asyncio``, as an ``async def`` awaiting ``asyncio.sleep``), and on
    Redis a connection pool of ``max_connections`` instead of redis-py's default (100 since
    redis-py 8: too few for huey 3.5.4's 100 greenlet workers, each holding one)."""
    settings = {}
    if notify_result:
        settings["HUEY_BENCH_NOTIFY_RESULT"] = "1"
    if max_connections:
        settings["HUEY_BENCH_MAX_CONNECTIONS"] = str(max_connections)
    if gevent:
        settings["HUEY_BENCH_GEVENT"] = "1"
    if sleep:
        settings["HUEY_BENCH_SLEEP"] = repr(sleep)
    if asyncio:
        settings["HUEY_BENCH_ASYNC"] = "1"
    return settings


@dataclass
class Queue:
    """One run's queue, for one implementation: ``pending()`` and ``results()`` count it."""

    impl: Implementation
    workdir: Path
    env: dict[str, str]
    pending: Callable[[], int]
    results: Callable[[], int]
    redis_port: int | None = None  # The private server's port, on Redis.

    def fill(self, tasks: int, padding: int = 0, consumer: Consumer | None = None) -> None:
        """Queue ``tasks`` distinct ``echo`` tasks, then ``padding`` copies of one more behind
        them, written in bulk by the implementation's ``apps/fill_client.py``.

        With no ``consumer`` running, the count queued is checked."""
        args = [f"--tasks={tasks}", f"--padding={padding}", f"--redis-key={QUEUE_KEY}"]
        timeout = 120 + tasks * 1e-3 + padding * 1e-4
        # Only the consumer needs gevent's patching; importing gevent costs the fill a while.
        env = {key: value for key, value in self.env.items() if key != "HUEY_BENCH_GEVENT"}
        run_client(self.impl, FILL, args, self.workdir, env, consumer, timeout)
        if consumer is None:
            queued = self.pending()
            if queued != tasks + padding:
                raise BenchmarkError(f"{self.impl.label}: {queued} of {tasks + padding} queued")

    def wait_for_results(
        self, count: int, consumer: Consumer, timeout: float, poll: float = 0.002
    ) -> tuple[float, int]:
        """The first poll seeing at least ``count`` results: its time (``time.monotonic``)
        and the count it saw."""
        seen = 0

        def reached() -> bool:
            nonlocal seen
            seen = self.results()
            return seen >= count

        what = f"{self.impl.label}: {count} results"
        return wait_until(reached, consumer, timeout, what, poll), seen

    def consumer(self, *args: str) -> Consumer:
        """``huey_consumer bench_app.huey ARGS`` of the implementation, on this queue, logging
        as ``impl.consumer_log`` says (``CONSUMER_LOGS``)."""
        logging = CONSUMER_LOGS[self.impl.consumer_log]
        return Consumer(self.impl, [f"{APP}.huey", *logging, *args], self.workdir, self.env)

    def client(
        self, script: Path, args: list[str], consumer: Consumer | None, timeout: float
    ) -> str:
        """Run ``script`` (of ``apps/``) with the implementation's interpreter on this queue."""
        return run_client(self.impl, script, args, self.workdir, self.env, consumer, timeout)


@contextmanager
def private_tmpdir() -> Iterator[str]:
    """A fresh temporary directory for a run's processes (``$TMPDIR``), removed after it.

    What an implementation keeps there (this project's SQLite wake-up sockets) goes with the
    run. It is made in the system's temporary directory, not in the run's directory: a Unix
    socket's path may not exceed about 100 bytes.
    """
    path = tempfile.mkdtemp(prefix="hb-tmp-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Backend(ABC):
    key: str  # "sqlite" or "redis": the suffix of the workloads' names.
    label: str
    needs_redis: bool = False

    @abstractmethod
    @contextmanager
    def open(
        self, impl: Implementation, workdir: Path, settings: Mapping[str, str] | None = None
    ) -> Iterator[Queue]:
        """A fresh, empty queue in ``workdir`` for ``impl``, with ``app_settings``."""


class Sqlite(Backend):
    key, label = "sqlite", "SQLite"

    @contextmanager
    def open(
        self, impl: Implementation, workdir: Path, settings: Mapping[str, str] | None = None
    ) -> Iterator[Queue]:
        db = workdir / "bench.db"
        connection: sqlite3.Connection | None = None

        def count(table: str) -> int:
            nonlocal connection
            if connection is None:
                if not db.exists():  # Created by the first client or consumer.
                    return 0
                # Read-only; in WAL mode (both implementations' default) a reader never
                # blocks the consumer's writes.
                connection = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)
            try:
                row = connection.execute(
                    f"select count(*) from {table} where queue = ?", (QUEUE_NAME,)
                ).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return 0
                raise
            return int(row[0])

        try:
            with private_tmpdir() as tmpdir:
                env = impl.env({"HUEY_BENCH_DB": str(db), "TMPDIR": tmpdir, **(settings or {})})
                yield Queue(impl, workdir, env, lambda: count("task"), lambda: count("kv"))
        finally:
            if connection is not None:
                connection.close()


class Redis(Backend):
    key, label = "redis", "Redis"
    needs_redis = True

    @contextmanager
    def open(
        self, impl: Implementation, workdir: Path, settings: Mapping[str, str] | None = None
    ) -> Iterator[Queue]:
        with (
            RedisServer(workdir) as server,
            Resp(server.port) as control,
            private_tmpdir() as tmpdir,
        ):
            env = impl.env(
                {"HUEY_BENCH_REDIS_URL": server.url, "TMPDIR": tmpdir, **(settings or {})}
            )
            yield Queue(
                impl,
                workdir,
                env,
                lambda: int(control.command("LLEN", QUEUE_KEY)),
                lambda: int(control.command("HLEN", RESULTS_KEY)),
                redis_port=server.port,
            )


SQLITE, REDIS = Sqlite(), Redis()
BACKENDS: dict[str, Backend] = {backend.key: backend for backend in (SQLITE, REDIS)}
