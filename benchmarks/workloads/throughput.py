"""``throughput-sqlite``, ``throughput-redis``: how fast a consumer empties a full queue.

No-op tasks, results stored. For each implementation, round and worker type (``-k thread -w
4``, ``-k process -w 2``, ``-k greenlet -w 50``), on a fresh queue:

1. with no consumer running, the implementation's fill client queues ``tasks`` ``echo``
   tasks (``Queue.fill``: its own serialized messages, written in bulk);
2. the harness starts ``huey_consumer bench_app.huey -k KIND -w N`` and polls the queue
   length and the number of results every ``POLL_SECONDS`` until every task has its result;
   then stops the consumer.

Reported: the time from starting the consumer process until every result exists ("total",
interpreter start-up included) and the tasks per second it gives; the same from the moment the
queue first shrank ("drain", start-up excluded: the throughput the summary shows); and the CPU
time per task over the drain, of the consumer and its worker processes (one clock tick,
usually 10 ms, is its resolution).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._backends import BACKENDS, app_settings
from benchmarks._envs import Implementation
from benchmarks._harness import (
    HIGHER,
    LOWER,
    BenchmarkError,
    Metric,
    Option,
    Target,
    Variant,
    Workload,
    register,
    tree_cpu_seconds,
    wait_until,
)

POLL_SECONDS = 0.002


@dataclass(frozen=True)
class Workers(Variant):
    """A consumer's worker type (``-k``) and count (``-w``; None: the ``workers`` option)."""

    kind: str = "thread"
    workers: int | None = None


THREAD = Workers("thread", "thread x4", "thread", 4)
PROCESS = Workers("process", "process x2", "process", 2)
GREENLET = Workers("greenlet", "greenlet x50", "greenlet", 50)
# The issue's goal: three times huey 3.5.4's throughput, on either backend.
TARGET = Target("ratio", ">=", 3.0, ">=3x")


class Throughput(Workload):
    """A pre-filled queue emptied by one consumer, once per worker type."""

    family = "throughput"
    description = "a queue of no-op tasks emptied by one consumer, results stored"
    variants: tuple[Variant, ...] = (THREAD, PROCESS, GREENLET)
    needs_gevent = True
    default_rounds = 3
    metrics: tuple[Metric, ...] = (
        Metric("total_s", "total (s)", "{:.3f}", better=LOWER),
        Metric("tasks_per_s", "tasks/s", "{:.0f}", better=HIGHER),
        Metric("drain_s", "drain (s)", "{:.3f}", better=LOWER),
        Metric("drain_tasks_per_s", "drain tasks/s", "{:.0f}", better=HIGHER),
        Metric("cpu_us_per_task", "CPU/task (us)", "{:.0f}", better=LOWER),
    )
    headline_metrics: tuple[str, ...] = ("drain_tasks_per_s",)
    options: tuple[Option, ...] = (
        Option("tasks", int, 5000, 100, "tasks queued before the consumer starts"),
    )

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{params['tasks']} no-op tasks queued on {self.backend.label}, then huey_consumer "
            "started; total: from its start until every result exists, drain: from the first "
            "task taken"
        )

    def target(self, variant: Variant | None, metric: Metric) -> Target | None:
        return TARGET if metric.key == "drain_tasks_per_s" else None

    def consumer_variant(self, impl: Implementation, variant: Variant | None) -> Workers:
        """The worker type ``impl`` runs for ``variant``."""
        assert isinstance(variant, Workers)
        return variant

    def settings(self, params: dict[str, Any], variant: Workers) -> dict[str, str]:
        """``bench_app``'s settings for a run."""
        return app_settings(gevent=variant.kind == "greenlet")

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        tasks = params["tasks"]
        workers = self.consumer_variant(impl, variant)
        count = workers.workers or params["workers"]
        budget = 120 + tasks * 0.05
        with self.backend.open(impl, workdir, self.settings(params, workers)) as queue:
            queue.fill(tasks)
            started = time.monotonic()
            with queue.consumer("-k", workers.kind, "-w", str(count)) as consumer:
                moved = wait_until(
                    lambda: queue.pending() < tasks or queue.results() > 0,
                    consumer,
                    budget,
                    f"{impl.label}: no task taken",
                    POLL_SECONDS,
                )
                moved_cpu = tree_cpu_seconds(consumer.pid)
                done, _ = queue.wait_for_results(tasks, consumer, budget, POLL_SECONDS)
                done_cpu = tree_cpu_seconds(consumer.pid)
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


for _backend in BACKENDS.values():
    register(Throughput(_backend))
