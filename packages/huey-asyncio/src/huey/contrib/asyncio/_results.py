"""Awaiting task results: ``aget_result`` and ``aget_result_group``.

Storage calls are synchronous, so each one runs on a thread of a small pool owned by this module
and the event loop only awaits it. How a wait goes depends on the storage:

* a storage that can be woken by result writes (one that overrides ``wait_result`` or
  ``sleep_for_result``: Redis and Valkey with ``notify_result=True``, SQLite) is waited on with
  its own ``wait_result`` (``BLPOP`` on the result's notification list for Redis) on a pool
  thread, in slices of ``max_delay`` seconds, so the value arrives as soon as it is written;
* any other storage is polled: a check on a pool thread, then ``asyncio.sleep`` on the loop,
  starting at a millisecond and growing by ``backoff`` up to ``max_delay``.

Blocking waits hold a thread each, so at most ``_MAX_BLOCKING_WAITS`` run at once in a process;
waiters beyond that poll until a slot frees up.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from huey.api import ChordResult, Result, ResultGroup
from huey.constants import EmptyData
from huey.exceptions import ResultTimeout
from huey.storage import BaseStorage

T = TypeVar("T")

_MAX_BLOCKING_WAITS = 32
_THREADS = _MAX_BLOCKING_WAITS + 8  # Room for the quick reads beside the blocking waits.

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_blocking_waits = 0


def _reset_after_fork() -> None:
    global _executor, _blocking_waits, _lock
    _executor, _blocking_waits, _lock = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(_THREADS, thread_name_prefix="huey-aget")
        return _executor


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_pool(), fn, *args)


def _can_notify(storage: BaseStorage) -> bool:
    """Whether the storage's ``wait_result`` is woken by writes rather than plain polling."""
    if getattr(storage, "notify_result", None) is False:  # Redis/Valkey without notify_result.
        return False
    kind = type(storage)
    return (
        kind.wait_result is not BaseStorage.wait_result
        or kind.sleep_for_result is not BaseStorage.sleep_for_result
    )


def _claim_blocking_wait() -> bool:
    global _blocking_waits
    with _lock:
        if _blocking_waits >= _MAX_BLOCKING_WAITS:
            return False
        _blocking_waits += 1
        return True


def _release_blocking_wait() -> None:
    global _blocking_waits
    with _lock:
        _blocking_waits -= 1


def _is_ready(result: Result, preserve: bool) -> bool:
    # Reads a stored value into the handle, as ``Result.is_ready()`` does, but honours preserve.
    return result._get(preserve) is not EmptyData


def _ready_or_wait(
    result: Result, preserve: bool, slice_: float, backoff: float, max_delay: float
) -> bool:
    if _is_ready(result, preserve):
        return True
    return result.huey.storage.wait_result(result.id, slice_, backoff, max_delay)


async def aget_result(
    result: Result | ChordResult,
    backoff: float = 1.15,
    max_delay: float = 1.0,
    preserve: bool = False,
    timeout: float | None = None,
) -> Any:
    """Wait for the task behind ``result`` to finish and return its value.

    Other coroutines run while this one waits. A task that failed raises ``TaskException``
    (with the error's metadata), as ``result.get()`` does; ``preserve=True`` leaves the value
    in the result store. A chord's handle waits for its callback. With ``timeout`` (seconds),
    ``ResultTimeout`` is raised once that long has passed without a result.
    """
    if isinstance(result, ChordResult):
        result = result.callback
    if not isinstance(result, Result):
        raise TypeError(f"aget_result() takes a Result, not {result!r}; see aget_result_group()")
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    storage = result.huey.storage
    notified = _can_notify(storage)
    delay = 0.001
    while True:
        # Every wait ends by the deadline, so the result is checked once more at it.
        left = max_delay if deadline is None else min(max_delay, deadline - loop.time())
        if notified and left > 0 and _claim_blocking_wait():
            try:
                ready = await _in_thread(_ready_or_wait, result, preserve, left, backoff, max_delay)
            finally:
                _release_blocking_wait()
        else:
            ready = await _in_thread(_is_ready, result, preserve)
            if not ready and left > 0:
                await asyncio.sleep(min(delay, left))
                delay = min(delay * backoff, max_delay)
        if ready:
            return await _in_thread(functools.partial(result.get, preserve=preserve))
        if deadline is not None and loop.time() >= deadline:
            raise ResultTimeout(f"{result.task.name} {result.id} not ready in {timeout}s")


async def _await_handle(handle: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(handle, ResultGroup):
        return await aget_result_group(handle, *args, **kwargs)
    return await aget_result(handle, *args, **kwargs)


async def aget_result_group(rg: ResultGroup, *args: Any, **kwargs: Any) -> list[Any]:
    """Wait for every task of ``rg`` (a group, a pipeline, a ``map``) at once; their values,
    in order. Takes ``aget_result``'s arguments; the first failed task raises
    ``TaskException``. A member that is itself a group gives a list, a chord its callback's
    value."""
    return list(await asyncio.gather(*(_await_handle(h, *args, **kwargs) for h in rg)))
