"""Cron-style schedules for periodic tasks: ``crontab(minute=..., hour=..., ...)``."""

from __future__ import annotations

import datetime
import re

__all__ = ["crontab"]

# One comma-separated part: "*", "*/step", "n", "m-n" or "m-n/step".
_PART = re.compile(r"(?:(?P<star>\*)|(?P<lo>[0-9]+)(?:-(?P<hi>[0-9]+))?)(?:/(?P<step>[0-9]+))?")

# name: (lowest, highest) accepted value. day_of_week accepts 7 as a second spelling of Sunday;
# "*" for day_of_week means 0-6.
_BOUNDS: dict[str, tuple[int, int]] = {
    "minute": (0, 59),
    "hour": (0, 23),
    "day": (1, 31),
    "month": (1, 12),
    "day_of_week": (0, 7),
}


def _parse_part(part: str, lo: int, hi: int, star_hi: int) -> set[int] | None:
    """Values selected by one part, or None if it is malformed or out of range."""
    m = _PART.fullmatch(part)
    if m is None:
        return None
    step = int(m["step"]) if m["step"] is not None else 1
    if step < 1:
        return None
    if m["star"]:
        start, stop = lo, star_hi
    else:
        start = int(m["lo"])
        stop = int(m["hi"]) if m["hi"] is not None else start
        if m["hi"] is None and m["step"] is not None:
            return None  # "n/step" is not a supported form
        if not lo <= start <= stop <= hi:
            return None
    return set(range(start, stop + 1, step))


def _parse_field(name: str, value: int | str, strict: bool) -> frozenset[int]:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(
            f"crontab: {name!r} must be an int or a str, not {type(value).__name__}: {value!r}"
        )
    lo, hi = _BOUNDS[name]
    star_hi = 6 if name == "day_of_week" else hi
    allowed: set[int] = set()
    for raw in str(value).split(","):
        part = raw.strip()
        values = _parse_part(part, lo, hi, star_hi)
        if values is None:
            if strict:
                raise ValueError(f"crontab: invalid value for {name!r}: {part!r}")
            continue
        allowed |= values
    if name == "day_of_week" and 7 in allowed:
        allowed.discard(7)
        allowed.add(0)
    return frozenset(allowed)


class crontab:  # lowercase: the documented public name
    """A test for datetimes, built from crontab-style fields; ``schedule(dt)`` -> bool.

    Fields are ints or strings made of comma-separated parts, each one of ``*``, ``*/n``, ``n``,
    ``m-n`` or ``m-n/n``. Ranges: minute 0-59, hour 0-23, day 1-31, month 1-12, day_of_week 0-6
    with 0 = Sunday (7 is accepted as Sunday too). A datetime matches when every field matches
    (day and day_of_week are combined with AND, unlike classic cron's OR); seconds and
    microseconds are ignored and no timezone conversion is done.

    With ``strict=True`` a malformed or out-of-range part raises ``ValueError`` naming the field.
    With ``strict=False`` (the default) such a part is ignored: it selects nothing, and the other
    parts of the field still apply. A field left with no valid part never matches, so a mistyped
    schedule never runs rather than running every minute.
    """

    __slots__ = ("_spec", "days", "days_of_week", "hours", "minutes", "months", "strict")

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]

    def __init__(
        self,
        minute: int | str = "*",
        hour: int | str = "*",
        day: int | str = "*",
        month: int | str = "*",
        day_of_week: int | str = "*",
        strict: bool = False,
    ) -> None:
        self._spec = (minute, hour, day, month, day_of_week)
        self.strict = strict
        self.minutes = _parse_field("minute", minute, strict)
        self.hours = _parse_field("hour", hour, strict)
        self.days = _parse_field("day", day, strict)
        self.months = _parse_field("month", month, strict)
        self.days_of_week = _parse_field("day_of_week", day_of_week, strict)

    @classmethod
    def hourly(cls) -> crontab:
        """Every hour, on the hour."""
        return cls(minute="0")

    @classmethod
    def daily(cls) -> crontab:
        """Every day, at midnight."""
        return cls(minute="0", hour="0")

    def __call__(self, dt: datetime.datetime) -> bool:
        return (
            dt.minute in self.minutes
            and dt.hour in self.hours
            and dt.day in self.days
            and dt.month in self.months
            # date.weekday() counts from Monday=0; cron counts from Sunday=0.
            and (dt.weekday() + 1) % 7 in self.days_of_week
        )

    def __repr__(self) -> str:
        names = ("minute", "hour", "day", "month", "day_of_week")
        args = [f"{n}={str(v)!r}" for n, v in zip(names, self._spec, strict=True)]
        if self.strict:
            args.append("strict=True")
        return f"crontab({', '.join(args)})"
