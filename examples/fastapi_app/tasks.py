"""The huey instance and tasks of the FastAPI example (see README.md).

SQLite by default (``HUEY_FASTAPI_DB``, default ``fastapi-app.db``); set ``HUEY_REDIS_URL`` to
use Redis instead, with ``notify_result`` so that awaited results arrive as soon as they are
stored.
"""

from __future__ import annotations

import asyncio
import os
import time

from huey import Huey, SqliteHuey


def make_huey() -> Huey:
    url = os.environ.get("HUEY_REDIS_URL")
    if url:
        from huey import RedisHuey  # Only needs huey-redis when it is used.

        return RedisHuey("fastapi-app", url=url, notify_result=True)
    return SqliteHuey("fastapi-app", filename=os.environ.get("HUEY_FASTAPI_DB", "fastapi-app.db"))


huey = make_huey()


@huey.task()
def generate_report(user_id: int, seconds: float = 0.2) -> dict[str, object]:
    """A plain task, as in the recipe: the heavy lifting happens in the consumer."""
    if user_id < 0:
        raise ValueError(f"no such user: {user_id}")
    time.sleep(seconds)
    return {"user_id": user_id, "lines": user_id * 10}


@huey.task(timeout=30)
async def fetch_profile(user_id: int, seconds: float = 0.2) -> dict[str, object]:
    """An async task: under ``-k asyncio`` many of these wait on I/O at once."""
    await asyncio.sleep(seconds)  # Stands for an HTTP call or a database query.
    if user_id < 0:
        raise ValueError(f"no such user: {user_id}")
    return {"user_id": user_id, "name": f"user-{user_id}"}
