"""MiniHuey: tasks run in greenlets of the application's own process; no storage, no consumer.

Calling a task spawns a greenlet and returns a gevent ``AsyncResult`` that is also callable, as
in huey (``result.get()`` or ``result()`` waits for the value or raises the task's exception).
``task.schedule(args, kwargs, eta=, delay=)`` runs it later and periodic tasks
(``@mini.task(crontab(...))`` or ``@mini.periodic_task(...)``) run every matching minute, both
once ``start()`` has started the scheduler greenlet. Needs gevent:
``pip install 'huey-core[gevent]'``.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from huey.utils import normalize_time
from huey.utils import now as clock_now

logger = logging.getLogger("huey.mini")

_MINUTE = dt.timedelta(minutes=1)

__all__ = ["MiniHuey", "MiniTask"]


@functools.cache
def _gevent() -> tuple[Any, type]:
    """gevent and the result class built on its ``AsyncResult``; imported on first use."""
    try:
        import gevent  # type: ignore[import-untyped]
        import gevent.event  # type: ignore[import-untyped]
        import gevent.pool  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(
            "MiniHuey runs tasks in greenlets and needs gevent: pip install 'huey-core[gevent]'"
        ) from exc

    class MiniResult(gevent.event.AsyncResult):  # type: ignore[misc]
        """A task's outcome: ``get()``, or call it, to wait for the value (huey's spelling)."""

        def __call__(self, block: bool = True, timeout: float | None = None) -> Any:
            return self.get(block, timeout)

    return gevent, MiniResult


class MiniTask:
    """What ``MiniHuey.task()`` returns: calling it runs the function in a new greenlet."""

    def __init__(self, mini: MiniHuey, func: Callable[..., Any]) -> None:
        self.mini = mini
        self.func = func
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.mini._spawn(self.func, args, kwargs)

    def schedule(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        eta: dt.datetime | None = None,
        delay: float | dt.timedelta | None = None,
    ) -> Any:
        """Run at ``eta`` or after ``delay`` seconds (needs ``start()``); a callable AsyncResult.

        Exactly one of ``eta`` (a naive local or an aware datetime) and ``delay`` (seconds or a
        timedelta) must be given: ``ValueError`` otherwise, as in huey.
        """
        return self.mini._schedule(self.func, tuple(args or ()), dict(kwargs or {}), eta, delay)

    def call_local(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<MiniTask {self.func.__qualname__}>"


class MiniHuey:
    """``interval``: seconds between scheduler checks; ``pool_size``: most tasks at once.

    Crontabs and etas use local time, as huey's MiniHuey does (``utc=True`` for UTC); ``clock``
    (returning a naive datetime on that clock) replaces the real one, for tests.
    """

    def __init__(
        self,
        name: str = "huey",
        interval: float = 1,
        pool_size: int | None = None,
        *,
        utc: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        gevent, self._result_class = _gevent()
        self.name = name
        self.interval = interval
        self.utc = utc
        self.clock = clock or (lambda: clock_now(utc))
        self._gevent = gevent
        self._pool = gevent.pool.Pool(pool_size) if pool_size else gevent.pool.Group()
        self._schedule_heap: list[tuple[dt.datetime, int, Callable[..., Any], Any, Any, Any]] = []
        self._seq = itertools.count()
        self._periodic: list[tuple[Callable[[dt.datetime], bool], Callable[..., Any]]] = []
        self._run_t: Any = None  # The scheduler greenlet (huey's attribute name).
        # The last minute whose periodic tasks were started: the one before construction, so
        # that tasks matching the current minute still run once the scheduler starts.
        self._last_check = self.clock().replace(second=0, microsecond=0) - _MINUTE

    def task(
        self, validate_func: Callable[[dt.datetime], bool] | None = None
    ) -> Callable[[Callable[..., Any]], MiniTask]:
        """Decorate a function as a task; with ``validate_func`` (a crontab) it is periodic."""

        def decorator(func: Callable[..., Any]) -> MiniTask:
            if validate_func is not None:
                self._periodic.append((validate_func, func))
            return MiniTask(self, func)

        return decorator

    def periodic_task(
        self, validate_func: Callable[[dt.datetime], bool]
    ) -> Callable[[Callable[..., Any]], MiniTask]:
        """``task(validate_func)``: a task run every minute ``validate_func`` accepts."""
        return self.task(validate_func)

    # -- running -------------------------------------------------------------------------------
    def _spawn(self, func: Callable[..., Any], args: Any, kwargs: Any, result: Any = None) -> Any:
        result = result if result is not None else self._result_class()
        self._pool.spawn(self._execute, func, args, kwargs, result)
        return result

    @staticmethod
    def _execute(func: Callable[..., Any], args: Any, kwargs: Any, result: Any) -> None:
        try:
            value = func(*args, **kwargs)
        except Exception as exc:
            logger.exception("task %s failed", getattr(func, "__qualname__", func))
            result.set_exception(exc)
        else:
            result.set(value)

    def _schedule(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        eta: dt.datetime | None,
        delay: float | dt.timedelta | None,
    ) -> Any:
        if delay is not None and eta is None:
            # Counted on this instance's clock, the one the scheduler checks.
            seconds = delay if isinstance(delay, dt.timedelta) else dt.timedelta(seconds=delay)
            when = self.clock() + seconds
        else:
            when = normalize_time(eta, delay, self.utc)  # Raises unless only eta is given.
        result = self._result_class()
        heapq.heappush(self._schedule_heap, (when, next(self._seq), func, args, kwargs, result))
        return result

    # -- scheduler -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the scheduler greenlet (for scheduled and periodic tasks); returns at once."""
        if self._run_t is None or self._run_t.dead:
            self._run_t = self._gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop the scheduler greenlet; running tasks are not touched."""
        if self._run_t is not None:
            self._run_t.kill()
            self._run_t = None

    def _run(self) -> None:
        while True:
            try:
                self.check(self.clock())
            except Exception:
                logger.exception("MiniHuey scheduler error")
            self._gevent.sleep(self.interval)

    def check(self, now: dt.datetime) -> None:
        """Start the tasks due at ``now`` and, once per minute, the matching periodic ones."""
        while self._schedule_heap and self._schedule_heap[0][0] <= now:
            _, _, func, args, kwargs, result = heapq.heappop(self._schedule_heap)
            self._spawn(func, args, kwargs, result)
        minute = now.replace(second=0, microsecond=0)
        if minute <= self._last_check:
            return
        self._last_check = minute
        for validate, func in self._periodic:
            try:
                due = validate(minute)
            except Exception:
                # One broken schedule must not keep the others (or the scheduler) from running.
                logger.exception("periodic task %s: its schedule raised", func.__qualname__)
                continue
            if due:
                self._spawn(func, (), {})
