"""Task locks and fixed-window rate limits, built on the key/value store."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from huey._storage_base import check_ttl
from huey.exceptions import RateLimitExceeded, TaskLockedException

if TYPE_CHECKING:
    from huey.api import Huey

F = TypeVar("F", bound=Callable[..., Any])


class _Guard:
    """Shared shape of locks and rate limits: usable as a decorator or a context manager."""

    def acquire(self) -> Any:
        raise NotImplementedError

    def _on_exit(self) -> None:
        pass

    def __enter__(self) -> _Guard:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._on_exit()

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):  # Held until the coroutine is done, not created.

            @functools.wraps(fn)
            async def ainner(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await fn(*args, **kwargs)

            return ainner  # type: ignore[return-value]

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]


class TaskLock(_Guard):
    """An exclusive lock in the storage: a second holder gets ``TaskLockedException``.

    With ``ttl`` (seconds) the lock frees itself that long after it was taken, even when its
    holder never releases it (a killed worker); every storage honours it.
    """

    def __init__(self, huey: Huey, name: str, ttl: float | None = None) -> None:
        self.huey = huey
        self.name = name
        self.ttl = check_ttl(ttl)
        self._key = f"{huey.name}.lock.{name}"

    def acquire(self) -> bool:
        # The value is a serialized "1", as huey 3.5.4 writes it: every stored value deserializes.
        if not self.huey.put_if_empty(self._key, "1", self.ttl):
            raise TaskLockedException(f"unable to acquire lock {self.name}")
        return True

    def is_locked(self) -> bool:
        return self.huey.storage.has_data_for_key(self._key)

    locked = is_locked

    def clear(self) -> bool:
        return self.huey.storage.delete_data(self._key)

    release = clear

    def _on_exit(self) -> None:
        self.clear()


class RateLimit(_Guard):
    """At most ``limit`` acquisitions per fixed window of ``per`` seconds (0: none at all)."""

    def __init__(self, huey: Huey, name: str, limit: int, per: float, retry: bool = True) -> None:
        if limit < 0 or per < 1:
            raise ValueError("a rate limit needs limit >= 0 and a window of per >= 1 seconds")
        self.huey = huey
        self.name = name
        self.limit = limit
        self.per = per
        self.retry = retry
        self._counter_key = f"{huey.name}.rl.{name}"
        self._window_key = f"{self._counter_key}.w"

    def _current_window(self) -> int:
        return int(time.time()) // int(self.per)

    def _enter_window(self, window: int) -> None:
        if self.huey.get(self._window_key, peek=True) != window:
            self.huey.put(self._window_key, window)
            self.huey.storage.delete_counter(self._counter_key)

    def acquire(self) -> None:
        window = self._current_window()
        self._enter_window(window)
        if self.huey.storage.incr(self._counter_key) > self.limit:
            delay = (window + 1) * int(self.per) - time.time()
            raise RateLimitExceeded(self.name, max(delay, 0.0), self.retry)

    def current_usage(self) -> int:
        if self.huey.get(self._window_key, peek=True) != self._current_window():
            return 0
        return self.huey.storage.incr(self._counter_key, 0)

    def reset(self) -> None:
        self.huey.delete(self._window_key)
        self.huey.storage.delete_counter(self._counter_key)
