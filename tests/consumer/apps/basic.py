"""A FileHuey application for the consumer's subprocess tests.

The consumer imports ``apps.basic.huey``, built on the directory in ``$HUEY_TEST_DIR``; the
test process calls ``build(path)`` on the same directory to enqueue tasks and read results.
Hooks, signals and tasks append one line per event to ``<dir>/events`` (O_APPEND, one write per
line, so lines from several processes never mix).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from huey import FileHuey
from huey.signals import SIGNAL_INTERRUPTED, SIGNAL_TIMEOUT


def record(directory: str | Path, *words: object) -> None:
    line = " ".join(str(word) for word in words) + "\n"
    fd = os.open(os.path.join(directory, "events"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_events(directory: str | Path) -> list[list[str]]:
    try:
        text = Path(directory, "events").read_text()
    except FileNotFoundError:
        return []
    return [line.split() for line in text.splitlines() if line]


def build(
    directory: str | Path,
    sleep: Callable[[float], object] = time.sleep,
    delivery: str = "at-most-once",
) -> SimpleNamespace:
    """The application on ``directory``; ``sleep`` is what tasks wait with (``gevent.sleep``
    for greenlet workers embedded without monkey-patching)."""
    directory = str(directory)
    huey = FileHuey("consumer-tests", path=os.path.join(directory, "storage"), delivery=delivery)

    def me() -> str:
        return f"{os.getpid()}:{threading.get_ident()}"

    @huey.on_startup()
    def started() -> None:
        record(directory, "startup", me())

    @huey.on_shutdown()
    def stopped() -> None:
        record(directory, "shutdown", me())

    @huey.signal(SIGNAL_INTERRUPTED)
    def on_interrupted(signal: str, task: object) -> None:
        # The "re-enqueue interrupted tasks" recipe.
        record(directory, "interrupted", getattr(task, "id", "?"), os.getpid())
        huey.enqueue(task)  # type: ignore[arg-type]

    @huey.signal(SIGNAL_TIMEOUT)
    def on_timeout(signal: str, task: object) -> None:
        record(directory, "timeout", getattr(task, "id", "?"))

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    @huey.task()
    def whoami() -> str:
        return me()

    @huey.task()
    def nap(seconds: float, tag: str) -> str:
        record(directory, "begin", tag, os.getpid())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # Short sleeps: thread interrupts land between them.
            sleep(0.02)
        record(directory, "end", tag)
        return tag

    @huey.task()
    def boom() -> None:
        raise ValueError("boom")

    @huey.task()
    def exit_worker() -> None:
        record(directory, "exiting", me())
        sys.exit(3)

    @huey.task(timeout=0.5)
    def overrun(tag: str) -> None:
        record(directory, "begin", tag, os.getpid())
        sleep(30)
        record(directory, "end", tag)

    @huey.task(timeout=0.5, context=True)
    def cooperative(tag: str, task: object = None) -> None:
        record(directory, "begin", tag)
        for _ in range(1500):
            task.check_timeout()  # type: ignore[attr-defined]
            sleep(0.02)
        record(directory, "end", tag)

    @huey.task()
    @huey.lock_task("declared-lock")
    def guarded() -> str:
        return "ran"

    return SimpleNamespace(huey=huey, directory=directory, **{
        f.__name__: f
        for f in (add, whoami, nap, boom, exit_worker, overrun, cooperative, guarded)
    })  # fmt: skip


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("socket"))


if os.environ.get("HUEY_TEST_DIR"):
    app = build(
        os.environ["HUEY_TEST_DIR"], delivery=os.environ.get("HUEY_TEST_DELIVERY", "at-most-once")
    )
    huey = app.huey
    record(
        app.directory, "imported", os.getpid(), "gevent-patched" if _gevent_patched() else "plain"
    )
