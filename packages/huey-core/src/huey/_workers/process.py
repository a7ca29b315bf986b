"""Process workers: one forked child process per worker.

Children inherit the application as imported by the consumer. A child ignores the graceful
signal (SIGINT, or SIGTERM with ``-g TERM``) and SIGHUP: the consumer coordinates graceful stops
and restarts through a ``ForkSafeFlag``. The other signal means "interrupt": a running task body
gets ``WorkerInterrupted`` and the child reports it with ``notify_interrupted_tasks()`` before
leaving. Timeouts use SIGALRM. Children end with the consumer even when it is SIGKILLed (see
``lifeline``). With ``-M``/``max_tasks``, a child exits after that many tasks (handing back
the memory its tasks left behind) and the health check forks a fresh one from the consumer.
``ProcessEnvironment`` gathers these choices; it is also ``huey.consumer.ProcessEnvironment``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import select
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from huey._workers.base import (
    INTERRUPT_GRACE,
    WorkerInterrupted,
    WorkerPool,
    WorkerSettings,
    shutdown_signals,
)
from huey._workers.lifeline import die_with_parent
from huey._workers.loop import Worker
from huey.exceptions import ConfigurationError, TaskTimeout

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from huey._task import Task
    from huey.api import Huey

logger = logging.getLogger("huey.consumer.pool")

# A child's exit status once recycled after ``max_tasks`` tasks: EX_TEMPFAIL of sysexits.h, an
# end on purpose that asks for a replacement, told apart from a crash.
RECYCLED_EXIT_CODE = 75


class ForkSafeFlag:
    """A flag shared with forked processes: ``set()`` writes a byte to a pipe nobody reads.

    Not a multiprocessing.Event: a process killed while waiting on an Event can leave its shared
    semaphore held, and the next ``set()`` blocks forever. A pipe holds no lock. Every process
    holding the pipe sees the flag set; a process that called ``close_writer()`` also sees it
    set once every writer is gone (the consumer died).
    """

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        self._poll = select.poll()
        self._poll.register(self._read_fd, select.POLLIN | select.POLLHUP)

    def set(self) -> None:
        if not self.is_set():
            os.write(self._write_fd, b"x")

    def is_set(self) -> bool:
        return self.wait(0)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: forever) for the flag; True once it is set."""
        return bool(self._poll.poll(None if timeout is None else timeout * 1000))

    def close_writer(self) -> None:
        """Give up this process's write end (a child that only waits)."""
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    def close(self) -> None:
        """Release the pipe once no process uses the flag any more."""
        self.close_writer()
        if self._read_fd >= 0:
            self._poll.unregister(self._read_fd)
            os.close(self._read_fd)
            self._read_fd = -1


class ProcessEnvironment:
    """How process workers run: forked children, a ForkSafeFlag, SIGALRM timeouts, and which of
    SIGINT/SIGTERM is the graceful signal (``graceful``) and which interrupts (``interrupt``).

    ``mp`` is the fork context whatever the platform's default start method: workers inherit
    the imported application (and closures) rather than re-importing it.
    """

    def __init__(self, graceful_signal: str = "INT") -> None:
        if "fork" not in multiprocessing.get_all_start_methods():
            raise ConfigurationError("process workers need fork(), which this platform lacks")
        self.mp = multiprocessing.get_context("fork")
        self.graceful, self.interrupt = shutdown_signals(graceful_signal)

    def get_stop_flag(self) -> ForkSafeFlag:
        return ForkSafeFlag()

    def create_process(
        self, target: Callable[..., object], name: str, args: tuple[Any, ...] = ()
    ) -> BaseProcess:
        """A child process running ``target(*args)``, not yet started."""
        return self.mp.Process(target=target, args=args, name=name)

    def is_alive(self, process: BaseProcess) -> bool:
        return process.is_alive()

    @contextlib.contextmanager
    def timeout(self, seconds: float) -> Iterator[None]:
        """Raise TaskTimeout in this (main) thread after ``seconds``, sub-second ones too."""

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            raise TaskTimeout(f"timeout ({seconds}s)")  # huey 3.5.4's stored text

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, float(seconds))
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)  # No alarm left to fire after the block.
            signal.signal(signal.SIGALRM, previous)


class _ChildStop:
    """A child's view of the pool's flag, plus what its interrupt handler needs to know."""

    def __init__(self, flag: ForkSafeFlag) -> None:
        self.flag = flag
        self.local = False  # Set by the interrupt handler: leave at the next check.
        self.waiting = False

    def is_set(self) -> bool:
        return self.local or self.flag.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting = True
        try:
            return self.flag.wait(timeout)
        finally:
            self.waiting = False


def _child_main(
    huey: Huey,
    settings: WorkerSettings,
    environment: ProcessEnvironment,
    flag: ForkSafeFlag,
    parent: int,
    name: str,
) -> None:
    # Not the consumer's handlers, inherited: the consumer coordinates graceful stops.
    signal.signal(environment.interrupt, signal.SIG_DFL)
    signal.signal(environment.graceful, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    flag.close_writer()
    die_with_parent(parent, environment.interrupt)
    stop = _ChildStop(flag)

    def run_with_alarm(task: Task, body: Callable[[], Any]) -> Any:
        if not task.timeout:
            return body()
        with environment.timeout(task.timeout):
            return body()

    worker = Worker(huey, settings, stop, name=name, run_body=run_with_alarm)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        stop.local = True
        # Raise only where it is safe: in a task body or while idle. Elsewhere (a storage call,
        # a hook) the worker leaves at its next check instead.
        if worker.in_body or stop.waiting:
            raise WorkerInterrupted

    signal.signal(environment.interrupt, on_interrupt)
    worker.run()
    if worker.recycled:
        sys.exit(RECYCLED_EXIT_CODE)


class ProcessPool(WorkerPool):
    worker_type = "process"
    shares_memory = False
    supports_max_tasks = True

    def __init__(self, huey: Huey, settings: WorkerSettings) -> None:
        super().__init__(huey, settings)
        self.environment = ProcessEnvironment(settings.graceful_signal)
        self._stop = self.environment.get_stop_flag()
        self._stopping = False
        self._procs: list[BaseProcess] = []
        self._started = 0

    def _spawn(self) -> BaseProcess:
        self._started += 1
        name = f"Worker-{self._started}"
        args = (self.huey, self.settings, self.environment, self._stop, os.getpid(), name)
        process = self.environment.create_process(_child_main, name, args)
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
        return sum(self.environment.is_alive(process) for process in self._procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None and p.is_alive()]

    def check_health(self) -> int:
        replaced = 0
        for index, process in enumerate(self._procs):
            if not process.is_alive() and not self._stopping:
                process.join(0)
                if process.exitcode == RECYCLED_EXIT_CODE:
                    logger.info(
                        "%s (pid %s) recycled, starting a new worker", process.name, process.pid
                    )
                else:
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
            self._stop.set()  # Every child sees it: stop taking tasks.

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for process in self._procs:
            process.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if self.alive():
            return False
        if self._stopping:
            self._stop.close()  # Every child is gone: the pipe has served.
        return True

    def interrupt(self, grace: float = INTERRUPT_GRACE) -> None:
        self.request_stop()
        for process in self._procs:
            if process.is_alive() and process.pid is not None:
                try:
                    os.kill(process.pid, self.environment.interrupt)
                except ProcessLookupError:
                    pass
        if not self.join(grace):
            logger.warning("%d worker process(es) did not stop; killing them", self.alive())
            for process in self._procs:
                if process.is_alive():
                    process.kill()
            self.join(5.0)
