"""``enqueue-sqlite`` and ``enqueue-redis``: how fast one producer enqueues, no consumer running.

For each implementation, round and variant, on a fresh SQLite file (``bench_app``) or a fresh
private ``redis-server`` (``bench_redis_app``, default settings), ``apps/enqueue_client.py``
(that implementation) enqueues ``tasks`` ``echo`` tasks after a few untimed warm-up ones:

- ``single``: ``tasks`` calls ``echo(i)``, each enqueueing one task;
- ``map``: ``echo.map(batch)`` over batches of ``batch`` arguments.

Reported: tasks enqueued per second and the time per task (us), timed inside the client from
the first enqueue to the last (interpreter start-up and imports excluded).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks._envs import APPS, Implementation
from benchmarks._harness import (
    BenchmarkError,
    Metric,
    Option,
    Variant,
    Workload,
    register,
    run_client,
)
from benchmarks._redis import RedisServer
from benchmarks.workloads.roundtrip_redis import APP as REDIS_APP
from benchmarks.workloads.roundtrip_redis import redis_env

CLIENT = APPS / "enqueue_client.py"
SINGLE = Variant("single", "task(i), one call per task")
MAP = Variant("map", "task.map(batch)")


class Enqueue(Workload):
    """The SQLite producer; ``EnqueueRedis`` changes only where the tasks go."""

    name = "enqueue-sqlite"
    description = "enqueue rate of one producer on SQLite, no consumer: task(i) and task.map"
    variants = (SINGLE, MAP)
    metrics = (
        Metric("tasks_per_s", "tasks/s", "{:.0f}"),
        Metric("us_per_task", "us/task", "{:.1f}", ratio=True),
    )
    options = (
        Option("tasks", int, 10000, 500, "tasks enqueued per run"),
        Option("batch", int, 1000, 100, "arguments per task.map call (the map variant)"),
    )
    default_rounds = 5

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{params['tasks']} tasks enqueued by one process, no consumer; "
            f"task.map in batches of {params['batch']}"
        )

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        env = impl.env({"HUEY_BENCH_DB": str(workdir / "bench.db"), "TMPDIR": str(workdir)})
        return self.measure(impl, params, workdir, env, "bench_app", variant)

    def measure(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        env: dict[str, str],
        app: str,
        variant: Variant | None,
    ) -> dict[str, float]:
        out = workdir / "enqueue.json"
        mode = "map" if variant == MAP else "single"
        args = [str(out), f"--app={app}", f"--mode={mode}", f"--tasks={params['tasks']}"]
        args.append(f"--batch={params['batch']}")
        run_client(impl, CLIENT, args, workdir, env, None, timeout=120 + params["tasks"] * 0.01)
        answer = json.loads(out.read_text())
        if answer["huey_version"] != impl.huey_version:
            raise BenchmarkError(f"{impl.label}: the client ran huey {answer['huey_version']}")
        seconds = answer["seconds"]
        if seconds <= 0:
            raise BenchmarkError(f"{impl.label}: enqueued in no measurable time: more --tasks")
        return {
            "tasks_per_s": params["tasks"] / seconds,
            "us_per_task": seconds / params["tasks"] * 1e6,
            "seconds": seconds,  # Not in the table; in the JSON report's rounds.
        }


class EnqueueRedis(Enqueue):
    name = "enqueue-redis"
    description = "enqueue rate of one producer on Redis, no consumer: task(i) and task.map"
    needs_redis = True

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        with RedisServer(workdir) as server:
            env = redis_env(impl, server, workdir, None)
            return self.measure(impl, params, workdir, env, REDIS_APP, variant)


register(Enqueue())
register(EnqueueRedis())
