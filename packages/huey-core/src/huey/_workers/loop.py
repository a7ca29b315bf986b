"""One worker's life: startup hooks, take tasks (polling with backoff), run them, shutdown hooks.

Every pool runs this same loop, so a task behaves alike under every worker type; a pool only
chooses where the loop runs, how a task body is held to its timeout, and how it is interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from huey._tasklog import seconds
from huey._workers.base import WorkerInterrupted, WorkerSettings
from huey.exceptions import MessageError

if TYPE_CHECKING:
    from huey._task import Task
    from huey.api import Huey

logger = logging.getLogger("huey.consumer.worker")

# Runs a task's body (the zero-argument callable) for ``task``, enforcing its timeout if the
# worker type can; raises TaskTimeout when the body overruns.
BodyRunner = Callable[["Task", Callable[[], Any]], Any]


class StopFlag(Protocol):
    """A threading/multiprocessing/gevent Event, as far as a worker uses it."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def run_plain(task: Task, body: Callable[[], Any]) -> Any:
    return body()


def one_line(exc: BaseException) -> str:
    """``ConnectionError: Error 111 connecting to …``: an error in one line of a log."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def debug_traceback(log: logging.Logger, exc: BaseException) -> BaseException | None:
    """``exc`` as ``exc_info`` when ``log`` shows DEBUG lines, else None: a storage that cannot
    be reached is one line per worker, its traceback (dozens of lines of the client's frames)
    only for ``-v``."""
    return exc if log.isEnabledFor(logging.DEBUG) else None


class Backoff:
    """A delay that starts at ``initial``, grows by ``factor`` per call, capped at ``maximum``."""

    def __init__(self, initial: float, factor: float, maximum: float) -> None:
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self._delay = initial

    def next(self) -> float:
        delay = self._delay
        self._delay = min(delay * self.factor, self.maximum)
        return delay

    def reset(self) -> None:
        self._delay = self.initial


class Worker:
    """Takes tasks from ``huey`` until ``stop`` is set; ``in_body`` while a task body runs.

    With ``settings.max_tasks``, the worker also ends once it has executed that many tasks
    (every task it took off the queue counts, as in huey), after the last one's outcome is
    recorded; ``recycled`` then tells its pool to start a replacement.
    """

    def __init__(
        self,
        huey: Huey,
        settings: WorkerSettings,
        stop: StopFlag,
        name: str = "worker",
        run_body: BodyRunner = run_plain,
    ) -> None:
        self.huey = huey
        self.stop = stop
        self.name = name
        self.run_body = run_body
        self.in_body = False
        self.max_tasks = settings.max_tasks
        self.executed = 0
        self.recycled = False
        self.poll = Backoff(settings.initial_delay, settings.backoff, settings.max_delay)
        self.retry = Backoff(settings.initial_delay, max(settings.backoff, 2.0), settings.max_delay)
        self._failures = 0
        self._blocking = huey.storage.supports_blocking_dequeue

    def run(self) -> None:
        logger.debug("%s starting", self.name)
        self.huey.run_startup_hooks()
        try:
            while not self.stop.is_set():
                task = self.fetch()
                if task is None:
                    continue
                self.execute(task)
                self.executed += 1
                if self.max_tasks is not None and self.executed >= self.max_tasks:
                    logger.info("%s executed %d tasks, recycling", self.name, self.executed)
                    self.recycled = True
                    break
        except WorkerInterrupted:
            logger.warning("%s interrupted", self.name)
            self.huey.notify_interrupted_tasks()
        except BaseException as exc:  # SystemExit from a task: this worker ends, health checks
            logger.error("%s ended by %r", self.name, exc)  # replace it.
            return
        finally:
            self.huey.run_shutdown_hooks()
            logger.debug("%s stopped", self.name)

    def fetch(self) -> Task | None:
        """The next task, or None after waiting out an empty poll or a storage failure."""
        try:
            task = self.huey.dequeue()
        except MessageError:
            return None  # Dead-lettered by dequeue(); more may be waiting: no pause.
        except Exception as exc:
            self._storage_failed(exc)
            return None
        if self._failures:
            logger.warning("%s: storage available again", self.name)
            self._failures = 0
            self.retry.reset()
        if task is None:
            if not self._blocking:  # A blocking dequeue already waited.
                self.stop.wait(self.poll.next())
            return None
        self.poll.reset()
        return task

    def _storage_failed(self, exc: Exception) -> None:
        self._failures += 1
        delay = self.retry.next()
        if self._failures == 1:
            logger.error(
                "%s: cannot read the queue, retrying in %s: %s",
                self.name,
                seconds(delay),
                one_line(exc),
                exc_info=debug_traceback(logger, exc),
            )
        else:
            logger.warning(
                "%s: queue still unavailable (%d tries): %s",
                self.name,
                self._failures,
                one_line(exc),
            )
        self.stop.wait(delay)

    def execute(self, task: Task) -> None:
        body = task.execute

        def guarded() -> Any:
            self.in_body = True
            try:
                return self.run_body(task, body)
            finally:
                self.in_body = False

        # Only the body runs under the timeout and may be interrupted: Huey.execute calls
        # task.execute(), which this instance attribute overrides for this one run.
        vars(task)["execute"] = guarded
        try:
            self.huey.execute(task)
        except Exception:
            logger.exception("%s: unhandled error executing %s", self.name, task)
        finally:
            vars(task).pop("execute", None)
