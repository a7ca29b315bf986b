"""A private asyncio event loop on a daemon thread, one per process.

valkey-glide's ``glide`` package is asynchronous only. Its synchronous sibling, the separate
``valkey-glide-sync`` distribution (``glide_sync``), is not used: its clients are not fork-safe
(valkey-glide issue #6672), while the asyncio client recovers in a forked child (2.5 and later).
Plain threads reach the async client through this loop: ``run(coro)`` hands the coroutine to
the loop thread and waits for its outcome.

Every glide client of the process is created and awaited on this one loop, so that glide's
process-wide response channel is read by a loop that lives as long as the process. A forked
child does not inherit the loop's thread: the first ``run`` in a child starts a new loop there
(``os.register_at_fork`` drops the parent's), and storages re-create their clients.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["LoopThread", "creation_lock", "loop_thread"]


class LoopThread:
    """An event loop running forever on its own daemon thread."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self.thread = threading.Thread(
            target=self._main, name=f"huey-valkey-glide-loop-{self.pid}", daemon=True
        )
        self.thread.start()
        self._started.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run ``coro`` on the loop and return its result; raise ``TimeoutError`` after
        ``timeout`` seconds (the coroutine is then cancelled)."""
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("a storage call was made from the glide event loop thread itself")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(
                f"valkey-glide did not answer within {timeout:.3f}s (the event loop or the "
                "client is stuck)"
            ) from None
        except BaseException:
            # KeyboardInterrupt (or another signal exception) while waiting: do not leave the
            # command running unobserved.
            future.cancel()
            raise


_state_lock = threading.Lock()
_current: LoopThread | None = None
# Loops of the parent, kept referenced in a forked child so that they are never collected:
# closing one would unregister descriptors from an epoll instance the parent still uses.
_inherited: list[LoopThread] = []
_creation_lock = threading.RLock()


def creation_lock() -> threading.RLock:
    """The lock held while glide clients are created, and across ``fork()``.

    A child thus never inherits a half-registered client, nor glide's response-channel lock
    in a taken state.
    """
    return _creation_lock


def loop_thread() -> LoopThread:
    """This process's loop thread, started on first use."""
    global _current
    current = _current
    if current is not None and current.pid == os.getpid():
        return current
    with _state_lock:
        if _current is None or _current.pid != os.getpid():
            _current = LoopThread()
        return _current


def _before_fork() -> None:
    _creation_lock.acquire()


def _after_fork_in_parent() -> None:
    _creation_lock.release()


def _after_fork_in_child() -> None:
    global _current, _state_lock, _creation_lock
    # The parent's loop thread does not exist here: its loop is abandoned, never closed.
    if _current is not None:
        _inherited.append(_current)
    _current = None
    _state_lock = threading.Lock()
    _creation_lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
