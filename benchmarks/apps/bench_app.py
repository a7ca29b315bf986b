"""The application every implementation loads in the benchmarks (consumer and clients alike).

It runs inside the environment of the implementation being measured (this project's workspace
environment, or the virtualenv of the published huey), never in the harness, so it imports only
the standard library, ``huey`` and, for ``-k greenlet``, ``gevent``, and uses only what both
implementations document. Its settings come from the environment (``_backends.app_settings``):

- ``$HUEY_BENCH_REDIS_URL`` (a private server, ``redis://127.0.0.1:PORT/0``): ``RedisHuey``,
  with ``notify_result=True`` when ``$HUEY_BENCH_NOTIFY_RESULT`` is ``1`` (otherwise not even
  passed), and, with ``$HUEY_BENCH_MAX_CONNECTIONS``, a ``connection_pool`` of that size
  instead of the ``url`` (redis-py 8's default pool stops at 100 connections); else
  ``SqliteHuey`` on the file ``$HUEY_BENCH_DB``. Either way with default
  settings and the queue ``bench``: keys ``huey.redis.bench`` and ``huey.results.bench``, or
  rows of queue ``bench`` in the tables ``task`` and ``kv``, which the harness counts;
- ``$HUEY_BENCH_GEVENT=1``: gevent's ``monkey.patch_all()`` before anything else. huey
  3.5.4's consumer does not monkey-patch for ``-k greenlet`` (it logs that the application
  should), so this is done here, for both implementations alike;
- the task ``echo(value)`` returns its argument (its stored result proves the run). With
  ``$HUEY_BENCH_SLEEP`` it first waits that many seconds: ``time.sleep`` (cooperative once
  patched), or, with ``$HUEY_BENCH_ASYNC=1`` (this project's ``-k asyncio`` only), as an
  ``async def`` awaiting ``asyncio.sleep``.
"""

from __future__ import annotations

import os

if os.environ.get("HUEY_BENCH_GEVENT") == "1":
    from gevent import monkey

    monkey.patch_all()

import asyncio
import time
from typing import Any

from huey import Huey

huey: Huey
SLEEP = float(os.environ.get("HUEY_BENCH_SLEEP", "0"))

if os.environ.get("HUEY_BENCH_REDIS_URL"):
    from huey import RedisHuey

    url = os.environ["HUEY_BENCH_REDIS_URL"]
    connection: dict[str, Any] = {"url": url}
    if os.environ.get("HUEY_BENCH_MAX_CONNECTIONS"):
        import redis

        size = int(os.environ["HUEY_BENCH_MAX_CONNECTIONS"])
        connection = {"connection_pool": redis.ConnectionPool.from_url(url, max_connections=size)}
    if os.environ.get("HUEY_BENCH_NOTIFY_RESULT") == "1":
        huey = RedisHuey("bench", notify_result=True, **connection)
    else:
        huey = RedisHuey("bench", **connection)
else:
    from huey import SqliteHuey

    huey = SqliteHuey("bench", filename=os.environ["HUEY_BENCH_DB"])


if os.environ.get("HUEY_BENCH_ASYNC") == "1":

    @huey.task()
    async def echo(value: int) -> int:
        await asyncio.sleep(SLEEP)
        return value

elif SLEEP:

    @huey.task()
    def echo(value: int) -> int:
        time.sleep(SLEEP)
        return value

else:

    @huey.task()
    def echo(value: int) -> int:
        return value
