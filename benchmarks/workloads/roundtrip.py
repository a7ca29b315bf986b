"""``roundtrip``: the latency of one task on SQLite, through an idle consumer.

For each implementation and round, in a fresh directory with a fresh SQLite file:

1. start that implementation's ``huey_consumer bench_app.huey -w 1`` (default settings);
2. run ``apps/roundtrip_client.py`` with the same implementation: a few warm-up round trips,
   then ``tasks`` sequential round trips, each timed from the enqueueing call to the return of
   ``result.get(blocking=True)``, with a 5-10 ms pause before each so the consumer is idle;
3. with the client gone, measure the consumer's CPU time over ``idle_seconds``;
4. stop the consumer (SIGINT).

Reported per run: p50 and p99 of the round trips (ms) and the consumer's idle CPU (% of a core;
its resolution is one clock tick, usually 10 ms, over ``idle_seconds``, so the report gives its
mean across rounds rather than the median).
"""

from __future__ import annotations

import json
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
    percentile,
    register,
    run_client,
)

CLIENT = APPS / "roundtrip_client.py"
SETTLE_SECONDS = 0.25  # After the last round trip, before the idle window starts.


class RoundTrip(Workload):
    name = "roundtrip"
    description = "one task on SQLite, enqueue -> idle consumer -> result.get(blocking=True)"
    metrics = (
        Metric("p50_ms", "p50 (ms)", "{:.2f}", ratio=True),
        Metric("p99_ms", "p99 (ms)", "{:.2f}", ratio=True),
        Metric("idle_cpu_percent", "idle CPU (%)", "{:.2f}", summary="mean"),
    )
    options = (
        Option("tasks", int, 200, 20, "timed round trips per run"),
        Option("warmup", int, 5, 2, "untimed round trips first"),
        Option("idle_seconds", float, 3.0, 1.0, "seconds of idle CPU measurement per run"),
        Option("min_sleep_ms", float, 5.0, 5.0, "shortest pause before a round trip"),
        Option("max_sleep_ms", float, 10.0, 10.0, "longest pause before a round trip"),
    )

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{self.description}; {params['tasks']} sequential tasks per run, "
            f"{params['min_sleep_ms']:g}-{params['max_sleep_ms']:g} ms apart; "
            f"consumer CPU over {params['idle_seconds']:g} s idle"
        )

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        # TMPDIR: anything an implementation keeps in the temporary directory (this project's
        # SQLite wake-up sockets) stays in the run's directory, removed with it.
        env = impl.env({"HUEY_BENCH_DB": str(workdir / "bench.db"), "TMPDIR": str(workdir)})
        return self.measure(impl, params, workdir, seed, env, "bench_app")

    def measure(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        env: dict[str, str],
        app: str,
    ) -> dict[str, float]:
        """One run against ``app`` (a module of ``apps/``), ``env`` saying where its data is."""
        out = workdir / "roundtrip.json"
        args = [
            str(out),
            f"--tasks={params['tasks']}",
            f"--warmup={params['warmup']}",
            f"--min-sleep={params['min_sleep_ms'] / 1000}",
            f"--max-sleep={params['max_sleep_ms'] / 1000}",
            f"--seed={seed}",
            f"--app={app}",
        ]
        budget = 120.0 + params["tasks"] * (1.0 + params["max_sleep_ms"] / 1000)
        with Consumer(impl, [f"{app}.huey", "-w", "1"], workdir, env) as consumer:
            run_client(impl, CLIENT, args, workdir, env, consumer, timeout=budget)
            time.sleep(SETTLE_SECONDS)
            idle = consumer.idle_cpu_percent(params["idle_seconds"])
        answer = json.loads(out.read_text())
        if answer["huey_version"] != impl.huey_version:
            raise BenchmarkError(f"{impl.label}: the client ran huey {answer['huey_version']}")
        samples = answer["samples_ms"]
        return {
            "p50_ms": percentile(samples, 50),
            "p99_ms": percentile(samples, 99),
            "idle_cpu_percent": idle,
            # Not in the table; in the JSON report's rounds.
            "mean_ms": sum(samples) / len(samples),
            "min_ms": min(samples),
            "max_ms": max(samples),
        }


register(RoundTrip())
