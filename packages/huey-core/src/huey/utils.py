"""Time helpers and the result markers stored in result stores (``Error``, ``SKIPPED``).

``Error`` and ``SKIPPED`` keep these names and this module path: stored results pickle them by
reference, and data must move between this package and the published huey 3.x.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import warnings
from types import TracebackType
from typing import Any, NamedTuple

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


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
) -> dt.datetime:
    """When a task given ``eta`` or ``delay`` (seconds or timedelta) runs, on the naive clock.

    Exactly one of the two must be given (``ValueError`` otherwise, as in huey); a delay of 0
    means now, not "no delay given".
    """
    if (eta is None) == (delay is None):
        raise ValueError("give either eta (a datetime) or delay (seconds), not both or neither")
    if delay is not None:
        if not isinstance(delay, dt.timedelta):
            delay = dt.timedelta(seconds=delay)
        return now(utc) + delay
    if not isinstance(eta, dt.datetime):
        raise ValueError(f"eta must be a datetime, got {type(eta).__name__}")
    return to_naive(eta, utc)


def normalize_expire_time(
    expires: float | dt.timedelta | dt.datetime, utc: bool = True
) -> dt.datetime:
    """When ``expires`` (a datetime, or seconds / a timedelta from now) falls, on the naive clock.

    ``expires=0`` means "already expired", not "never".
    """
    if isinstance(expires, dt.datetime):
        return normalize_time(eta=expires, utc=utc)
    return normalize_time(delay=expires, utc=utc)


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


class FileLock:
    """An exclusive lock between processes (and threads) on ``filename``, via ``flock``.

    ``with FileLock(path): ...`` or ``acquire()`` / ``release()``. The directory is created
    if missing; the file itself is created on first acquire and never removed, so every
    holder locks the same inode. Each thread locks through its own descriptor: flocks held on
    one shared descriptor would be released by whichever thread closed it first. Where
    ``fcntl`` is missing (Windows) it warns and does not lock.
    """

    def __init__(self, filename: str) -> None:
        if fcntl is None:
            warnings.warn("FileLock cannot lock on this platform (no fcntl)", stacklevel=2)
        self.filename = filename
        self._local = threading.local()
        dirname = os.path.dirname(filename)
        if dirname:
            os.makedirs(dirname, exist_ok=True)

    def acquire(self) -> None:
        fd = os.open(self.filename, os.O_CREAT | os.O_RDWR, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        self._local.fd = fd

    def release(self) -> None:
        fd = getattr(self._local, "fd", None)
        if fd is None:
            return
        self._local.fd = None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
