"""asyncio for huey: await task results, ``async def`` tasks, and the ``asyncio`` worker type.

* ``await aget_result(result)`` and ``await aget_result_group(group)`` wait for task results
  while other coroutines run (see ``_results``).
* ``@huey.task()`` on an ``async def`` function makes an async task (core supports it: every
  worker type and immediate mode run it to completion).
* ``huey_consumer app.huey -k asyncio -w 500`` runs up to 500 tasks at once on one event loop
  (``huey.contrib.asyncio.consumer.AsyncioPool``, registered in the ``huey.workers`` entry
  points).
"""

from huey.contrib.asyncio._results import aget_result, aget_result_group
from huey.contrib.asyncio._version import __version__
from huey.contrib.asyncio.consumer import AsyncioPool

__all__ = ["AsyncioPool", "__version__", "aget_result", "aget_result_group"]
