"""The consumer: a supervisor running a worker pool and a scheduler for one Huey instance.

``Consumer.run()`` blocks and handles signals (what ``huey_consumer`` uses); ``start()`` runs
the supervisor in a background thread for embedding, ``stop()`` ends it.

* SIGINT (``stop(graceful=True)``): take no new tasks, let running ones finish, then exit. A
  second SIGINT, or ``shutdown_timeout`` seconds, interrupts what is still running.
* SIGTERM (``stop(graceful=False)``): interrupt running tasks at once; ``SIGNAL_INTERRUPTED``
  is sent for each.
* SIGHUP (``restart()``): let running tasks finish, then start a fresh set of workers.

``graceful_signal="TERM"`` (``-g TERM``) swaps SIGINT and SIGTERM, for supervisors that stop
services with SIGTERM (systemd, Docker, Kubernetes).

``max_tasks=N`` (``-M N``) recycles each worker after N tasks: it ends once the last one's
outcome is recorded, and the health check (which must be on) starts a fresh one; with process
workers this hands back memory that tasks leak.

Worker types are plugins: see ``huey._workers``.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING

from huey._delivery import AT_LEAST_ONCE
from huey._memory_storage import MemoryStorage
from huey._workers import (
    Worker,
    WorkerInterrupted,
    WorkerPool,
    WorkerSettings,
    load_worker_type,
    worker_types,
)
from huey._workers.base import INTERRUPT_GRACE, shutdown_signals
from huey._workers.process import ForkSafeFlag, ProcessEnvironment
from huey._workers.scheduler import Clock, Scheduler
from huey._workers.thread import ThreadEnvironment
from huey.consumer_options import ConsumerConfig, lock_names
from huey.exceptions import ConsumerOptionError

if TYPE_CHECKING:
    from huey.api import Huey

logger = logging.getLogger("huey.consumer")

# The pool plugin interface is re-exported here: ``from huey.consumer import WorkerPool``.
__all__ = [
    "WORKER_TO_ENVIRONMENT",
    "Consumer",
    "ConsumerStopped",
    "ForkSafeFlag",
    "ProcessEnvironment",
    "Scheduler",
    "ThreadEnvironment",
    "Worker",
    "WorkerInterrupted",
    "WorkerPool",
    "WorkerSettings",
    "worker_types",
]

_POLL = 0.1  # Supervisor's longest sleep: signal handlers only set flags, read this often.

# How the core worker types run their workers (stop flag, creating a worker, its timeouts), by
# worker type name, as in huey. The greenlet type is left out: describing it imports gevent.
WORKER_TO_ENVIRONMENT: dict[str, type[ThreadEnvironment] | type[ProcessEnvironment]] = {
    "thread": ThreadEnvironment,
    "process": ProcessEnvironment,
}


class ConsumerStopped(RuntimeError):
    """``start()`` or ``run()`` on a consumer that has already run: a consumer runs once."""


class Consumer:
    def __init__(
        self,
        huey: Huey,
        workers: int = 1,
        periodic: bool = True,
        initial_delay: float = 0.1,
        backoff: float = 1.15,
        max_delay: float = 10.0,
        scheduler_interval: float = 1.0,
        worker_type: str | type[WorkerPool] = "thread",
        check_worker_health: bool = True,
        health_check_interval: float = 1.0,
        flush_locks: bool = False,
        extra_locks: str | Iterable[str] | None = None,
        max_tasks: int | None = None,
        shutdown_timeout: float | None = None,
        graceful_signal: str = "INT",
        utc: bool | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``graceful_signal``: ``"INT"`` (the default) or ``"TERM"``, the signal that stops
        gracefully; the other one interrupts running tasks.

        ``max_tasks``: recycle each worker after it has executed this many tasks (it ends once
        the last one is recorded; the health check, which must be on, starts a new one).

        ``clock`` returns the current naive datetime on which periodic tasks' crontabs are
        checked (UTC, or local time with ``utc=False``); tests pass a controllable one."""
        config = ConsumerConfig(
            workers=workers,
            worker_type=worker_type,  # type: ignore[arg-type]
            initial_delay=initial_delay,
            backoff=backoff,
            max_delay=max_delay,
            periodic=periodic,
            check_worker_health=check_worker_health,
            health_check_interval=health_check_interval,
            scheduler_interval=scheduler_interval,
            utc=utc,
            flush_locks=flush_locks or bool(extra_locks),
            extra_locks=lock_names(extra_locks),
            max_tasks=max_tasks,
            shutdown_timeout=shutdown_timeout,
            graceful_signal=graceful_signal,
        )
        config.validate()
        max_tasks = config.max_tasks  # 0 means never, as None does.
        self.huey = huey
        self.config = config
        self.pool_class = load_worker_type(worker_type)
        if max_tasks is not None and not self.pool_class.supports_max_tasks:
            raise ConsumerOptionError(
                f"-M/--max-tasks: worker type {self.pool_class.worker_type!r} cannot recycle "
                "its workers (its pool does not support max_tasks)"
            )
        self.settings = WorkerSettings(
            workers,
            initial_delay,
            backoff,
            max_delay,
            graceful_signal=graceful_signal,
            max_tasks=max_tasks,
        )
        self.utc = huey.utc if utc is None else utc
        # Held by the scheduler around storage calls and by us around fork(): a worker process
        # never starts life holding a storage lock taken by the scheduler thread.
        self._guard = threading.Lock()
        self.scheduler = Scheduler(
            huey,
            interval=scheduler_interval,
            periodic=periodic,
            clock=clock,
            utc=self.utc,
            guard=self._guard,
            max_delay=max_delay,
        )
        self.pool: WorkerPool | None = None
        self._stop_mode: str | None = None  # None, "graceful" or "forced".
        self._restart = False
        self._wake = threading.Event()
        self._started = threading.Event()
        self._stopped = threading.Event()
        self._startup_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._ran = False

    # -- huey's attribute names for the options (read-only) -------------------------------------
    @property
    def workers(self) -> int:
        return self.config.workers

    @property
    def worker_type(self) -> str:
        return self.pool_class.worker_type

    @property
    def periodic(self) -> bool:
        return self.config.periodic

    @property
    def default_delay(self) -> float:
        """The first polling interval (``initial_delay``, ``-d``)."""
        return self.config.initial_delay

    @property
    def backoff(self) -> float:
        return self.config.backoff

    @property
    def max_delay(self) -> float:
        return self.config.max_delay

    @property
    def scheduler_interval(self) -> float:
        return self.config.scheduler_interval

    @property
    def max_tasks(self) -> int | None:
        return self.config.max_tasks

    @property
    def shutdown_timeout(self) -> float | None:
        return self.config.shutdown_timeout

    @property
    def graceful_signal(self) -> str:
        return self.config.graceful_signal

    @functools.cached_property
    def environment(self) -> ThreadEnvironment | ProcessEnvironment | None:
        """How this consumer's workers run, for the core thread and process worker types
        (``WORKER_TO_ENVIRONMENT``; process workers fork whatever the platform's default start
        method); None for the other worker types."""
        if self.worker_type == "process":
            return ProcessEnvironment(self.config.graceful_signal)
        if self.worker_type == "thread":
            return ThreadEnvironment()
        return None

    @property
    def _health_check(self) -> bool:  # huey's (private) name for ``check_worker_health``.
        return self.config.check_worker_health

    # -- public --------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._started.is_set() and not self._stopped.is_set()

    def run(self) -> None:
        """Run until stopped, handling SIGINT/SIGTERM/SIGHUP when called in the main thread."""
        self._claim_run()
        restore = self._install_signal_handlers()
        try:
            self._supervise()
        finally:
            restore()

    def start(self) -> None:
        """Start in background threads of this process and return once workers are up."""
        self._claim_run()
        self._thread = threading.Thread(
            target=self._supervise_quietly, name="Consumer", daemon=True
        )
        self._thread.start()
        self._started.wait()
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error

    def stop(self, graceful: bool = True, timeout: float | None = None) -> bool:
        """Stop; graceful lets running tasks finish. Waits up to ``timeout`` seconds (None:
        until stopped); True once stopped."""
        self._request_stop(graceful)
        return self._stopped.wait(timeout) if self._started.is_set() else True

    def restart(self) -> None:
        """Let running tasks finish, then replace every worker (what SIGHUP does)."""
        self._restart = True
        self._wake.set()

    def _claim_run(self) -> None:
        if self._ran:
            raise ConsumerStopped("this consumer was already started; create a new one")
        self._ran = True

    # -- requests ------------------------------------------------------------------------------
    def _request_stop(self, graceful: bool) -> None:
        if graceful and self._stop_mode is None:
            self._stop_mode = "graceful"
        elif not graceful:
            self._stop_mode = "forced"
        self._wake.set()

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        # Handlers only set flags (no locks: they may interrupt the thread holding one).
        def on_graceful(signum: int, frame: FrameType | None) -> None:
            self._stop_mode = "graceful" if self._stop_mode is None else "forced"

        def on_interrupt(signum: int, frame: FrameType | None) -> None:
            self._stop_mode = "forced"

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self._restart = True

        graceful, interrupt = shutdown_signals(self.config.graceful_signal)
        handlers = {graceful: on_graceful, interrupt: on_interrupt}
        if hasattr(signal, "SIGHUP"):
            handlers[signal.SIGHUP] = on_hup
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    # -- supervisor ----------------------------------------------------------------------------
    def _supervise_quietly(self) -> None:
        try:
            self._supervise()
        except BaseException as exc:
            if exc is not self._startup_error:  # start() re-raises startup errors.
                logger.exception("consumer failed")
        finally:
            self._stopped.set()

    def _supervise(self) -> None:
        try:
            self._startup()
        except BaseException as exc:
            self._startup_error = exc
            self._stop_mode = "forced"
            self._shutdown()
            self._stopped.set()
            self._started.set()
            raise
        self._started.set()
        try:
            self._loop()
        finally:
            self._shutdown()
            self._stopped.set()

    def _startup(self) -> None:
        if self.config.flush_locks:
            flushed = self.huey.flush_locks(*self.config.extra_locks)
            logger.info("flushed locks: %s", ", ".join(sorted(flushed)) or "none were held")
        self._log_banner()
        self.pool = self._new_pool()
        self.scheduler.start()

    def _new_pool(self) -> WorkerPool:
        pool = self.pool_class(self.huey, self.settings)
        with self._guard:
            pool.start()
        return pool

    def _loop(self) -> None:
        interval = self.config.health_check_interval
        next_check = time.monotonic() + interval
        while self._stop_mode is None:
            if self._restart:
                self._restart = False
                self._restart_workers()
                continue
            if self.config.check_worker_health and time.monotonic() >= next_check:
                self._check_health()
                next_check = time.monotonic() + interval
            self._wake.wait(_POLL)
            self._wake.clear()

    def _check_health(self) -> None:
        assert self.pool is not None
        # Replacing a dead process worker forks: never while the scheduler is inside a storage
        # call (a child inheriting SQLite's internal locks held hangs on its first query).
        with self._guard:
            replaced = self.pool.check_health()
        if replaced:  # Each one is logged by its pool: a death as a warning, a recycling not.
            logger.info("health check: started %d new worker(s)", replaced)

    def _restart_workers(self) -> None:
        assert self.pool is not None
        logger.info("restarting workers once running tasks finish")
        if not self._drain(self.pool, "restart"):
            return
        if self._stop_mode is None:
            self.pool = self._new_pool()
            logger.info("workers restarted: %s", self.pool.describe())

    def _drain(self, pool: WorkerPool, why: str) -> bool:
        """Graceful stop of ``pool``: True if its workers ended on their own."""
        pool.request_stop()
        timeout = self.config.shutdown_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while not pool.join(_POLL):
            if self._stop_mode == "forced":
                logger.warning("%s: interrupting running tasks", why)
                break
            if deadline is not None and time.monotonic() >= deadline:
                logger.warning("%s: running tasks still busy after %ss, interrupting", why, timeout)
                break
        else:
            return True
        pool.interrupt(INTERRUPT_GRACE)
        return False

    def _shutdown(self) -> None:
        mode = self._stop_mode or "forced"
        if mode == "graceful":
            logger.info("shutting down: waiting for running tasks (again to interrupt them)")
        else:
            logger.info("shutting down: interrupting running tasks")
        self.scheduler.stop()
        if self.pool is not None:
            if mode == "graceful":
                self._drain(self.pool, "shutdown")
            else:
                self.pool.interrupt(INTERRUPT_GRACE)
        logger.info("consumer stopped")

    # -- banner --------------------------------------------------------------------------------
    def _log_banner(self) -> None:
        c = self.config
        storage = self.huey.storage
        if storage.supports_blocking_dequeue:
            polling = "blocking dequeue"
        else:
            polling = (
                f"polls every {c.initial_delay}s, x{c.backoff} when empty, up to {c.max_delay}s"
            )
        graceful, interrupt = shutdown_signals(c.graceful_signal)
        shutdown = (
            f"{graceful.name} waits for running tasks"
            if c.shutdown_timeout is None
            else f"{graceful.name} waits at most {c.shutdown_timeout}s"
        ) + f", {interrupt.name} interrupts them"
        delivery = self.huey.delivery
        if delivery == AT_LEAST_ONCE:
            delivery += (
                f" (leases lapse after {self.huey.visibility_timeout:g}s; dead letter after "
                f"{self.huey.max_deliveries} deliveries)"
            )
        lines = [
            f"huey consumer started for {self.huey!r} (pid {os.getpid()})",
            f"- workers: {c.workers} x {self.pool_class.worker_type}"
            + (f", each recycled after {c.max_tasks} tasks" if c.max_tasks else ""),
            f"- storage: {type(storage).__name__}, {polling}",
            f"- delivery: {delivery}",
            f"- scheduler: every {c.scheduler_interval}s; periodic tasks "
            + (f"on, crontabs in {'UTC' if self.utc else 'local time'}" if c.periodic else "off"),
            "- health checks: "
            + (f"every {c.health_check_interval}s" if c.check_worker_health else "off"),
            f"- graceful shutdown: {shutdown}",
            "registered tasks:",
        ]
        periodic = set(self.huey._registry.periodic_tasks)
        names = sorted((cls.qualified_name, cls in periodic) for cls in self.huey._registry)
        lines += [f"+ {name}{' (periodic)' if is_periodic else ''}" for name, is_periodic in names]
        if not names:
            lines.append("(none: is the module defining the tasks imported?)")
        logger.info("\n".join(lines))
        if not self.pool_class.shares_memory and isinstance(storage, MemoryStorage):
            logger.warning(
                "%s workers each get their own copy of a MemoryStorage: they will not see "
                "tasks enqueued elsewhere; use a storage shared between processes",
                self.pool_class.worker_type,
            )
