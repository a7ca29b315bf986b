"""``enqueue-sqlite``, ``enqueue-redis``: how fast one producer enqueues, no consumer running.

For each implementation, round and variant, on a fresh queue, ``apps/enqueue_client.py``
(that implementation) enqueues ``tasks`` ``echo`` tasks after a few untimed warm-up ones:

- ``single``: ``tasks`` calls ``echo(i)``, each enqueueing one task;
- ``map``: ``echo.map(batch)`` over batches of ``batch`` arguments;
- ``group``: ``huey.enqueue(group([echo.s(i), ...]))`` over batches of ``batch`` signatures.

The batch forms are where an implementation can pipeline its writes. Reported: tasks enqueued
per second and the time per task (us), timed inside the client from the first enqueue to the
last (interpreter start-up and imports excluded).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks._backends import BACKENDS
from benchmarks._envs import APPS, Implementation
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
)

CLIENT = APPS / "enqueue_client.py"
SINGLE = Variant("single", "single calls")
MAP = Variant("map", "task.map(batch)")
GROUP = Variant("group", "group(batch)")
# The issue's goals: single calls 1.5x huey 3.5.4's rate; batches 100,000 tasks/s on Redis.
SINGLE_TARGET = Target("ratio", ">=", 1.5, ">=1.5x")
BATCH_TARGET = Target("ours", ">=", 100_000, ">=100k/s")


class Enqueue(Workload):
    family = "enqueue"
    description = "enqueue rate of one producer, no consumer: task(i), task.map, group"
    variants = (SINGLE, MAP, GROUP)
    metrics = (
        Metric("tasks_per_s", "tasks/s", "{:.0f}", better=HIGHER),
        Metric("us_per_task", "us/task", "{:.1f}", better=LOWER),
    )
    headline_metrics = ("tasks_per_s",)
    options = (
        Option("tasks", int, 10000, 200, "tasks enqueued per run"),
        Option("batch", int, 1000, 50, "tasks per task.map call or group"),
    )
    default_rounds = 3

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{params['tasks']} tasks enqueued by one process on {self.backend.label}, "
            f"no consumer; task.map and groups in batches of {params['batch']}"
        )

    def target(self, variant: Variant | None, metric: Metric) -> Target | None:
        if metric.key != "tasks_per_s":
            return None
        if variant == SINGLE:
            return SINGLE_TARGET
        return BATCH_TARGET if self.backend.key == "redis" else None

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        assert variant is not None
        out = workdir / "enqueue.json"
        tasks = params["tasks"]
        args = [str(out), f"--mode={variant.key}", f"--tasks={tasks}", f"--batch={params['batch']}"]
        with self.backend.open(impl, workdir) as queue:
            queue.client(CLIENT, args, None, timeout=120 + tasks * 0.01)
        answer = json.loads(out.read_text())
        if answer["huey_version"] != impl.huey_version:
            raise BenchmarkError(f"{impl.label}: the client ran huey {answer['huey_version']}")
        seconds = answer["seconds"]
        if seconds <= 0:
            raise BenchmarkError(f"{impl.label}: enqueued in no measurable time: more --tasks")
        return {
            "tasks_per_s": tasks / seconds,
            "us_per_task": seconds / tasks * 1e6,
            "seconds": seconds,  # Not in the table; in the JSON report's rounds.
        }


for _backend in BACKENDS.values():
    register(Enqueue(_backend))
