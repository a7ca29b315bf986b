"""``roundtrip-redis``: the latency of one task on Redis, through an idle consumer.

As ``roundtrip`` (same client, same timing, same idle-CPU window), with ``RedisHuey`` on a
private ``redis-server`` started fresh for each run, in two variants: default settings, and
``notify_result=True`` (a blocking ``result.get`` then waits on a notification list instead
of polling). Each run: start the server, then that implementation's
``huey_consumer bench_redis_app.huey -w 1``, run ``apps/roundtrip_client.py --app
bench_redis_app``, measure the consumer's idle CPU, stop both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks._envs import Implementation
from benchmarks._harness import Option, Variant, register
from benchmarks._redis import RedisServer
from benchmarks.workloads.roundtrip import RoundTrip

APP = "bench_redis_app"
DEFAULT = Variant("default", "default settings")
NOTIFY_RESULT = Variant("notify_result", "notify_result=True")


def redis_env(
    impl: Implementation, server: RedisServer, workdir: Path, variant: Variant | None
) -> dict[str, str]:
    """The environment of ``bench_redis_app``'s processes: its server and settings."""
    return impl.env(
        {
            "HUEY_BENCH_REDIS_URL": server.url,
            "HUEY_BENCH_NOTIFY_RESULT": "1" if variant == NOTIFY_RESULT else "0",
            "TMPDIR": str(workdir),
        }
    )


class RedisRoundTrip(RoundTrip):
    name = "roundtrip-redis"
    description = (
        "one task on Redis (RedisHuey), enqueue -> idle consumer -> result.get(blocking=True)"
    )
    variants = (DEFAULT, NOTIFY_RESULT)
    needs_redis = True
    options = (
        Option("tasks", int, 200, 20, "timed round trips per run"),
        Option("warmup", int, 5, 2, "untimed round trips first"),
        Option("idle_seconds", float, 2.0, 1.0, "seconds of idle CPU measurement per run"),
        Option("min_sleep_ms", float, 5.0, 5.0, "shortest pause before a round trip"),
        Option("max_sleep_ms", float, 10.0, 10.0, "longest pause before a round trip"),
    )

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        with RedisServer(workdir) as server:
            env = redis_env(impl, server, workdir, variant)
            return self.measure(impl, params, workdir, seed, env, APP)


register(RedisRoundTrip())
