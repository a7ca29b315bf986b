"""``memory-sqlite``, ``memory-redis``: the consumer's resident memory as tasks go through it.

For each implementation and round, on a fresh queue: start ``huey_consumer bench_app.huey -k
thread -w WORKERS`` with nothing queued and read its RSS once it is steady (idle); then queue
``first`` (10,000) no-op tasks (``Queue.fill``, in bulk, the consumer running), wait until
every result is stored, read the RSS again once steady; then queue more tasks up to
``second`` (100,000) in all and read it a third time. RSS is summed over the consumer and its
descendant processes (worker processes, with another worker type), from ``/proc``; "steady"
is two readings ``settle_seconds`` apart within 1% of each other.

Reported: the three readings (MB) and the growth ratio from ``first`` to ``second`` (the
issue's goal: at most 1.10, a consumer whose memory does not grow with the tasks it ran).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks._backends import BACKENDS
from benchmarks._envs import Implementation
from benchmarks._harness import (
    LOWER,
    BenchmarkError,
    Consumer,
    Metric,
    Option,
    Target,
    Variant,
    Workload,
    register,
    tree_rss_bytes,
)

POLL_SECONDS = 0.05  # Counting 100,000 results in SQLite is not free: poll slowly.
STEADY_TIMEOUT = 30.0
TARGET = Target("ours", "<=", 1.10, "<=1.10")
MB = 1024 * 1024


def steady_rss(consumer: Consumer, settle: float) -> int:
    """The consumer's RSS once two readings ``settle`` seconds apart are within 1%."""
    deadline = time.monotonic() + STEADY_TIMEOUT
    previous = tree_rss_bytes(consumer.pid)
    while True:
        time.sleep(settle)
        consumer.check()
        current = tree_rss_bytes(consumer.pid)
        if abs(current - previous) <= previous / 100 or time.monotonic() > deadline:
            return current
        previous = current


class Memory(Workload):
    family = "memory"
    description = "consumer RSS (-k thread -w 4): idle, then after 10,000 and 100,000 tasks"
    default_rounds = 2
    metrics = (
        Metric("rss_idle_mb", "RSS idle (MB)", "{:.1f}", better=LOWER),
        Metric("rss_first_mb", "RSS @{first} (MB)", "{:.1f}", better=LOWER),
        Metric("rss_second_mb", "RSS @{second} (MB)", "{:.1f}", better=LOWER),
        Metric("growth", "growth @{first}->@{second}", "{:.3f}", better=LOWER),
    )
    options = (
        Option("first", int, 10_000, 200, "tasks run before the second reading"),
        Option("second", int, 100_000, 1000, "tasks run in all before the third reading"),
        Option("workers", int, 4, 4, "consumer worker threads (-k thread -w N)"),
        Option("settle_seconds", float, 1.0, 0.1, "seconds between readings of a steady RSS"),
    )

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"RSS of huey_consumer -k thread -w {params['workers']} on {self.backend.label}: "
            f"idle, after {params['first']} and after {params['second']} no-op tasks"
        )

    def target(self, variant: Variant | None, metric: Metric) -> Target | None:
        return TARGET if metric.key == "growth" else None

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        first, second, settle = params["first"], params["second"], params["settle_seconds"]
        if not 0 < first < second:
            raise BenchmarkError("memory: needs 0 < first < second")
        with (
            self.backend.open(impl, workdir) as queue,
            queue.consumer("-k", "thread", "-w", str(params["workers"])) as consumer,
        ):
            readings = [steady_rss(consumer, settle)]
            for done, more in ((first, first), (second, second - first)):
                queue.fill(more, consumer=consumer)
                queue.wait_for_results(done, consumer, 120 + more * 0.05, POLL_SECONDS)
                readings.append(steady_rss(consumer, settle))
        idle, after_first, after_second = (reading / MB for reading in readings)
        return {
            "rss_idle_mb": idle,
            "rss_first_mb": after_first,
            "rss_second_mb": after_second,
            "growth": after_second / after_first,
        }


for _backend in BACKENDS.values():
    register(Memory(_backend))
