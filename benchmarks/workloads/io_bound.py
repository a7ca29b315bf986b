"""``io-bound``: a queue of tasks that each wait 0.1 s, emptied at a concurrency of 100.

The measurement of ``throughput-sqlite`` (fill the queue with no consumer running, start the
consumer, poll the SQLite file until every result exists) with ``apps/io_bound_app.py``: each
task waits ``sleep`` seconds, so ``workers`` concurrent workers cannot exceed
``workers / sleep`` tasks per second (1000/s for 100 and 0.1 s, the ceiling). Two variants:

- ``greenlet``: both implementations run ``huey_consumer -k greenlet -w WORKERS`` with a task
  calling ``time.sleep`` (which the consumer's gevent monkey-patching makes cooperative);
- ``asyncio``: this project runs ``-k asyncio -w WORKERS`` with an ``async def`` task awaiting
  ``asyncio.sleep``; huey 3.5.4 has no asyncio worker type, so its row there is its
  ``-k greenlet`` run again, the closest it offers.

Reported: the drain rate (from the queue first shrinking until every result exists; consumer
start-up excluded) and its share of the ceiling, and the total time from starting the
consumer. This is the standalone ``packages/huey-asyncio/benchmarks/io_bound.py`` measurement,
side by side with huey 3.5.4.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from benchmarks._envs import Implementation
from benchmarks._harness import Metric, Option, Variant, WorkloadResult, register
from benchmarks.workloads.throughput import Counter, SqliteThroughput

GREENLET = Variant("greenlet", "-k greenlet, time.sleep")
ASYNCIO = Variant("asyncio", "ours -k asyncio (async def); huey 3.5.4 -k greenlet")


class IoBound(SqliteThroughput):
    name = "io-bound"
    description = "tasks sleeping 0.1 s at a concurrency of 100 (-k greenlet, -k asyncio)"
    app = "io_bound_app"
    variants = (GREENLET, ASYNCIO)
    needs_gevent = True
    default_rounds = 3
    metrics = (
        Metric("drain_tasks_per_s", "drain tasks/s", "{:.0f}"),
        Metric("ceiling_percent", "% of ceiling", "{:.1f}"),
        Metric("drain_s", "drain (s)", "{:.3f}", ratio=True),
        Metric("total_s", "total (s)", "{:.3f}", ratio=True),
    )
    options = (
        Option("tasks", int, 1000, 300, "tasks queued before the consumer starts"),
        Option("workers", int, 100, 100, "consumer concurrency (-w N)"),
        Option("sleep", float, 0.1, 0.1, "seconds each task waits"),
    )

    def app_env(self, params: dict[str, Any], variant: Variant | None) -> dict[str, str]:
        mode = "async" if variant == ASYNCIO else "sync"
        return {"HUEY_BENCH_SLEEP": str(params["sleep"]), "HUEY_BENCH_IO_MODE": mode}

    def app_variant(self, impl: Implementation, variant: Variant | None) -> Variant | None:
        """huey 3.5.4 has no asyncio worker type: it runs the greenlet variant instead."""
        return GREENLET if variant == ASYNCIO and impl.key != "ours" else variant

    def queue(
        self,
        impl: Implementation,
        workdir: Path,
        params: dict[str, Any],
        variant: Variant | None,
    ) -> AbstractContextManager[tuple[str, dict[str, str], Counter]]:
        return super().queue(impl, workdir, params, self.app_variant(impl, variant))

    def consumer_args(
        self, impl: Implementation, params: dict[str, Any], variant: Variant | None
    ) -> list[str]:
        kind = "asyncio" if self.app_variant(impl, variant) == ASYNCIO else "greenlet"
        return ["-k", kind, "-w", str(params["workers"])]

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{params['tasks']} tasks each waiting {params['sleep']:g} s, queued, then "
            f"huey_consumer -w {params['workers']} started; ceiling "
            f"{self.ceiling(params):.0f} tasks/s"
        )

    @staticmethod
    def ceiling(params: dict[str, Any]) -> float:
        return float(params["workers"] / params["sleep"])

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        metrics = super().run_once(impl, params, workdir, seed, variant)
        metrics["ceiling_percent"] = 100.0 * metrics["drain_tasks_per_s"] / self.ceiling(params)
        return metrics

    def notes(self, result: WorkloadResult) -> list[str]:
        return [
            "huey 3.5.4 has no asyncio worker type: its asyncio row is another -k greenlet run."
        ]


register(IoBound())
