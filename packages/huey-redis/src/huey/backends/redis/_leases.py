"""Client-side halves of the lease operations, shared by the redis-py and valkey-glide storages.

The work is done on the server by the Lua scripts of ``_scripts`` (``LEASE``, ``ACK``,
``EXTEND_LEASE``); what is left here is what both clients do around them: making lease ids,
reading the ``LEASE`` reply, and waiting for a message when the queue is empty.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from huey.backends.redis._replies import as_bytes, revocation_fields
from huey.storage import Lease

#: First and longest pause between two tries of a lease that cannot block (a priority queue,
#: or a server without ``BLMOVE``).
POLL_FIRST = 0.005
POLL_MAX = 0.1


def new_lease_id() -> str:
    """A fresh lease id: random, so that an old id never names a later delivery."""
    return uuid.uuid4().hex


def milliseconds(seconds: float) -> int:
    """A visibility timeout as the scripts take it: whole milliseconds, rounded up (a lease
    is never shorter than asked), never negative."""
    # Rounded to the nanosecond first, so float noise (0.1 * 1000 = 100.00000000000001) does
    # not add a millisecond.
    return max(0, math.ceil(round(seconds * 1000, 6)))


def lease_args(
    lease_id: str, visibility_timeout: float, queue_kind: str, waiting: bool
) -> list[str]:
    """``ARGV`` of the ``LEASE`` script (strings: what every client sends as they are)."""
    timeout = str(milliseconds(visibility_timeout))
    return [lease_id, timeout, queue_kind, "1" if waiting else "0"]


def extend_args(lease_id: str, visibility_timeout: float) -> list[str]:
    """``ARGV`` of the ``EXTEND_LEASE`` script."""
    return [lease_id, str(milliseconds(visibility_timeout))]


def lease_of(reply: Any, lease_id: str) -> Lease | None:
    """The ``LEASE`` script's reply, ``[message, deliveries, *revocation fields]`` or nil, as
    a ``Lease``."""
    if reply is None:
        return None
    data, deliveries, *fields = reply
    return Lease(lease_id, as_bytes(data), int(deliveries), revocation_fields(fields) or None)


def wait_for_lease(
    attempt: Callable[[bool], Lease | None],
    read_timeout: float,
    block: Callable[[float], bool | None] | None,
) -> Lease | None:
    """Lease a message, waiting up to ``read_timeout`` seconds for one.

    ``attempt(waiting)`` runs the ``LEASE`` script: first as an ordinary lease (a lapsed
    lease, else the queue), then, while waiting, only once the queue holds a message. So only
    a new message ends the wait, as it does a blocking dequeue; a lease that lapses meanwhile
    is for the next call (at most ``read_timeout`` later), and idle consumers do not all wake
    at the moment a lease lapses.

    ``block(seconds)`` sleeps until the queue may hold a message (True) or the time passes
    (False); None when it cannot block. Then, and when ``block`` is None, the queue is
    polled, ``POLL_FIRST`` growing to ``POLL_MAX`` seconds apart.
    """
    deadline = time.monotonic() + read_timeout
    lease = attempt(False)
    pause = POLL_FIRST
    while lease is None:
        wait = deadline - time.monotonic()
        if wait <= 0:
            return None
        woke = None if block is None else block(wait)
        if woke is False:
            return None
        if woke is None:
            time.sleep(min(pause, wait))
            pause = min(pause * 2, POLL_MAX)
        lease = attempt(True)
    return lease


__all__ = [
    "POLL_FIRST",
    "POLL_MAX",
    "extend_args",
    "lease_args",
    "lease_of",
    "milliseconds",
    "new_lease_id",
    "wait_for_lease",
]
