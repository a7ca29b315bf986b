"""Running the body of an ``async def`` task from synchronous code.

The thread, process and greenlet workers and immediate mode call ``task.execute()`` and wait
for it; for an async task that is ``run_coroutine(task.coroutine())``, which drives the
coroutine to completion:

* on a private event loop of the calling thread, kept for that thread's next async task (as
  ``asyncio.run`` would, but without a new loop each time); tasks the body left running are
  cancelled when it returns;
* from a thread that already runs an event loop (immediate mode called from async code), on a
  helper thread's private loop while the caller waits;
* from a gevent greenlet, on a native thread of the hub's thread pool while the greenlet waits
  cooperatively: greenlets share their thread, and asyncio allows one running loop per thread.

Whatever stops the caller from outside the coroutine (SIGALRM's ``TaskTimeout`` in a process
worker, ``WorkerInterrupted`` raised in a thread, ``gevent.Timeout`` or a greenlet kill)
cancels the coroutine, gives it a moment to unwind, and propagates.

Worker types with an event loop of their own await ``task.coroutine()`` there instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from huey.exceptions import TaskTimeout

if TYPE_CHECKING:
    from huey._task import Task

T = TypeVar("T")

# How long a cancelled coroutine (or the tasks it left behind) may take to unwind.
_UNWIND = 1.0
# While a body runs, a private loop wakes this often even with nothing to do: an exception
# raised in its thread from outside (a thread worker's interrupt) is only delivered while
# Python code runs, never during the wait for I/O.
_HEARTBEAT = 0.1

_local = threading.local()  # .loop: this thread's private event loop.
# Loops a forked child inherited: kept, never closed (closing one would unregister descriptors
# from the epoll instance it shares with the parent's loop).
_inherited: list[asyncio.AbstractEventLoop] = []


def _forget_parent_loop() -> None:
    global _local
    loop = getattr(_local, "loop", None)
    if loop is not None:
        _inherited.append(loop)
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_parent_loop)


async def bounded(task: Task, coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` held to ``task``'s timeout, counted from the task's start.

    ``asyncio.timeout`` cancels the body when the time is up; that becomes ``TaskTimeout``. A
    ``TimeoutError`` the body raises itself stays what it is.
    """
    remaining = task.time_remaining
    if remaining == float("inf"):
        return await coro
    scope = asyncio.timeout(max(remaining, 0.0))
    try:
        async with scope:
            return await coro
    except TimeoutError:
        if scope.expired():
            raise TaskTimeout(f"timeout ({task.timeout}s)") from None  # huey 3.5.4's text
        raise


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion and return its value (or raise its exception)."""
    if _in_gevent_greenlet():
        return _run_from_greenlet(coro)
    if _loop_running():
        return _run_on_helper_thread(coro)
    return _run_here(coro)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _in_gevent_greenlet() -> bool:
    gevent = sys.modules.get("gevent")
    return gevent is not None and isinstance(gevent.getcurrent(), gevent.Greenlet)


class _Remote:
    """A coroutine run on another thread: what the waiting side needs to cancel it.

    No lock (under gevent a lock would be a greenlet lock, not one between threads): the
    runner publishes ``task`` then reads ``cancelled``; ``cancel()`` sets ``cancelled`` then
    reads ``task``. One of the two sees the other, so a cancel is never lost.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False

    def publish(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.loop, self.task = loop, task
        if self.cancelled:
            task.cancel()

    def cancel(self) -> None:
        self.cancelled = True
        loop, task = self.loop, self.task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # The loop is closed: the coroutine is over.
                pass


def _thread_loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def _discard_thread_loop() -> None:
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    _local.loop = None
    if loop is not None and not loop.is_closed():
        loop.close()


def _run_here(coro: Coroutine[Any, Any, T], remote: _Remote | None = None) -> T:
    loop = _thread_loop()
    task = loop.create_task(coro)
    if remote is not None:
        remote.publish(loop, task)
    heartbeat = _Heartbeat(loop)
    try:
        value = loop.run_until_complete(task)
    except BaseException:
        heartbeat.stop()
        if not task.done():
            # Stopped from outside the coroutine, between two of its steps: cancel it, let it
            # unwind briefly, and start afresh with a new loop next time.
            task.cancel()
            _settle(loop, {task})
            _discard_thread_loop()
        else:
            _cancel_leftovers(loop)
        raise
    heartbeat.stop()
    _cancel_leftovers(loop)
    return value


class _Heartbeat:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handle = loop.call_later(_HEARTBEAT, self.beat)

    def beat(self) -> None:
        self.handle = self.loop.call_later(_HEARTBEAT, self.beat)

    def stop(self) -> None:
        self.handle.cancel()


def _settle(loop: asyncio.AbstractEventLoop, tasks: set[asyncio.Task[Any]]) -> None:
    try:
        loop.run_until_complete(asyncio.wait(tasks, timeout=_UNWIND))
    except BaseException:  # Stopped again while unwinding: the loop is dropped anyway.
        pass


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel tasks the body started and left running, as ``asyncio.run`` does on return."""
    leftovers = asyncio.all_tasks(loop)
    if not leftovers:
        return
    for task in leftovers:
        task.cancel()
    _settle(loop, leftovers)
    if any(not task.done() for task in leftovers):
        _discard_thread_loop()


def _run_on_helper_thread(coro: Coroutine[Any, Any, T]) -> T:
    remote = _Remote()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = _run_here(coro, remote)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            _discard_thread_loop()

    thread = threading.Thread(target=target, name="huey-coroutine", daemon=True)
    thread.start()
    try:
        thread.join()
    except BaseException:
        remote.cancel()
        thread.join(_UNWIND)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


_greenlets_waiting = 0


def _run_from_greenlet(coro: Coroutine[Any, Any, T]) -> T:
    global _greenlets_waiting
    import gevent  # type: ignore[import-untyped]

    pool = gevent.get_hub().threadpool
    remote = _Remote()
    _greenlets_waiting += 1
    if pool.maxsize < _greenlets_waiting:  # Every waiting greenlet gets a thread at once.
        pool.maxsize = _greenlets_waiting
    try:
        value, error = pool.spawn(_outcome, coro, remote).get()
    except BaseException:
        remote.cancel()
        raise
    finally:
        _greenlets_waiting -= 1
    if error is not None:
        raise error
    return value  # type: ignore[no-any-return]


def _outcome(coro: Coroutine[Any, Any, Any], remote: _Remote) -> tuple[Any, BaseException | None]:
    """``_run_here`` returning its exception rather than raising it: gevent's thread pool would
    print one the waiting greenlet no longer reads (after its timeout)."""
    try:
        return _run_here(coro, remote), None
    except BaseException as exc:
        return None, exc
