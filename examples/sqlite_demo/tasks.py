"""The demo's queue and tasks: one SQLite file, nothing else to run."""

from __future__ import annotations

import os
import tempfile
import time

from huey import SqliteHuey, crontab

# A fresh queue file in a directory of its own, which run.py removes at the end; DEMO_DB names a
# file to use (and keep) instead.
TEMP_DIR: str | None = None
if "DEMO_DB" in os.environ:
    DB = os.environ["DEMO_DB"]
else:
    TEMP_DIR = tempfile.mkdtemp(prefix="huey-demo-")
    DB = os.path.join(TEMP_DIR, "demo.db")
huey = SqliteHuey("demo", filename=DB)


@huey.task()
def add(a: int, b: int) -> int:
    return a + b


@huey.task(retries=2, retry_delay=0.2)
def flaky_square(n: int, attempts: dict[str, int] = {}) -> int:  # noqa: B006 - counts retries
    attempts[str(n)] = attempts.get(str(n), 0) + 1
    if attempts[str(n)] == 1:
        raise RuntimeError("first attempt fails, the retry succeeds")
    return n * n


@huey.task()
def slow_echo(message: str, seconds: float) -> str:
    time.sleep(seconds)
    return message


@huey.periodic_task(crontab(minute="*"))
def every_minute() -> None:
    count = huey.storage.incr("demo.minutes")
    print(f"  periodic: every_minute ran (run {count})", flush=True)
