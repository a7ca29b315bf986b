"""``throughput-redis``: how fast a consumer empties a full queue on Redis, results stored.

For each implementation and round, on a fresh private ``redis-server``:

1. with no consumer running, ``apps/fill_client.py`` (that implementation) enqueues ``tasks``
   ``echo`` tasks (default settings, so each stores its result) and exits;
2. the harness starts ``huey_consumer bench_redis_app.huey -k thread -w WORKERS`` and polls
   the queue length and the number of results (one pipelined ``LLEN`` + ``HLEN`` every
   ``POLL_SECONDS``) until every task has its result; then stops the consumer.

Reported: the time from starting the consumer process until every result exists ("total",
interpreter start-up included) and the tasks per second it gives; the same from the moment the
queue first shrank ("drain", start-up excluded); and the consumer's CPU time per task over the
drain (all its threads; one clock tick, usually 10 ms, is its resolution).
"""

from __future__ import annotations

import time
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
from benchmarks._redis import QUEUE_KEY, RESULTS_KEY, RedisServer, Resp
from benchmarks.workloads.roundtrip_redis import APP, redis_env

FILL = APPS / "fill_client.py"
POLL_SECONDS = 0.002


class RedisThroughput(Workload):
    name = "throughput-redis"
    description = "a queue of no-op tasks emptied by one consumer on Redis, results stored"
    needs_redis = True
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
        with RedisServer(workdir) as server:
            env = redis_env(impl, server, workdir, None)
            args = [f"--app={APP}", f"--tasks={tasks}"]
            run_client(impl, FILL, args, workdir, env, None, timeout=budget)
            with Resp(server.port) as control:
                queued = control.command("LLEN", QUEUE_KEY)
                if queued != tasks:
                    raise BenchmarkError(f"{impl.label}: {queued} of {tasks} tasks in {QUEUE_KEY}")
                command = [f"{APP}.huey", "-k", "thread", "-w", str(params["workers"])]
                started = time.monotonic()
                with Consumer(impl, command, workdir, env) as consumer:
                    moved = moved_cpu = None
                    while True:
                        left, results = control.pipeline(("LLEN", QUEUE_KEY), ("HLEN", RESULTS_KEY))
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


register(RedisThroughput())
