"""``throughput-sqlite``, and the measurement every throughput workload shares.

How fast a consumer empties a full queue, results stored. For each implementation and round,
on a fresh queue (a SQLite file here; a private ``redis-server`` for ``throughput-redis``):

1. with no consumer running, ``apps/fill_client.py`` (that implementation) enqueues ``tasks``
   ``echo`` tasks (default settings, so each stores its result) and exits;
2. the harness starts ``huey_consumer APP.huey -k thread -w WORKERS`` and polls the queue
   length and the number of results every ``POLL_SECONDS`` until every task has its result;
   then stops the consumer.

Reported: the time from starting the consumer process until every result exists ("total",
interpreter start-up included) and the tasks per second it gives; the same from the moment the
queue first shrank ("drain", start-up excluded); and the consumer's CPU time per task over the
drain (all its threads; one clock tick, usually 10 ms, is its resolution).

On SQLite the harness counts with the standard library's ``sqlite3``, read-only, in the
tables of huey 3.5.4's layout which this project keeps (``task``, and ``kv`` for results), for
the queue ``bench``; in WAL mode (both implementations' default) a reader never blocks the
consumer's writes.
"""

from __future__ import annotations

import sqlite3
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._envs import APPS, Implementation
from benchmarks._harness import (
    BenchmarkError,
    Consumer,
    Metric,
    Option,
    Variant,
    Workload,
    cpu_seconds,
    register,
    run_client,
)

FILL = APPS / "fill_client.py"
POLL_SECONDS = 0.002
QUEUE_NAME = "bench"

# Counts (tasks left in the queue, results stored).
Counter = Callable[[], tuple[int, int]]


class Throughput(Workload):
    """A pre-filled queue emptied by one consumer; subclasses provide the queue (``queue``)."""

    metrics = (
        Metric("total_s", "total (s)", "{:.3f}", ratio=True),
        Metric("tasks_per_s", "tasks/s", "{:.0f}"),
        Metric("drain_s", "drain (s)", "{:.3f}", ratio=True),
        Metric("drain_tasks_per_s", "drain tasks/s", "{:.0f}"),
        Metric("cpu_us_per_task", "CPU/task (us)", "{:.0f}", ratio=True),
    )
    options = (
        Option("tasks", int, 5000, 200, "tasks queued before the consumer starts"),
        Option("workers", int, 4, 4, "consumer worker threads (-k thread -w N)"),
    )

    @abstractmethod
    @contextmanager
    def queue(
        self,
        impl: Implementation,
        workdir: Path,
        params: dict[str, Any],
        variant: Variant | None,
    ) -> Iterator[tuple[str, dict[str, str], Counter]]:
        """A fresh queue: the app module, the environment of its processes, and its counter."""

    def consumer_args(
        self, impl: Implementation, params: dict[str, Any], variant: Variant | None
    ) -> list[str]:
        """The consumer's options after ``APP.huey``."""
        return ["-k", "thread", "-w", str(params["workers"])]

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{params['tasks']} tasks queued, then huey_consumer -k thread "
            f"-w {params['workers']} started; total: from its start until every result "
            f"exists, drain: from the first task taken"
        )

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        tasks = params["tasks"]
        budget = 120 + tasks * 0.05
        with self.queue(impl, workdir, params, variant) as (app, env, count):
            run_client(impl, FILL, [f"--app={app}", f"--tasks={tasks}"], workdir, env, None, budget)
            queued, _ = count()
            if queued != tasks:
                raise BenchmarkError(f"{impl.label}: {queued} of {tasks} tasks queued")
            command = [f"{app}.huey", *self.consumer_args(impl, params, variant)]
            started = time.monotonic()
            with Consumer(impl, command, workdir, env) as consumer:
                moved = moved_cpu = None
                while True:
                    left, results = count()
                    now = time.monotonic()
                    if moved is None and (left < tasks or results > 0):
                        moved, moved_cpu = now, cpu_seconds(consumer.pid)
                    if results >= tasks:
                        done, done_cpu = now, cpu_seconds(consumer.pid)
                        break
                    if not consumer.alive():
                        raise BenchmarkError(f"{impl.label} consumer exited:\n{consumer.log()}")
                    if now - started > budget:
                        raise BenchmarkError(
                            f"{impl.label}: {results} of {tasks} results after "
                            f"{budget:.0f}s\n{consumer.log()}"
                        )
                    time.sleep(POLL_SECONDS)
        assert moved is not None and moved_cpu is not None
        total, drain = done - started, done - moved
        if drain <= 0:
            raise BenchmarkError(f"{impl.label}: drained between two polls: use more --tasks")
        return {
            "total_s": total,
            "tasks_per_s": tasks / total,
            "drain_s": drain,
            "drain_tasks_per_s": tasks / drain,
            "cpu_us_per_task": (done_cpu - moved_cpu) / tasks * 1e6,
            # Not in the table; in the JSON report's rounds.
            "startup_s": moved - started,
        }


class SqliteThroughput(Throughput):
    name = "throughput-sqlite"
    description = "a queue of no-op tasks emptied by one consumer on SQLite, results stored"

    app = "bench_app"

    def app_env(self, params: dict[str, Any], variant: Variant | None) -> dict[str, str]:
        """Settings of ``app`` beyond its SQLite file."""
        return {}

    @contextmanager
    def queue(
        self,
        impl: Implementation,
        workdir: Path,
        params: dict[str, Any],
        variant: Variant | None,
    ) -> Iterator[tuple[str, dict[str, str], Counter]]:
        db = workdir / "bench.db"
        settings = {"HUEY_BENCH_DB": str(db), "TMPDIR": str(workdir)}
        env = impl.env({**settings, **self.app_env(params, variant)})
        connection: sqlite3.Connection | None = None

        def count() -> tuple[int, int]:
            nonlocal connection
            if connection is None:  # The file exists once the fill client has run.
                connection = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)
            left = connection.execute("select count(*) from task where queue = ?", (QUEUE_NAME,))
            results = connection.execute("select count(*) from kv where queue = ?", (QUEUE_NAME,))
            return left.fetchone()[0], results.fetchone()[0]

        try:
            yield self.app, env, count
        finally:
            if connection is not None:
                connection.close()


register(SqliteThroughput())
