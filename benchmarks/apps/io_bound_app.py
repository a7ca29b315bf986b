"""The application of the ``io-bound`` workload: tasks that each wait ``$HUEY_BENCH_SLEEP`` s.

Like ``bench_app`` it runs inside the environment of the implementation being measured
(consumer and fill client alike) and imports only the standard library and ``huey``. Its queue
is ``bench`` in the SQLite file ``$HUEY_BENCH_DB``, so the harness counts it as it counts
``bench_app``'s. ``$HUEY_BENCH_IO_MODE`` picks the task's body:

- ``sync``: ``time.sleep`` (for ``-k greenlet``). huey 3.5.4's consumer does not monkey-patch
  (it logs a warning that the application should), so this module applies gevent's
  ``monkey.patch_all()`` first, for both implementations alike: ``time.sleep`` then yields to
  the other greenlets;
- ``async``: an ``async def`` awaiting ``asyncio.sleep`` (for this project's ``-k asyncio``;
  defined only in that mode, so huey 3.5.4 never sees it).

The task is named ``echo`` (``apps/fill_client.py`` enqueues ``echo(i)``) and returns its
argument, so each stores a result.
"""

from __future__ import annotations

import os

if os.environ.get("HUEY_BENCH_IO_MODE") != "async":
    from gevent import monkey

    monkey.patch_all()

import time

from huey import SqliteHuey

huey = SqliteHuey("bench", filename=os.environ["HUEY_BENCH_DB"])
SLEEP = float(os.environ.get("HUEY_BENCH_SLEEP", "0.1"))

if os.environ.get("HUEY_BENCH_IO_MODE") == "async":
    import asyncio

    @huey.task()
    async def echo(value: int) -> int:
        await asyncio.sleep(SLEEP)
        return value

else:

    @huey.task()
    def echo(value: int) -> int:
        time.sleep(SLEEP)
        return value
