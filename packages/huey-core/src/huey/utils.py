"""Time helpers and the result markers stored in result stores (``Error``, ``SKIPPED``).

``Error`` and ``SKIPPED`` keep these names and this module path: stored results pickle them by
reference, and data must move between this package and the published huey 3.x.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, NamedTuple


class Error(NamedTuple):
    """A stored task failure; ``metadata`` holds ``error``, ``retries``, ``traceback``, ``task_id``.

    A one-field named tuple, so that it pickles as huey 3.5.4's ``Error`` does.
    """

    metadata: dict[str, Any]


class _Skipped:
    """A skipped (expired or revoked) chord member's value in the callback's results.

    Pickles by reference, as ``huey.utils.SKIPPED``.
    """

    def __reduce__(self) -> str:
        return "SKIPPED"

    def __repr__(self) -> str:
        return "SKIPPED"


SKIPPED = _Skipped()


def utcnow() -> dt.datetime:
    """The current UTC time as a naive datetime, huey's internal representation."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def now(utc: bool) -> dt.datetime:
    return utcnow() if utc else dt.datetime.now()


def to_naive(value: dt.datetime, utc: bool) -> dt.datetime:
    """Convert a user datetime to the instance's naive clock (UTC when ``utc``).

    Naive datetimes given by users are local time; aware ones are converted.
    """
    if value.tzinfo is None:
        if not utc:
            return value
        value = value.astimezone()  # Interpret as local time.
    if utc:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.astimezone().replace(tzinfo=None)


def normalize_time(
    eta: dt.datetime | None = None,
    delay: float | dt.timedelta | None = None,
    utc: bool = True,
) -> dt.datetime | None:
    if eta is not None and delay is not None:
        raise ValueError("give either eta or delay, not both")
    if delay is not None:
        if not isinstance(delay, dt.timedelta):
            delay = dt.timedelta(seconds=delay)
        return now(utc) + delay
    if eta is not None:
        if not isinstance(eta, dt.datetime):
            raise TypeError(f"eta must be a datetime, got {type(eta).__name__}")
        return to_naive(eta, utc)
    return None


def normalize_expires(expires: Any, base: dt.datetime, utc: bool) -> dt.datetime | None:
    """Resolve ``expires`` (seconds, timedelta or datetime) against ``base``."""
    if expires is None:
        return None
    if isinstance(expires, dt.datetime):
        return to_naive(expires, utc)
    if isinstance(expires, dt.timedelta):
        return base + expires
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        return base + dt.timedelta(seconds=expires)
    raise TypeError(f"expires must be seconds, a timedelta or a datetime, got {expires!r}")


def to_timestamp(value: dt.datetime) -> float:
    """The float that storages order schedules by, as huey 3.x computes it.

    huey 3.x passes its naive clock value through ``time.mktime`` (local time); doing the same
    keeps schedules shared with it in order on machines whose local time is not UTC.
    """
    return time.mktime(value.timetuple()) + value.microsecond / 1e6


def monotonic() -> float:
    return time.monotonic()
