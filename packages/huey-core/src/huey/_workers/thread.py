"""Thread workers: one daemon thread per worker in the consumer's process.

Timeouts are cooperative (``task.check_timeout()``): Python cannot stop a thread from outside.
An interrupt raises ``WorkerInterrupted`` inside the threads running a task body (at their next
Python instruction); tasks still running after the grace period are reported interrupted from
the consumer, which shares their memory.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from huey._workers.base import INTERRUPT_GRACE, WorkerInterrupted, WorkerPool, WorkerSettings
from huey._workers.loop import Worker

if TYPE_CHECKING:
    from huey.api import Huey

logger = logging.getLogger("huey.consumer.pool")


def raise_in_thread(thread: threading.Thread, exc_type: type[BaseException]) -> bool:
    """Schedule ``exc_type`` to be raised in ``thread`` at its next Python instruction."""
    if thread.ident is None:
        return False
    count = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(exc_type)
    )
    return bool(count == 1)


class ThreadEnvironment:
    """How thread workers run (``huey.consumer.ThreadEnvironment``): daemon threads stopped by a
    ``threading.Event``; no timeout from outside (tasks call ``task.check_timeout()``)."""

    def get_stop_flag(self) -> threading.Event:
        return threading.Event()

    def create_process(self, target: Callable[[], object], name: str) -> threading.Thread:
        """A daemon thread running ``target``, not yet started."""
        return threading.Thread(target=target, name=name, daemon=True)

    def is_alive(self, thread: threading.Thread) -> bool:
        return thread.is_alive()


class ThreadPool(WorkerPool):
    worker_type = "thread"
    supports_max_tasks = True

    def __init__(self, huey: Huey, settings: WorkerSettings) -> None:
        super().__init__(huey, settings)
        self.environment = ThreadEnvironment()
        self._stop = self.environment.get_stop_flag()
        self._slots: list[tuple[Worker, threading.Thread]] = []
        self._started = 0

    def _spawn(self) -> tuple[Worker, threading.Thread]:
        self._started += 1
        name = f"Worker-{self._started}"
        worker = Worker(self.huey, self.settings, self._stop, name=name)
        thread = self.environment.create_process(worker.run, name)
        thread.start()
        return worker, thread

    def start(self) -> None:
        self._slots = [self._spawn() for _ in range(self.settings.workers)]

    def alive(self) -> int:
        return sum(self.environment.is_alive(thread) for _, thread in self._slots)

    def check_health(self) -> int:
        replaced = 0
        for index, (worker, thread) in enumerate(self._slots):
            if not thread.is_alive() and not self._stop.is_set():
                if worker.recycled:
                    logger.info("%s recycled, starting a new worker", worker.name)
                else:
                    logger.warning("%s died, starting a new worker", worker.name)
                self._slots[index] = self._spawn()
                replaced += 1
        return replaced

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for _, thread in self._slots:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.alive() == 0

    def interrupt(self, grace: float = INTERRUPT_GRACE) -> None:
        self._stop.set()
        for worker, thread in self._slots:
            if worker.in_body and thread.is_alive():
                raise_in_thread(thread, WorkerInterrupted)
        if not self.join(grace):
            # Stuck in a blocking call: the threads are abandoned (daemons), their tasks
            # reported from here.
            logger.warning("%d worker thread(s) did not stop; abandoning them", self.alive())
            self.huey.notify_interrupted_tasks()
