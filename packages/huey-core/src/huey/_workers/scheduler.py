"""The scheduler: moves due tasks from the schedule to the queue, enqueues periodic tasks.

It runs in a thread of the consumer process (a greenlet once gevent has patched threading),
whatever the worker type. Periodic tasks are checked once per minute of ``clock`` (the
consumer's crontab time, UTC or local), catching up on minutes skipped between two ticks.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from huey._tasklog import seconds
from huey._workers.loop import Backoff, debug_traceback, one_line
from huey._workers.periodic import PeriodicClaims
from huey.exceptions import MessageError
from huey.utils import now as clock_now

if TYPE_CHECKING:
    from huey.api import Huey

logger = logging.getLogger("huey.consumer.scheduler")

Clock = Callable[[], dt.datetime]

_MINUTE = dt.timedelta(minutes=1)
MAX_CATCH_UP = 5  # Minutes; a longer gap (a suspended machine) runs only the current minute.


class Scheduler:
    def __init__(
        self,
        huey: Huey,
        interval: float = 1.0,
        periodic: bool = True,
        clock: Clock | None = None,
        utc: bool = True,
        guard: AbstractContextManager[object] | None = None,
        max_delay: float = 10.0,
    ) -> None:
        self.huey = huey
        self.interval = interval
        self.periodic = periodic
        self.clock: Clock = clock or (lambda: clock_now(utc))
        # Held for each tick, so the consumer can fork worker processes between storage calls.
        self.guard = guard or nullcontext()
        self.claims = PeriodicClaims(huey)
        self._retry = Backoff(min(interval, 1.0), 2.0, max(max_delay, interval))
        self._failures = 0
        self._last_minute: dt.datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- thread --------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="Scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        logger.debug("scheduler started, interval %ss", self.interval)
        next_tick = time.monotonic()
        while not self._stop.is_set():
            try:
                with self.guard:
                    self.tick()
            except Exception as exc:
                delay = self._retry.next()
                self._failed(exc, delay)
                self._stop.wait(delay)
                continue
            if self._failures:
                logger.warning("scheduler: storage available again")
                self._failures = 0
                self._retry.reset()
            next_tick += self.interval
            now = time.monotonic()
            if next_tick < now:  # Fell behind (a slow tick): no burst of catch-up ticks.
                next_tick = now + self.interval
            self._stop.wait(next_tick - now)
        logger.debug("scheduler stopped")

    def _failed(self, exc: Exception, delay: float) -> None:
        self._failures += 1
        if self._failures == 1:
            logger.error(
                "scheduler: storage error, retrying in %s: %s",
                seconds(delay),
                one_line(exc),
                exc_info=debug_traceback(logger, exc),
            )
        else:
            logger.warning(
                "scheduler: storage still failing (%d tries): %s", self._failures, one_line(exc)
            )

    # -- work ----------------------------------------------------------------------------------
    def tick(self) -> None:
        self.enqueue_due()
        if self.periodic:
            self.enqueue_periodic()

    def enqueue_due(self) -> int:
        """Move every task due by now from the schedule to the queue."""
        due = self.huey.storage.read_schedule(clock_now(self.huey.utc))
        count = 0
        for index, data in enumerate(due):
            try:
                task = self.huey._read_message(data)
            except MessageError:
                continue  # Dead-lettered.
            try:
                self.huey.enqueue(task)
            except Exception:
                # Already off the schedule: put the rest back for the next tick.
                for rest in due[index:]:
                    self._reschedule(rest)
                raise
            count += 1
            logger.info("Enqueueing %s", task)  # huey 3.5.4's words (at DEBUG there).
        return count

    def _reschedule(self, data: bytes) -> None:
        try:
            self.huey.storage.add_to_schedule(data, clock_now(self.huey.utc))
        except Exception:
            logger.error("lost a scheduled message (%d bytes): storage unavailable", len(data))

    def enqueue_periodic(self) -> int:
        """Enqueue the periodic tasks of each minute reached since the last tick."""
        minute = self.clock().replace(second=0, microsecond=0)
        last = self._last_minute
        if last is None:
            self.claims.sweep(minute, self.huey._registry.periodic_tasks)
            minutes = [minute]
        elif minute <= last:
            return 0  # Same minute, or the clock went back (DST): nothing new.
        elif minute - last <= MAX_CATCH_UP * _MINUTE:
            minutes = [last + _MINUTE * step for step in range(1, (minute - last) // _MINUTE + 1)]
        else:
            minutes = [minute]
        count = 0
        for current in minutes:
            count += self._enqueue_minute(current)
            self._last_minute = current  # A failure later retries only the minutes after.
        self.claims.expire(minute)
        return count

    def _enqueue_minute(self, minute: dt.datetime) -> int:
        count = 0
        for task in self.huey.read_periodic(minute):
            if not self.claims.claim(task.qualified_name, minute):
                logger.debug("periodic task %s for %s: enqueued elsewhere", task, minute)
                continue
            try:
                self.huey.enqueue(task)
            except Exception:
                self.claims.release(task.qualified_name, minute)
                raise
            count += 1
            logger.info("Enqueueing periodic task %s.", task)  # huey 3.5.4's words.
        return count
