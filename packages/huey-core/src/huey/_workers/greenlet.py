"""Greenlet workers: gevent greenlets sharing one hub, run by a pool thread.

``huey_consumer -k greenlet`` monkey-patches the process (``setup_process``) before importing
the application, so blocking I/O in tasks yields to other greenlets and the pool thread is
itself a greenlet. Embedded without monkey-patching, the pool thread is a real thread hosting
its own hub. Timeouts use ``gevent.Timeout`` raising TaskTimeout; an interrupt kills greenlets
running a task body with ``WorkerInterrupted``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from huey._workers.base import INTERRUPT_GRACE, WorkerInterrupted, WorkerPool, WorkerSettings
from huey._workers.loop import Worker
from huey.exceptions import ConfigurationError, TaskTimeout

try:
    import gevent  # type: ignore[import-untyped]
    import gevent.event  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigurationError(
        "worker type 'greenlet' needs gevent: pip install 'huey-core[gevent]'"
    ) from exc

if TYPE_CHECKING:
    from huey._task import Task
    from huey.api import Huey

logger = logging.getLogger("huey.consumer.pool")

_TICK = 0.05  # How often the pool greenlet acts on requests from the consumer.


def run_with_gevent_timeout(task: Task, body: Callable[[], Any]) -> Any:
    if not task.timeout:
        return body()
    # An exception instance, not gevent.Timeout itself (a BaseException Huey would not record).
    error = TaskTimeout(f"timeout ({task.timeout}s)")  # huey 3.5.4's stored text
    with gevent.Timeout(task.timeout, error):
        return body()


class GreenletPool(WorkerPool):
    worker_type = "greenlet"
    supports_max_tasks = True

    @classmethod
    def setup_process(cls) -> None:
        from gevent import monkey  # type: ignore[import-untyped]

        monkey.patch_all()

    def __init__(self, huey: Huey, settings: WorkerSettings) -> None:
        super().__init__(huey, settings)
        self._slots: list[tuple[Worker, gevent.Greenlet]] = []
        self._started = 0
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        # Requests from the consumer, acted on by the pool greenlet in its own hub.
        self._stopping = False
        self._interrupting = False
        self._forcing = False
        self._replace_dead = False

    # -- consumer side -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="GreenletPool", daemon=True)
        self._thread.start()
        self._ready.wait()

    def alive(self) -> int:
        return sum(not greenlet.dead for _, greenlet in self._slots)

    def check_health(self) -> int:
        dead = sum(greenlet.dead for _, greenlet in self._slots)
        if dead and not self._stopping:
            self._replace_dead = True
        return dead

    def request_stop(self) -> None:
        self._stopping = True

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def interrupt(self, grace: float = INTERRUPT_GRACE) -> None:
        self._stopping = self._interrupting = True
        if self.join(grace):
            return
        self._forcing = True
        if not self.join(1.0):
            logger.warning("%d worker greenlet(s) did not stop; abandoning them", self.alive())
        self.huey.notify_interrupted_tasks()

    # -- pool greenlet -------------------------------------------------------------------------
    def _spawn(self, stop: gevent.event.Event) -> tuple[Worker, gevent.Greenlet]:
        self._started += 1
        name = f"Worker-{self._started}"
        worker = Worker(self.huey, self.settings, stop, name=name, run_body=run_with_gevent_timeout)
        return worker, gevent.spawn(worker.run)

    def _run(self) -> None:
        stop = gevent.event.Event()
        self._slots = [self._spawn(stop) for _ in range(self.settings.workers)]
        self._ready.set()
        interrupted = False
        while True:
            if self._stopping:
                stop.set()
            if self._interrupting and not interrupted:
                interrupted = True
                for worker, greenlet in self._slots:
                    if worker.in_body:
                        greenlet.kill(WorkerInterrupted, block=False)
            if self._forcing:
                for _, greenlet in self._slots:
                    greenlet.kill(block=False)
            if self._replace_dead and not self._stopping:
                self._replace_dead = False
                for index, (worker, greenlet) in enumerate(self._slots):
                    if greenlet.dead:
                        if worker.recycled:
                            logger.info("%s recycled, starting a new worker", worker.name)
                        else:
                            logger.warning("%s died, starting a new worker", worker.name)
                        self._slots[index] = self._spawn(stop)
            if self._stopping and all(greenlet.dead for _, greenlet in self._slots):
                return
            gevent.sleep(_TICK)
