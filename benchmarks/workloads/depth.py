"""``depth-sqlite``, ``depth-redis``: the per-task cost with a shallow and with a deep queue.

For each implementation and round, twice, on a fresh queue each time: ``shallow`` (1,000)
then ``deep`` (1,000,000) tasks queued before ``huey_consumer bench_app.huey -k thread -w 1``
starts. One worker, so the cost per task is that of its loop: dequeue, execute, store the
result. The harness polls the number of results; after the first ``skip`` (start-up and
warm-up left out) it times ``windows`` consecutive windows of ``timed / windows`` tasks each,
each from the poll that first sees its start count to the one that sees its end count, and
the cost per task is the median over the windows of their time over the results stored in
them: a burst of other activity on the machine weighs on one window, not on the result. Both
runs time the same tasks (the first ``skip + timed`` queued, all distinct); only the depth of
the queue behind them differs. The rest of a deep queue is one more task written again and
again (``Queue.fill``'s padding), so filling a million takes seconds; the timed windows end
long before the consumer reaches it.

Reported: us per task at each depth and their ratio, deep / shallow (the issue's goal: at
most 1.25).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from benchmarks._backends import BACKENDS
from benchmarks._envs import Implementation
from benchmarks._harness import (
    LOWER,
    BenchmarkError,
    Metric,
    Option,
    Target,
    Variant,
    Workload,
    median,
    register,
)

TARGET = Target("ours", "<=", 1.25, "<=1.25")
DEPTHS = ("shallow", "deep")


class Depth(Workload):
    family = "depth"
    description = "per-task cost of one worker (-k thread -w 1) with a shallow and a deep queue"
    default_rounds = 3
    metrics = (
        Metric("us_per_task_shallow", "us/task @{shallow}", "{:.0f}", better=LOWER),
        Metric("us_per_task_deep", "us/task @{deep}", "{:.0f}", better=LOWER),
        Metric("deep_over_shallow", "@{deep} / @{shallow}", "{:.3f}", better=LOWER),
    )
    options = (
        Option("shallow", int, 1000, 1000, "tasks queued for the shallow run"),
        Option("deep", int, 1_000_000, 20_000, "tasks queued for the deep run"),
        Option("skip", int, 100, 50, "tasks run before the timed window"),
        Option("timed", int, 800, 200, "tasks timed, after the skipped ones"),
        Option("windows", int, 8, 2, "windows the timed tasks are split in (median of them)"),
    )

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{self.description}, on {self.backend.label}: {params['shallow']} and "
            f"{params['deep']} tasks queued; tasks {params['skip']} to "
            f"{params['skip'] + params['timed']} timed, median of {params['windows']} windows"
        )

    def target(self, variant: Variant | None, metric: Metric) -> Target | None:
        return TARGET if metric.key == "deep_over_shallow" else None

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        measured = params["skip"] + params["timed"]
        if measured > params["shallow"] or params["shallow"] > params["deep"]:
            raise BenchmarkError("depth: needs skip + timed <= shallow <= deep")
        if not 1 <= params["windows"] <= params["timed"]:
            raise BenchmarkError("depth: needs 1 <= windows <= timed")
        metrics = {}
        for depth in DEPTHS:
            run_dir = workdir / depth
            run_dir.mkdir()
            metrics[f"us_per_task_{depth}"] = self.per_task(impl, params, run_dir, params[depth])
        metrics["deep_over_shallow"] = metrics["us_per_task_deep"] / metrics["us_per_task_shallow"]
        return metrics

    def per_task(
        self, impl: Implementation, params: dict[str, Any], workdir: Path, depth: int
    ) -> float:
        skip, timed, windows = params["skip"], params["timed"], params["windows"]
        measured = skip + timed
        budget = 120 + measured * 0.05
        with self.backend.open(impl, workdir) as queue:
            queue.fill(measured, padding=depth - measured)
            with queue.consumer("-k", "thread", "-w", "1") as consumer:
                # (time, results seen) at each window's edge.
                edges = [
                    queue.wait_for_results(skip + timed * i // windows, consumer, budget)
                    for i in range(windows + 1)
                ]
        costs = [
            (end - start) / (last - first)
            for (start, first), (end, last) in itertools.pairwise(edges)
            if last > first  # A poll that saw past two edges leaves an empty window.
        ]
        if not costs:
            raise BenchmarkError(f"{impl.label}: every timed window is empty: use more --timed")
        return median(costs) * 1e6


for _backend in BACKENDS.values():
    register(Depth(_backend))
