"""The task application of the chaos run (``chaos.py``): one queue on SQLite or a private Redis.

``huey_consumer chaos_app.huey`` builds the instance from ``$HUEY_CHAOS`` (the run's settings as
JSON), which ``chaos.py`` sets for every consumer it starts, with ``$HUEY_CHAOS_INCARNATION``
numbering each start of a consumer. ``chaos.py`` calls ``build(settings)`` on the same queue to
enqueue tasks and read outcomes; both import this module as ``chaos_app``, so task names match.

Workers and tasks append one line per event to the run log, with O_APPEND and one ``write``
per line, so lines from many processes never mix and every run is counted, even one whose
process is killed right after::

    up <incarnation> <pid> <thread>            a worker started
    run <index> <incarnation> <pid> <thread>   a task's body began
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

SETTINGS_VARIABLE = "HUEY_CHAOS"
INCARNATION_VARIABLE = "HUEY_CHAOS_INCARNATION"
SHARED_REDIS_PORT = 6379  # Somebody else's server: never used.


@dataclasses.dataclass(frozen=True)
class Settings:
    backend: str  # "sqlite" or "redis"
    location: str  # The SQLite file, or the port of a private Redis on 127.0.0.1.
    run_log: str
    delivery: str
    visibility_timeout: float
    max_deliveries: int

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        return cls(**json.loads(text))


def append_line(path: str, *words: object) -> None:
    line = " ".join(str(word) for word in words) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@dataclasses.dataclass(frozen=True)
class App:
    huey: Huey
    work: Callable[..., Any]  # work(index, seconds) -> index
    poison: Callable[..., Any]  # poison(index): SIGKILLs the process running it


def _storage_options(settings: Settings) -> dict[str, Any]:
    return {
        "delivery": settings.delivery,
        "visibility_timeout": settings.visibility_timeout,
        "max_deliveries": settings.max_deliveries,
    }


def build(settings: Settings) -> App:
    huey: Huey
    if settings.backend == "sqlite":
        huey = SqliteHuey("chaos", filename=settings.location, **_storage_options(settings))
    elif settings.backend == "redis":
        port = int(settings.location)
        if port == SHARED_REDIS_PORT:
            raise ValueError(f"refusing the shared Redis port {SHARED_REDIS_PORT}")
        huey = RedisHuey("chaos", host="127.0.0.1", port=port, **_storage_options(settings))
    else:
        raise ValueError(f"unknown backend {settings.backend!r}")
    run_log = settings.run_log

    def me() -> str:
        incarnation = os.environ.get(INCARNATION_VARIABLE, "-")
        return f"{incarnation} {os.getpid()} {threading.get_ident()}"

    @huey.on_startup()
    def up() -> None:
        append_line(run_log, "up", me())

    @huey.task()
    def work(index: int, seconds: float) -> int:
        append_line(run_log, "run", index, me())
        time.sleep(seconds)
        return index

    @huey.task()
    def poison(index: int) -> None:
        # Every delivery takes its worker process down before any outcome is recorded.
        append_line(run_log, "run", index, me())
        os.kill(os.getpid(), signal.SIGKILL)

    return App(huey, work, poison)


_from_environment: App | None = None


def __getattr__(name: str) -> Any:
    """``chaos_app.huey`` for ``huey_consumer``: built on first use from ``$HUEY_CHAOS``, so
    importing this module (as ``chaos.py`` does) builds nothing."""
    global _from_environment
    if name != "huey":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _from_environment is None:
        if SETTINGS_VARIABLE not in os.environ:
            raise RuntimeError(f"${SETTINGS_VARIABLE} is not set: start consumers with chaos.py")
        _from_environment = build(Settings.from_json(os.environ[SETTINGS_VARIABLE]))
    return _from_environment.huey
