"""Cron-style schedules for periodic tasks: ``crontab(minute=..., hour=..., ...)``."""

from __future__ import annotations

import calendar
import datetime
import re

__all__ = ["crontab"]

# The recognised forms of one comma-separated part: "*", "*/step", "n", "m-n" and "m-n/step".
_EVERY = re.compile(r"\*(?:/(?P<step>[0-9]+))?")
_NUMBER = re.compile(r"[0-9]+")
_RANGE = re.compile(r"(?P<lo>[0-9]+)-(?P<hi>[0-9]+)(?:/(?P<step>[0-9]+))?")

# name: (first, last) value of the field's cycle. day_of_week also accepts 7, a second spelling
# of Sunday (0), which is why its accepted values run one past the cycle's last value.
_CYCLES: dict[str, tuple[int, int]] = {
    "minute": (0, 59),
    "hour": (0, 23),
    "day": (1, 31),
    "month": (1, 12),
    "day_of_week": (0, 6),
}


class _Unrecognised(Exception):
    """A part in none of the supported forms: ignored unless ``strict``."""


def _step(name: str, part: str, raw: str | None) -> int:
    step = 1 if raw is None else int(raw)
    if step < 1:
        raise ValueError(f"crontab: invalid value for {name!r}: {part!r} (step must be >= 1)")
    return step


def _parse_part(name: str, part: str) -> list[int]:
    """Values selected by one part, in cycle order; raises ``_Unrecognised`` or ``ValueError``."""
    first, last = _CYCLES[name]
    top = 7 if name == "day_of_week" else last

    def check(value: int) -> int:
        if not first <= value <= top:
            raise ValueError(
                f"crontab: invalid value for {name!r}: {part!r} ({value} is not in {first}-{top})"
            )
        return value

    if m := _EVERY.fullmatch(part):
        if m["step"] is not None and name == "day_of_week":
            # huey 3.5.4 refuses a step over the week; refusing it too keeps every schedule
            # accepted here meaning the same there.
            raise ValueError(f"crontab: invalid value for {name!r}: {part!r} (no */n for weekdays)")
        return list(range(first, last + 1, _step(name, part, m["step"])))
    if _NUMBER.fullmatch(part):
        return [check(int(part))]
    if m := _RANGE.fullmatch(part):
        lo, hi = check(int(m["lo"])), check(int(m["hi"]))
        step = _step(name, part, m["step"])
        if lo <= hi:
            values = list(range(lo, hi + 1))
        else:
            # A wrap-around range, "22-2" or "5-1": up to the end of the cycle, then from its
            # start. For day_of_week, 7 is Sunday again, so "7-2" starts at 0.
            values = list(range(lo, last + 1)) + list(range(first, hi + 1))
        return values[::step]
    raise _Unrecognised(part)


def _parse_field(name: str, value: int | str, strict: bool) -> frozenset[int]:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(
            f"crontab: {name!r} must be an int or a str, not {type(value).__name__}: {value!r}"
        )
    allowed: set[int] = set()
    for raw in str(value).split(","):
        part = raw.strip()
        try:
            allowed.update(_parse_part(name, part))
        except _Unrecognised:
            if strict:
                raise ValueError(f"crontab: invalid value for {name!r}: {part!r}") from None
    if name == "day_of_week" and 7 in allowed:
        allowed.discard(7)
        allowed.add(0)
    if not allowed:
        # Ignoring every part would leave a schedule that never fires: refuse it, strict or not.
        raise ValueError(f"crontab: {name}={value!r} matches no value")
    return frozenset(allowed)


def _check_calendar(days: frozenset[int], months: frozenset[int], spec: str) -> None:
    """Refuse day/month sets that name no real date (``day=31, month=2``): they never fire."""
    # 2000 is a leap year, so February 29 counts as a date that occurs.
    if not any(day <= calendar.monthrange(2000, month)[1] for day in days for month in months):
        raise ValueError(f"crontab: {spec} names no date that exists: it would never fire")


class crontab:  # lowercase: the documented public name
    """A test for datetimes, built from crontab-style fields; ``schedule(dt)`` -> bool.

    Fields are ints or strings made of comma-separated parts, each one of ``*``, ``*/n``, ``n``,
    ``m-n`` or ``m-n/n``. Ranges: minute 0-59, hour 0-23, day 1-31, month 1-12, day_of_week 0-6
    with 0 = Sunday (7 is accepted as Sunday too). A range whose start is above its end wraps
    around: ``hour="22-2"`` is 22, 23, 0, 1, 2 and ``day_of_week="5-1"`` is Friday to Monday.
    ``*/n`` is refused for day_of_week, as in huey. A datetime matches when every field matches
    (day and day_of_week are combined with AND, unlike classic cron's OR); seconds and
    microseconds are ignored and no timezone conversion is done.

    ``ValueError`` is raised, strict or not, for a number out of its field's range, a step of 0,
    a field that selects no value and a day/month pair that names no real date: each would be a
    schedule that never fires. ``strict`` decides what happens to a part in none of the forms
    above (``"abc"``, ``"5/2"``): with ``strict=True`` it raises ``ValueError`` naming the field;
    with ``strict=False`` (the default) it is ignored and the other parts of the field apply.
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
        _check_calendar(self.days, self.months, f"day={day!r}, month={month!r}")

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
