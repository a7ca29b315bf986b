"""Make a worker process end when its consumer does, even when the consumer is SIGKILLed."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

logger = logging.getLogger("huey.consumer.worker")

_PR_SET_PDEATHSIG = 1  # From <linux/prctl.h>.


def _set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when the thread that forked it ends."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, sig: int, poll: float, kill_after: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll)
    logger.warning("consumer (pid %d) is gone, worker %d ending", parent_pid, os.getpid())
    os.kill(os.getpid(), sig)
    time.sleep(kill_after)
    os._exit(1)  # The signal did not end us: leave without cleanup.


def die_with_parent(
    parent_pid: int,
    sig: int = signal.SIGTERM,
    poll: float = 0.5,
    kill_after: float = 5.0,
) -> None:
    """End this process with ``sig`` once ``parent_pid`` is no longer its parent.

    PR_SET_PDEATHSIG covers Linux at once; a watchdog thread polling the parent pid covers
    other systems, and the case where the forking thread (rather than the process) ended.
    """
    _set_parent_death_signal(sig)
    if os.getppid() != parent_pid:  # The parent died before the request took effect.
        os.kill(os.getpid(), sig)
    watchdog = threading.Thread(
        target=_watch_parent,
        args=(parent_pid, sig, poll, kill_after),
        name="parent-watchdog",
        daemon=True,
    )
    watchdog.start()
