"""Process workers: one forked child process per worker.

Children inherit the application as imported by the consumer. A child ignores SIGINT and
SIGHUP (the consumer coordinates graceful stops and restarts through a shared event) and takes
SIGTERM as "interrupt": a running task body gets ``WorkerInterrupted`` and the child reports it
with ``notify_interrupted_tasks()`` before leaving. Timeouts use SIGALRM. Children end with the
consumer even when it is SIGKILLed (see ``lifeline``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import select
import signal
import time
import warnings
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from huey._workers.base import INTERRUPT_GRACE, WorkerInterrupted, WorkerPool, WorkerSettings
from huey._workers.lifeline import die_with_parent
from huey._workers.loop import Worker
from huey.exceptions import ConfigurationError, TaskTimeout

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from huey._task import Task
    from huey.api import Huey

logger = logging.getLogger("huey.consumer.pool")


def run_with_alarm(task: Task, body: Callable[[], Any]) -> Any:
    """Run ``body`` with SIGALRM raising TaskTimeout after ``task.timeout`` seconds."""
    if not task.timeout:
        return body()

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TaskTimeout(f"task {task.name} {task.id} exceeded its timeout of {task.timeout}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(task.timeout))
    try:
        return body()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _PipeStop:
    """The child's view of the stop request: the consumer closes its end of a pipe.

    A pipe rather than a multiprocessing.Event: a child killed while waiting on an Event can
    leave its shared semaphores in a state that blocks the consumer's next ``set()``.
    """

    def __init__(self, read_fd: int) -> None:
        self._poll = select.poll()
        self._poll.register(read_fd, select.POLLIN | select.POLLHUP)
        self.local = False
        self.waiting = False

    def is_set(self) -> bool:
        return self.local or bool(self._poll.poll(0))

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting = True
        try:
            return bool(self._poll.poll(None if timeout is None else timeout * 1000))
        finally:
            self.waiting = False


def _child_main(
    huey: Huey, settings: WorkerSettings, fds: tuple[int, int], parent: int, name: str
) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # Not the consumer's handler, inherited.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    read_fd, write_fd = fds
    os.close(write_fd)  # Only the consumer may hold it, or closing it would signal nothing.
    die_with_parent(parent)
    stop = _PipeStop(read_fd)
    worker = Worker(huey, settings, stop, name=name, run_body=run_with_alarm)

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.local = True
        # Raise only where it is safe: in a task body or while idle. Elsewhere (a storage call,
        # a hook) the worker leaves at its next check instead.
        if worker.in_body or stop.waiting:
            raise WorkerInterrupted

    signal.signal(signal.SIGTERM, on_term)
    worker.run()


class ProcessPool(WorkerPool):
    worker_type = "process"
    shares_memory = False

    def __init__(self, huey: Huey, settings: WorkerSettings) -> None:
        super().__init__(huey, settings)
        if "fork" not in multiprocessing.get_all_start_methods():
            raise ConfigurationError("process workers need fork(), which this platform lacks")
        self._context = multiprocessing.get_context("fork")
        self._read_fd, self._write_fd = os.pipe()
        self._stopping = False
        self._procs: list[BaseProcess] = []
        self._started = 0

    def _spawn(self) -> BaseProcess:
        self._started += 1
        name = f"Worker-{self._started}"
        process = self._context.Process(
            target=_child_main,
            args=(self.huey, self.settings, (self._read_fd, self._write_fd), os.getpid(), name),
            name=name,
        )
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork() beside threads; the consumer forks only while
            # its scheduler is between storage calls.
            warnings.simplefilter("ignore", DeprecationWarning)
            process.start()
        logger.debug("started %s (pid %s)", name, process.pid)
        return process

    def start(self) -> None:
        self._procs = [self._spawn() for _ in range(self.settings.workers)]

    def alive(self) -> int:
        return sum(process.is_alive() for process in self._procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None and p.is_alive()]

    def check_health(self) -> int:
        replaced = 0
        for index, process in enumerate(self._procs):
            if not process.is_alive() and not self._stopping:
                process.join(0)
                logger.warning(
                    "%s (pid %s) died with exit code %s, starting a new worker",
                    process.name,
                    process.pid,
                    process.exitcode,
                )
                self._procs[index] = self._spawn()
                replaced += 1
        return replaced

    def request_stop(self) -> None:
        if not self._stopping:
            self._stopping = True
            os.close(self._write_fd)  # Every child sees end-of-file: stop taking tasks.

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for process in self._procs:
            process.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if self.alive():
            return False
        if self._stopping and self._read_fd >= 0:
            os.close(self._read_fd)  # Every child is gone: the pipe has served.
            self._read_fd = -1
        return True

    def interrupt(self, grace: float = INTERRUPT_GRACE) -> None:
        self.request_stop()
        for process in self._procs:
            if process.is_alive() and process.pid is not None:
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if not self.join(grace):
            logger.warning("%d worker process(es) did not stop; killing them", self.alive())
            for process in self._procs:
                if process.is_alive():
                    process.kill()
            self.join(5.0)
