"""``roundtrip-sqlite``, ``roundtrip-redis``: the latency of one task through an idle consumer.

For each implementation, round and variant, on a fresh queue:

1. start that implementation's ``huey_consumer bench_app.huey -w 1``;
2. run ``apps/roundtrip_client.py`` with the same implementation: a few warm-up round trips,
   then ``tasks`` sequential round trips, each timed from the enqueueing call to the return of
   ``result.get(blocking=True)``, with a 5-10 ms pause before each so the consumer is idle;
3. with the client gone, measure the consumer's CPU time over ``idle_seconds``;
4. stop the consumer.

Variants: default settings; on Redis also ``notify_result=True`` (a blocking ``result.get``
then waits on a notification list instead of polling). huey 3.5.4's ``SqliteHuey`` has no
such option, so on SQLite there are only default settings.

On Redis a third variant measures the floor, with no huey at all: ``apps/pingpong_client.py``
in place of both the consumer and the client, timing an ``LPUSH`` to a process waiting in
``BRPOP`` and the ``BRPOP`` of its answer, paced the same way. A task's round trip makes those
two hand-offs and more, so on this machine no implementation goes below it.

Reported per run: p50 and p99 of the round trips (ms) and the consumer's idle CPU (% of a core;
its resolution is one clock tick, usually 10 ms, over ``idle_seconds``, so the report gives its
mean across rounds rather than the median).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from benchmarks._backends import BACKENDS, SQLITE, Backend, app_settings
from benchmarks._envs import APPS, Implementation
from benchmarks._harness import (
    LOWER,
    BenchmarkError,
    Consumer,
    Metric,
    Option,
    Target,
    Variant,
    Workload,
    percentile,
    register,
)

CLIENT = APPS / "roundtrip_client.py"
PINGPONG = APPS / "pingpong_client.py"
SETTLE_SECONDS = 0.25  # After the last round trip, before the idle window starts.
DEFAULT = Variant("default", "default settings")
NOTIFY_RESULT = Variant("notify_result", "notify_result=True")
FLOOR = Variant("floor", "no huey: redis-py LPUSH/BRPOP ping-pong (the floor)")
# The goals for the median with default settings.
TARGETS = {
    "redis": Target("ours", "<=", 1.0, "<=1 ms"),
    "sqlite": Target("ours", "<=", 5.0, "<=5 ms"),
}


def settings(variant: Variant | None) -> dict[str, str]:
    return app_settings(notify_result=variant == NOTIFY_RESULT)


class RoundTrip(Workload):
    family = "roundtrip"
    description = "one task, enqueue -> idle consumer (-w 1) -> result.get(blocking=True)"
    metrics = (
        Metric("p50_ms", "p50 (ms)", "{:.2f}", better=LOWER),
        Metric("p99_ms", "p99 (ms)", "{:.2f}", better=LOWER),
        Metric("idle_cpu_percent", "idle CPU (%)", "{:.2f}", summary="mean"),
    )
    headline_metrics = ("p50_ms", "p99_ms")
    options = (
        Option("tasks", int, 200, 5, "timed round trips per run"),
        Option("warmup", int, 5, 1, "untimed round trips first"),
        Option("idle_seconds", float, 2.0, 0.3, "seconds of idle CPU measurement per run"),
        Option("min_sleep_ms", float, 5.0, 5.0, "shortest pause before a round trip"),
        Option("max_sleep_ms", float, 10.0, 10.0, "longest pause before a round trip"),
    )

    def __init__(self, backend: Backend, aliases: tuple[str, ...] = ()) -> None:
        super().__init__(backend, aliases=aliases)
        self.variants = (DEFAULT, NOTIFY_RESULT, FLOOR) if backend.key == "redis" else (DEFAULT,)

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{self.description} on {self.backend.label}; {params['tasks']} sequential tasks "
            f"per run, {params['min_sleep_ms']:g}-{params['max_sleep_ms']:g} ms apart; "
            f"consumer CPU over {params['idle_seconds']:g} s idle"
        )

    def target(self, variant: Variant | None, metric: Metric) -> Target | None:
        if variant == DEFAULT and metric.key == "p50_ms":
            return TARGETS[self.backend.key]
        return None

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        out = workdir / "roundtrip.json"
        args = [
            str(out),
            f"--tasks={params['tasks']}",
            f"--warmup={params['warmup']}",
            f"--min-sleep={params['min_sleep_ms'] / 1000}",
            f"--max-sleep={params['max_sleep_ms'] / 1000}",
            f"--seed={seed}",
        ]
        budget = 120.0 + params["tasks"] * (1.0 + params["max_sleep_ms"] / 1000)
        with self.backend.open(impl, workdir, settings(variant)) as queue:
            if variant == FLOOR:
                other = Consumer(impl, [str(PINGPONG), "respond"], workdir, queue.env, impl.python)
                script = PINGPONG
            else:
                other, script = queue.consumer("-w", "1"), CLIENT
            with other:
                queue.client(script, args, other, timeout=budget)
                time.sleep(SETTLE_SECONDS)
                idle = other.idle_cpu_percent(params["idle_seconds"])
        answer = json.loads(out.read_text())
        if variant != FLOOR and answer["huey_version"] != impl.huey_version:
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


for _backend in BACKENDS.values():
    register(RoundTrip(_backend, aliases=("roundtrip",) if _backend is SQLITE else ()))
