"""The Redis application every implementation loads in the Redis benchmarks.

Like ``bench_app``, it runs inside the environment of the implementation being measured
(consumer and clients alike), so it imports only the standard library and ``huey``, and uses
only what both implementations document.

``$HUEY_BENCH_REDIS_URL`` is the private server (``redis://127.0.0.1:PORT/0``). The Huey
instance has default settings, plus ``notify_result=True`` when ``$HUEY_BENCH_NOTIFY_RESULT``
is ``1``. Its queue is ``bench``: keys ``huey.redis.bench`` (queue) and ``huey.results.bench``
(results), which the harness reads.
"""

from __future__ import annotations

import os

from huey import RedisHuey

if os.environ.get("HUEY_BENCH_NOTIFY_RESULT") == "1":
    huey = RedisHuey("bench", url=os.environ["HUEY_BENCH_REDIS_URL"], notify_result=True)
else:  # Default settings: notify_result is not even passed.
    huey = RedisHuey("bench", url=os.environ["HUEY_BENCH_REDIS_URL"])


@huey.task()
def echo(value: int) -> int:
    """Returns its argument: the result is stored, and proves the round trip."""
    return value
