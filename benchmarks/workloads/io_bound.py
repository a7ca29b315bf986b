"""``io-bound-sqlite``, ``io-bound-redis``: tasks that each wait 0.1 s, at a concurrency of 100.

The measurement of ``throughput`` (fill the queue with no consumer running, start the
consumer, poll until every result exists), with a task that waits ``sleep`` seconds: a
consumer of ``workers`` concurrent workers cannot exceed ``workers / sleep`` tasks per second
(1000/s for 100 and 0.1 s: the ceiling; 1000 tasks then take at least 1 s). Two variants:

- ``greenlet``: both implementations run ``huey_consumer -k greenlet -w WORKERS`` with a task
  calling ``time.sleep`` (cooperative: ``bench_app`` monkey-patches first);
- ``asyncio``: this project runs ``-k asyncio -w WORKERS`` with an ``async def`` task awaiting
  ``asyncio.sleep``; huey 3.5.4 has no asyncio worker type, so its row there is its
  ``-k greenlet`` run again, the closest it offers.

Reported: the drain rate (from the queue first shrinking until every result exists; consumer
start-up excluded), that rate as a share of the ceiling, and the drain and total times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks._backends import BACKENDS, SQLITE, app_settings
from benchmarks._envs import Implementation
from benchmarks._harness import (
    HIGHER,
    LOWER,
    Metric,
    Option,
    Target,
    Variant,
    WorkloadResult,
    register,
)
from benchmarks.workloads.throughput import Throughput, Workers

GREENLET = Workers("greenlet", "greenlet", "greenlet")
ASYNCIO = Workers("asyncio", "asyncio (huey 3.5.4: greenlet)", "asyncio")
# The goal: within 5% of the ceiling.
TARGET = Target("ours", ">=", 95.0, ">=95%")


class IoBound(Throughput):
    family = "io-bound"
    description = "tasks sleeping 0.1 s at a concurrency of 100 (-k greenlet, -k asyncio)"
    variants = (GREENLET, ASYNCIO)
    default_rounds = 3
    metrics = (
        Metric("drain_tasks_per_s", "drain tasks/s", "{:.0f}", better=HIGHER),
        Metric("ceiling_percent", "% of ceiling", "{:.1f}", better=HIGHER),
        Metric("drain_s", "drain (s)", "{:.3f}", better=LOWER),
        Metric("total_s", "total (s)", "{:.3f}", better=LOWER),
    )
    headline_metrics = ("drain_tasks_per_s", "ceiling_percent")
    options = (
        Option("tasks", int, 1000, 100, "tasks queued before the consumer starts"),
        Option("workers", int, 100, 100, "consumer concurrency (-w N)"),
        Option("sleep", float, 0.1, 0.1, "seconds each task waits"),
    )

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{params['tasks']} tasks each waiting {params['sleep']:g} s, queued on "
            f"{self.backend.label}, then huey_consumer -w {params['workers']} started; "
            f"ceiling {self.ceiling(params):.0f} tasks/s"
        )

    def target(self, variant: Variant | None, metric: Metric) -> Target | None:
        return TARGET if metric.key == "ceiling_percent" else None

    def consumer_variant(self, impl: Implementation, variant: Variant | None) -> Workers:
        """huey 3.5.4 has no asyncio worker type: it runs the greenlet variant instead."""
        return (
            GREENLET
            if variant == ASYNCIO and impl.key != "ours"
            else super().consumer_variant(impl, variant)
        )

    def settings(self, params: dict[str, Any], variant: Workers) -> dict[str, str]:
        asyncio = variant.kind == "asyncio"
        return app_settings(
            gevent=not asyncio,
            sleep=params["sleep"],
            asyncio=asyncio,
            max_connections=params["workers"] + 50,  # Workers, scheduler, result writes.
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


for _backend in BACKENDS.values():
    register(IoBound(_backend, aliases=("io-bound",) if _backend is SQLITE else ()))
