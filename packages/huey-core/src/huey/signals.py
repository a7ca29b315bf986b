"""The signals sent while tasks move through a queue, and their dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

SIGNAL_CANCELED = "canceled"
SIGNAL_COMPLETE = "complete"
SIGNAL_ERROR = "error"
SIGNAL_EXECUTING = "executing"
SIGNAL_EXPIRED = "expired"
SIGNAL_LOCKED = "locked"
SIGNAL_RETRYING = "retrying"
SIGNAL_REVOKED = "revoked"
SIGNAL_SCHEDULED = "scheduled"
SIGNAL_INTERRUPTED = "interrupted"
SIGNAL_ENQUEUED = "enqueued"
SIGNAL_TIMEOUT = "timeout"
SIGNAL_RATE_LIMITED = "rate-limited"
SIGNAL_DEAD_LETTERED = "dead-lettered"

ALL_SIGNALS: frozenset[str] = frozenset(
    {
        SIGNAL_CANCELED,
        SIGNAL_COMPLETE,
        SIGNAL_ERROR,
        SIGNAL_EXECUTING,
        SIGNAL_EXPIRED,
        SIGNAL_LOCKED,
        SIGNAL_RETRYING,
        SIGNAL_REVOKED,
        SIGNAL_SCHEDULED,
        SIGNAL_INTERRUPTED,
        SIGNAL_ENQUEUED,
        SIGNAL_TIMEOUT,
        SIGNAL_RATE_LIMITED,
        SIGNAL_DEAD_LETTERED,
    }
)

Receiver = Callable[..., Any]
logger = logging.getLogger("huey.signals")


class Signal:
    """Connects receivers to signal names; a receiver's failure is logged, never raised."""

    def __init__(self) -> None:
        self._receivers: dict[str, list[Receiver]] = {name: [] for name in ALL_SIGNALS}

    def connect(self, receiver: Receiver, *signals: str) -> None:
        for name in signals or ALL_SIGNALS:
            if name not in self._receivers:
                raise ValueError(f"unknown signal {name!r}; expected one of {sorted(ALL_SIGNALS)}")
            if receiver not in self._receivers[name]:
                self._receivers[name].append(receiver)

    def disconnect(self, receiver: Receiver, *signals: str) -> None:
        for name in signals or ALL_SIGNALS:
            receivers = self._receivers.get(name, [])
            if receiver in receivers:
                receivers.remove(receiver)

    def send(self, signal: str, task: Any, *args: Any, **kwargs: Any) -> None:
        for receiver in tuple(self._receivers[signal]):
            try:
                receiver(signal, task, *args, **kwargs)
            except Exception:
                logger.exception("signal receiver %r failed on %r", receiver, signal)
