"""crontab: field parsing, matching over real calendar dates, strict and lenient modes."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from huey._crontab import crontab

FIELDS = ("minute", "hour", "day", "month", "day_of_week")


def minutes(start: datetime.datetime, count: int) -> Iterator[datetime.datetime]:
    step = datetime.timedelta(minutes=1)
    for i in range(count):
        yield start + i * step


def cron_weekday(dt: datetime.datetime) -> int:
    # strftime("%w") is C's "weekday as a number, 0 = Sunday", independent of the code under test.
    return int(dt.strftime("%w"))


DAY = 24 * 60
WEEK = 7 * DAY
# 2024-01-07 was a Sunday.
SUNDAY = datetime.datetime(2024, 1, 7)


def test_reference_date_is_a_sunday() -> None:
    assert SUNDAY.strftime("%A") == "Sunday"
    assert cron_weekday(SUNDAY) == 0


def test_every_minute_by_default() -> None:
    cron = crontab()
    assert all(cron(dt) for dt in minutes(SUNDAY, WEEK))


def test_every_fifteen_minutes_over_a_day() -> None:
    cron = crontab(minute="*/15")
    matched = [(dt.hour, dt.minute) for dt in minutes(SUNDAY, DAY) if cron(dt)]
    assert matched == [(h, m) for h in range(24) for m in (0, 15, 30, 45)]


def test_range_list_over_a_day() -> None:
    cron = crontab(minute="0-15,30-45")
    matched = {dt.minute for dt in minutes(SUNDAY, DAY) if cron(dt)}
    assert matched == set(range(16)) | set(range(30, 46))
    assert sum(cron(dt) for dt in minutes(SUNDAY, DAY)) == 24 * 32


def test_hour_step_and_minute_list() -> None:
    cron = crontab(minute="5,35", hour="*/4")
    matched = [(dt.hour, dt.minute) for dt in minutes(SUNDAY, DAY) if cron(dt)]
    assert matched == [(h, m) for h in (0, 4, 8, 12, 16, 20) for m in (5, 35)]


def test_range_with_step() -> None:
    cron = crontab(minute="10-50/20", hour="9-17/4")
    matched = [(dt.hour, dt.minute) for dt in minutes(SUNDAY, DAY) if cron(dt)]
    assert matched == [(h, m) for h in (9, 13, 17) for m in (10, 30, 50)]


def test_int_arguments_match_like_strings() -> None:
    as_int = crontab(minute=30, hour=2, day_of_week=3)
    as_str = crontab(minute="30", hour="2", day_of_week="3")
    week = list(minutes(SUNDAY, WEEK))
    assert [as_int(dt) for dt in week] == [as_str(dt) for dt in week]
    assert [dt for dt in week if as_int(dt)] == [datetime.datetime(2024, 1, 10, 2, 30)]
    assert datetime.datetime(2024, 1, 10).strftime("%A") == "Wednesday"


@pytest.mark.parametrize(
    ("spec", "weekdays"),
    [
        ("0", {0}),
        ("7", {0}),
        ("6", {6}),
        ("1-5", {1, 2, 3, 4, 5}),
        ("0,6", {0, 6}),
        ("6-7", {6, 0}),
        ("5-1", {5, 6, 0, 1}),
        ("7-2", {0, 1, 2}),
        ("7-3/2", {0, 2}),
        ("1-7/2", {1, 3, 5, 0}),
        ("6-6", {6}),
        ("*", set(range(7))),
    ],
)
def test_day_of_week_uses_sunday_zero(spec: str, weekdays: set[int]) -> None:
    cron = crontab(minute="0", hour="12", day_of_week=spec)
    # Two weeks, starting on a Sunday: each selected weekday matches exactly twice, at noon.
    matched = [dt for dt in minutes(SUNDAY, 2 * WEEK) if cron(dt)]
    assert len(matched) == 2 * len(weekdays)
    assert {cron_weekday(dt) for dt in matched} == weekdays
    assert all((dt.hour, dt.minute) == (12, 0) for dt in matched)


def test_day_of_week_names_against_calendar() -> None:
    saturday_only = crontab(minute="0", hour="0", day_of_week="6")
    days = [datetime.datetime(2024, 1, 1) + datetime.timedelta(days=i) for i in range(366)]
    matched = [dt for dt in days if saturday_only(dt)]
    assert len(matched) == 52
    assert {dt.strftime("%A") for dt in matched} == {"Saturday"}


def test_month_and_day_combination_over_a_year() -> None:
    cron = crontab(minute="0", hour="0", day="1,15", month="*/3")
    days = [datetime.datetime(2023, 1, 1) + datetime.timedelta(days=i) for i in range(365)]
    matched = [(dt.month, dt.day) for dt in days if cron(dt)]
    assert matched == [(m, d) for m in (1, 4, 7, 10) for d in (1, 15)]


def test_leap_day_only_in_leap_years() -> None:
    cron = crontab(minute="0", hour="0", day="29", month="2")
    start = datetime.datetime(2023, 1, 1)
    days = [start + datetime.timedelta(days=i) for i in range(366 * 2)]
    assert [dt for dt in days if cron(dt)] == [datetime.datetime(2024, 2, 29)]


def test_day_and_day_of_week_must_both_match() -> None:
    # The 13th that is also a Friday (5): in 2024 that is September and December.
    cron = crontab(minute="0", hour="0", day="13", day_of_week="5")
    days = [datetime.datetime(2024, 1, 1) + datetime.timedelta(days=i) for i in range(366)]
    matched = [dt.date() for dt in days if cron(dt)]
    assert matched == [datetime.date(2024, 9, 13), datetime.date(2024, 12, 13)]


def test_day_step_starts_at_one() -> None:
    cron = crontab(minute="0", hour="0", day="*/10")
    days = [datetime.datetime(2024, 1, 1) + datetime.timedelta(days=i) for i in range(31)]
    assert [dt.day for dt in days if cron(dt)] == [1, 11, 21, 31]


def test_hourly() -> None:
    cron = crontab.hourly()
    assert isinstance(cron, crontab)
    matched = [dt for dt in minutes(SUNDAY, DAY) if cron(dt)]
    assert matched == [SUNDAY.replace(hour=h) for h in range(24)]


def test_daily() -> None:
    cron = crontab.daily()
    assert isinstance(cron, crontab)
    matched = [dt for dt in minutes(SUNDAY, WEEK) if cron(dt)]
    assert matched == [SUNDAY + datetime.timedelta(days=d) for d in range(7)]


def test_seconds_are_ignored() -> None:
    cron = crontab.hourly()
    assert cron(datetime.datetime(2024, 5, 5, 7, 0, 59, 999999))
    assert not cron(datetime.datetime(2024, 5, 5, 7, 1, 0))


def test_aware_datetime_uses_its_own_fields() -> None:
    tz = datetime.timezone(datetime.timedelta(hours=5))
    cron = crontab(minute="0", hour="3")
    assert cron(datetime.datetime(2024, 5, 5, 3, 0, tzinfo=tz))
    assert not cron(datetime.datetime(2024, 5, 5, 3, 0, tzinfo=tz).astimezone(datetime.UTC))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("minute", "60"),
        ("minute", "*/0"),
        ("minute", "abc"),
        ("minute", -1),
        ("hour", "25"),
        ("hour", "5-"),
        ("hour", "24-2"),
        ("day", "0"),
        ("day", "32"),
        ("day", "1-32"),
        ("month", "13"),
        ("month", "0"),
        ("month", "jan"),
        ("day_of_week", "8"),
        ("day_of_week", "mon"),
        ("day_of_week", "1,2,x"),
        ("day_of_week", "3/2"),
    ],
)
def test_strict_rejects_invalid_value_naming_field(field: str, value: int | str) -> None:
    with pytest.raises(ValueError, match=f"crontab: invalid value for '{field}'"):
        crontab(strict=True, **{field: value})


def test_strict_error_quotes_the_offending_part() -> None:
    with pytest.raises(ValueError) as info:
        crontab(hour="1,2x", strict=True)
    assert str(info.value) == "crontab: invalid value for 'hour': '2x'"


def test_strict_accepts_every_supported_form() -> None:
    cron = crontab(
        minute="*/20", hour="1-3", day="1,15-16", month="2-12/5", day_of_week="0,7", strict=True
    )
    assert cron.minutes == {0, 20, 40}
    assert cron.hours == {1, 2, 3}
    assert cron.days == {1, 15, 16}
    assert cron.months == {2, 7, 12}
    assert cron.days_of_week == {0}


def test_lenient_ignores_unrecognised_parts_and_keeps_good_ones() -> None:
    cron = crontab(minute="5, abc ,5/2,,x-1")
    assert cron.minutes == {5}
    matched = [dt for dt in minutes(SUNDAY, DAY) if cron(dt)]
    assert [(dt.hour, dt.minute) for dt in matched] == [(h, 5) for h in range(24)]
    with pytest.raises(ValueError, match="crontab: invalid value for 'minute': 'abc'"):
        crontab(minute="5, abc ,5/2", strict=True)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("minute", "61"),
        ("minute", "0-61"),
        ("minute", "5,99"),
        ("hour", "24"),
        ("hour", "22-24"),
        ("day", "0"),
        ("month", "13"),
        ("day_of_week", "8"),
        ("minute", "*/0"),
        ("minute", "0-30/0"),
    ],
)
def test_out_of_range_or_zero_step_raises_strict_or_not(
    field: str, value: str, strict: bool
) -> None:
    # A part that is well formed but can never match is a mistake, not a spelling to skip.
    with pytest.raises(ValueError, match=f"crontab: invalid value for '{field}'"):
        crontab(strict=strict, **{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["abc", "*abc", "a-b", "1-c", "0x9", "", " , ", -1])
def test_field_matching_nothing_raises_even_when_lenient(value: int | str) -> None:
    # Leniently skipping every part would leave a schedule that silently never fires.
    with pytest.raises(ValueError, match=r"crontab: minute=.* matches no value"):
        crontab(minute=value)
    with pytest.raises(ValueError, match="crontab: invalid value for 'minute'"):
        crontab(minute=value, strict=True)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("value", ["*/2", "*/3", "*/1"])
def test_day_of_week_step_over_the_week_is_refused(value: str, strict: bool) -> None:
    with pytest.raises(ValueError, match="'day_of_week'"):
        crontab(day_of_week=value, strict=strict)
    # A step over an explicit range is fine.
    assert crontab(day_of_week="0-6/2", strict=strict).days_of_week == {0, 2, 4, 6}


@pytest.mark.parametrize(
    ("day", "month"), [("31", "2"), ("30", "2"), ("31", "4,6,9,11"), ("30-31", "2")]
)
def test_day_and_month_that_never_meet_raise(day: str, month: str) -> None:
    with pytest.raises(ValueError, match="names no date that exists"):
        crontab(day=day, month=month)
    with pytest.raises(ValueError, match="names no date that exists"):
        crontab(day=day, month=month, strict=True)


def test_day_and_month_that_sometimes_meet_are_kept() -> None:
    # February 29 exists in leap years and day 31 in some of the months listed.
    assert crontab(day="29", month="2").months == {2}
    assert crontab(day="31", month="2,3").days == {31}


def test_wrap_around_hours_over_a_day() -> None:
    cron = crontab(minute="0", hour="22-2", strict=True)
    matched = [dt.hour for dt in minutes(SUNDAY, DAY) if cron(dt)]
    assert matched == [0, 1, 2, 22, 23]


def test_wrap_around_with_step_counts_from_the_start() -> None:
    cron = crontab(minute="50-10/5", hour="0")
    matched = [dt.minute for dt in minutes(SUNDAY, 60) if cron(dt)]
    assert matched == [0, 5, 10, 50, 55]
    assert crontab(hour="22-2/2").hours == {22, 0, 2}


def test_wrap_around_months_over_a_year() -> None:
    cron = crontab(minute="0", hour="0", day="1", month="11-2")
    days = [datetime.datetime(2023, 1, 1) + datetime.timedelta(days=i) for i in range(365)]
    assert [dt.month for dt in days if cron(dt)] == [1, 2, 11, 12]


def test_wrap_around_weekdays_friday_to_monday() -> None:
    cron = crontab(minute="0", hour="0", day_of_week="5-1", strict=True)
    days = [SUNDAY + datetime.timedelta(days=i) for i in range(14)]
    assert {dt.strftime("%A") for dt in days if cron(dt)} == {
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
    }
    assert sum(cron(dt) for dt in days) == 8


def test_wrong_type_is_rejected() -> None:
    with pytest.raises(TypeError, match="'hour'"):
        crontab(hour=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'minute'"):
        crontab(minute=True)


def test_repr() -> None:
    assert repr(crontab(minute=0, hour="*/3")) == (
        "crontab(minute='0', hour='*/3', day='*', month='*', day_of_week='*')"
    )
    assert repr(crontab(strict=True)).endswith(", strict=True)")
