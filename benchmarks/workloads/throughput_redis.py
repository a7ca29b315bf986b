"""``throughput-redis``: how fast a consumer empties a full queue on Redis, results stored.

The measurement of ``throughput`` (``throughput-sqlite``), on a fresh private
``redis-server`` per run with ``bench_redis_app``: the harness polls the queue length and the
number of results with one pipelined ``LLEN`` + ``HLEN`` every ``POLL_SECONDS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._envs import Implementation
from benchmarks._harness import Variant, register
from benchmarks._redis import QUEUE_KEY, RESULTS_KEY, RedisServer, Resp
from benchmarks.workloads.roundtrip_redis import APP, redis_env
from benchmarks.workloads.throughput import Counter, Throughput


class RedisThroughput(Throughput):
    name = "throughput-redis"
    description = "a queue of no-op tasks emptied by one consumer on Redis, results stored"
    needs_redis = True

    @contextmanager
    def queue(
        self,
        impl: Implementation,
        workdir: Path,
        params: dict[str, Any],
        variant: Variant | None,
    ) -> Iterator[tuple[str, dict[str, str], Counter]]:
        with RedisServer(workdir) as server, Resp(server.port) as control:

            def count() -> tuple[int, int]:
                left, results = control.pipeline(("LLEN", QUEUE_KEY), ("HLEN", RESULTS_KEY))
                return int(left), int(results)

            yield APP, redis_env(impl, server, workdir, None), count


register(RedisThroughput())
