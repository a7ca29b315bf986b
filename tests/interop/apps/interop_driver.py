"""One step of an interop test, run by either implementation's interpreter.

    python interop_driver.py STEP INPUT.json OUTPUT.json

The test process runs each step in a subprocess, with ``$HUEY_INTEROP_CONFIG`` and
``$HUEY_INTEROP_IMPL`` set, and passes data between the two implementations as JSON files:
serialized messages and stored values travel as hex strings, so the bytes one side wrote are
exactly the bytes the other side reads. Values reported back to the test are made JSON-able by
``plain()`` (datetimes, timedeltas and bytes are tagged dicts, tuples become lists).

Only the public huey 3.x API is used here, so this one file drives both implementations.

Steps (``A`` produces, ``B`` consumes; the test runs both directions):

- ``core-produce`` (A): enqueue or serialize one set of messages per case into a MemoryHuey and
  hand over the bytes, with A's own key/value entries (revocations, a held lock, a used rate
  limit) and the rate limit's counter;
- ``core-consume`` (B): load A's entries, deserialize and execute every case's messages as a
  worker would (pipelines, error handlers and chord callbacks run from B's own queue), report
  what ran, and hand over B's whole result store;
- ``core-read`` (A): load B's result store and read every result and error result;
- ``sqlite-write`` / ``sqlite-drain`` / ``sqlite-check``: the same three roles on one shared
  SQLite file, two queues in it;
- ``schedule-write`` / ``schedule-read``: schedule timestamps in the shared SQLite file;
- ``fleet-enqueue``: enqueue ``record`` tasks for a mixed fleet of consumers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import interop_app as app
from interop_app import (
    add,
    collect,
    echo,
    fail,
    handle_error,
    huey,
    identity,
    limited,
    locked,
    other,
    other_echo,
    patient,
    record,
    renamed,
    revocable,
    revoked_kind,
    unreliable,
)

from huey import SKIPPED, group
from huey.exceptions import RateLimitExceeded, TaskException, TaskLockedException
from huey.utils import Error

UTC = dt.UTC
ETA_DELAY = 2.5  # Seconds ahead for the scheduled tasks of the SQLite hand-over.
SIGNALS: list[list[Any]] = []

logging.disable(logging.CRITICAL)  # Expected task failures would fill stderr with tracebacks.


@huey.signal()
def _record_signal(signal: str, task: Any, *args: Any) -> None:
    SIGNALS.append([signal, task.id])


# -- helpers ---------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """``value`` as JSON, with the types the tests compare tagged."""
    if value is SKIPPED:
        return {"skipped": True}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"timedelta": value.total_seconds()}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, BaseException):
        return {"exception": repr(value)}
    if isinstance(value, Error):  # A named tuple: tagged before tuples.
        return {"error": plain(value.metadata)}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return {"repr": repr(value)}


def describe(task: Any, h: Any = huey) -> dict[str, Any] | None:
    """Every field of a task that its message carries (``h``: the Huey the task belongs to)."""
    if task is None:
        return None
    chord = task.chord_config
    if chord is not None:
        chord_id, size, index, callback = chord
        chord = [chord_id, size, index, describe(callback, h)]
    return {
        # The name the message carries (huey 3.5.4's ``Task.name`` is the bare function name).
        "name": h.serializer.deserialize(h.serialize_task(task)).name,
        "id": task.id,
        "args": plain(task.args),
        "kwargs": plain(task.kwargs),
        "eta": plain(task.eta),
        "retries": task.retries,
        "retry_delay": task.retry_delay,
        "retry_backoff": task.retry_backoff,
        "priority": task.priority,
        "expires": plain(task.expires),
        "expires_resolved": plain(task.expires_resolved),
        "timeout": task.timeout,
        "on_complete": describe(task.on_complete, h),
        "on_error": describe(task.on_error, h),
        "chord_config": chord,
    }


def read_result(h: Any, task_id: str) -> dict[str, Any]:
    """A stored result as the reading side sees it: present or not, value or error metadata."""
    entry: dict[str, Any] = {"present": h.storage.has_data_for_key(task_id)}
    try:
        entry["value"] = plain(h.result(task_id, preserve=True))
    except TaskException as exc:
        entry["error"] = plain(exc.metadata)
    return entry


def drain(h: Any, timestamp: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Run everything in ``h``'s queue, as one worker would; what ran, in order."""
    ran = []
    # Checked first: on an empty queue a blocking storage's dequeue() waits before it answers.
    while h.pending_count() and (task := h.dequeue()) is not None:
        ran.append({"task": describe(task, h), "value": plain(h.execute(task, timestamp))})
    return ran


def queued_bytes(h: Any) -> list[bytes]:
    """Take every message out of ``h``'s queue, as raw bytes."""
    found = []
    while (data := h.storage.dequeue()) is not None:
        found.append(bytes(data))
    return found


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC).replace(tzinfo=None)


def tz_report() -> dict[str, Any]:
    """The local time zone the step ran in (a TZ that failed to apply shows as offset 0)."""
    return {"TZ": os.environ.get("TZ"), "utcoffset": time.localtime().tm_gmtoff}


# -- the in-memory round trip ------------------------------------------------------------------
def core_produce(_: Any) -> dict[str, Any]:
    now = dt.datetime.now(UTC)
    cases: dict[str, dict[str, Any]] = {}

    def case(name: str, plan: str, results: dict[str, str], raw: list[bytes] | None = None):
        messages = queued_bytes(huey) if raw is None else raw
        assert messages, f"case {name}: nothing was enqueued"
        cases[name] = {
            "plan": plan,
            "messages": [data.hex() for data in messages],
            "tasks": [describe(huey.deserialize_task(data)) for data in messages],
            "results": results,
        }
        return cases[name]["tasks"]

    task = add.s(1, 2)
    huey.enqueue(task)
    case("args", "run", {"sum": task.id})

    task = identity.s(value={"k": [1, 2], "s": "x", "t": (1, "two")})
    huey.enqueue(task)
    case("kwargs", "run", {"value": task.id})

    task = identity.s("héllo ✓")
    huey.enqueue(task)
    case("string", "run", {"value": task.id})

    task = identity.s(None)
    huey.enqueue(task)
    case("none", "run", {"value": task.id})

    task = renamed.s("custom name")
    huey.enqueue(task)
    case("custom_name", "run", {"value": task.id})

    task = add.s(20, 22)  # Not enqueued: serialize_task() alone, as the brief's producer does.
    case("serialize_task", "run", {"sum": task.id}, raw=[huey.serialize_task(task)])

    result = add.schedule((5, 5), eta=now - dt.timedelta(minutes=1))
    case("eta_past", "run", {"sum": result.id})

    result = add.schedule((2, 2), delay=3600)
    case("eta_future", "schedule", {"sum": result.id})

    result = identity.schedule(("expires-int",), delay=0, expires=300)
    case("expires_int", "expire", {"value": result.id})

    result = identity.schedule(("expires-td",), delay=0, expires=dt.timedelta(minutes=5))
    case("expires_timedelta", "expire", {"value": result.id})

    result = identity.schedule(("expires-dt",), delay=0, expires=now + dt.timedelta(minutes=5))
    case("expires_datetime", "expire", {"value": result.id})

    result = unreliable.schedule(("boom",), delay=0)  # Decorator: retries=2, delay 30, backoff 2.
    case("retries", "retry", {"error": result.id})

    result = fail.schedule(("once more",), delay=0, retries=1, retry_delay=7)
    case("retries_per_call", "retry", {"error": result.id})

    result = add.schedule((3, 4), delay=0, priority=7)
    case("priority", "run", {"sum": result.id})

    result = identity.schedule(("timeout",), delay=0, timeout=30)
    case("timeout", "run", {"value": result.id})

    result = patient("decorator timeout")
    case("timeout_decorator", "run", {"value": result.id})

    task = add.s(1, 2).then(add, 3).then(add, 4)
    huey.enqueue(task)
    case(
        "pipeline",
        "run",
        {"first": task.id, "second": task.on_complete.id, "third": task.on_complete.on_complete.id},
    )

    task = fail.s("bad").error(handle_error, "handled")
    huey.enqueue(task)
    case("error_handler", "run", {"failed": task.id, "handler": task.on_error.id})

    huey.enqueue(group([add.s(1, 1), add.s(2, 2), add.s(3, 3)]).then(collect, "sum"))
    messages = queued_bytes(huey)
    members = [huey.deserialize_task(data) for data in messages]
    callback = members[0].chord_config[3]
    case(
        "chord",
        "run",
        {**{f"member{i}": member.id for i, member in enumerate(members)}, "callback": callback.id},
        raw=messages,
    )

    # A chord with a revoked member: the member counts as SKIPPED and the callback still runs.
    first, second = add.s(1, 1), add.s(2, 2)
    huey.revoke_by_id(second.id)
    huey.enqueue(group([first, second]).then(collect, "skip"))
    messages = queued_bytes(huey)
    callback = huey.deserialize_task(messages[0]).chord_config[3]
    case(
        "chord_revoked",
        "run",
        {"first": first.id, "second": second.id, "callback": callback.id},
        raw=messages,
    )

    # A chord with a member that fails for good: the callback gets the member's Error.
    first, second = add.s(1, 1), fail.s("member")
    huey.enqueue(group([first, second]).then(collect, "fail"))
    messages = queued_bytes(huey)
    callback = huey.deserialize_task(messages[0]).chord_config[3]
    case(
        "chord_failed",
        "run",
        {"first": first.id, "second": second.id, "callback": callback.id},
        raw=messages,
    )

    # Revocation: every kind of revocation value, set by A, obeyed by B.
    by_id, once, lapsed, pending = (
        revocable.s(tag) for tag in ("by-id", "once", "lapsed", "until")
    )
    whole = revoked_kind.s("whole task")
    huey.revoke_by_id(by_id.id)
    huey.revoke_by_id(once.id, revoke_once=True)
    huey.revoke_by_id(lapsed.id, revoke_until=now - dt.timedelta(minutes=1))
    huey.revoke_by_id(pending.id, revoke_until=now + dt.timedelta(hours=1))
    revoked_kind.revoke()
    raw = [huey.serialize_task(task) for task in (by_id, once, once, lapsed, pending, whole)]
    case(
        "revocation",
        "revoke",
        {
            "by_id": by_id.id,
            "once": once.id,
            "lapsed": lapsed.id,
            "until": pending.id,
            "whole": whole.id,
        },
        raw=raw,
    )

    # A lock held by A: B's locked task fails while it is held, and runs once B clears it.
    huey.lock_task(app.LOCK).acquire()
    first, second = locked.s(), locked.s()
    case(
        "lock",
        "lock",
        {"while_held": first.id, "after_clear": second.id},
        raw=[huey.serialize_task(first), huey.serialize_task(second)],
    )

    # A rate limit used up by A: B's next call is over the limit.
    limit = huey.rate_limit(app.RATE_LIMIT, limit=2, per=app.RATE_PER)
    limit.acquire()
    limit.acquire()
    task = limited.s()
    case("rate_limit", "rate_limit", {"limited": task.id}, raw=[huey.serialize_task(task)])

    counter = f"{app.NAME}.rl.{app.RATE_LIMIT}"
    return {
        "impl": app.IMPL,
        "cases": cases,
        "kv": {key: bytes(value).hex() for key, value in huey.storage.result_items().items()},
        "counters": {counter: huey.storage.incr(counter, 0)},
        "rate_limit_usage": limit.current_usage(),
    }


def _run(tasks: list[Any], entry: dict[str, Any], case: dict[str, Any]) -> None:
    entry["values"] = [plain(huey.execute(task)) for task in tasks]
    entry["drained"] = drain(huey)


def _schedule(tasks: list[Any], entry: dict[str, Any], case: dict[str, Any]) -> None:
    (task,) = tasks
    entry["values"] = [plain(huey.execute(task))]
    entry["scheduled_after_execute"] = huey.scheduled_count()
    entry["due_now"] = len(huey.read_schedule(utcnow()))
    later = task.eta + dt.timedelta(seconds=1)
    due = huey.read_schedule(later)
    entry["due_later"] = [describe(t) for t in due]
    entry["later_values"] = [plain(huey.execute(t, later)) for t in due]


def _expire(tasks: list[Any], entry: dict[str, Any], case: dict[str, Any]) -> None:
    (task,) = tasks
    expired_at = task.expires_resolved + dt.timedelta(seconds=1)
    entry["expired_value"] = plain(huey.execute(task, expired_at))
    entry["expired_result"] = read_result(huey, task.id)
    entry["expired_signals"] = [signal for signal, _ in SIGNALS]
    again = huey.deserialize_task(bytes.fromhex(case["messages"][0]))
    entry["values"] = [plain(huey.execute(again))]


def _retry(tasks: list[Any], entry: dict[str, Any], case: dict[str, Any]) -> None:
    (task,) = tasks
    attempts = []
    far = utcnow() + dt.timedelta(days=1)  # After any retry delay: every retry is due then.
    for _ in range(6):
        attempts.append({"retries": task.retries, "retry_delay": task.retry_delay})
        huey.execute(task, far)
        attempts[-1]["stored"] = read_result(huey, task.id)
        due = huey.read_schedule(far)
        if not due:
            break
        (task,) = due
        attempts[-1]["next_eta_in"] = (task.eta - utcnow()).total_seconds()
    entry["attempts"] = attempts


def _revoke(tasks: list[Any], entry: dict[str, Any], case: dict[str, Any]) -> None:
    entry["is_revoked"] = [huey.is_revoked(task) for task in tasks]
    entry["values"] = [plain(huey.execute(task)) for task in tasks]


def _lock(tasks: list[Any], entry: dict[str, Any], case: dict[str, Any]) -> None:
    first, second = tasks
    entry["locked_before"] = huey.is_locked(app.LOCK)
    try:
        with huey.lock_task(app.LOCK):
            entry["acquired"] = True
    except TaskLockedException:
        entry["acquired"] = False
    entry["first"] = plain(huey.execute(first))
    entry["flushed"] = sorted(huey.flush_locks(app.LOCK))
    entry["locked_after"] = huey.is_locked(app.LOCK)
    entry["second"] = plain(huey.execute(second))
    with huey.lock_task("context-lock"):  # Made by lock_task(), never used as a decorator.
        entry["flush_all"] = sorted(huey.flush_locks())


def _rate_limit(tasks: list[Any], entry: dict[str, Any], case: dict[str, Any]) -> None:
    limit = huey.rate_limit(app.RATE_LIMIT, limit=2, per=app.RATE_PER)
    entry["usage_before"] = limit.current_usage()
    entry["values"] = [plain(huey.execute(task)) for task in tasks]
    try:
        limit.acquire()
        entry["acquire"] = "acquired"
    except RateLimitExceeded as exc:
        entry["acquire"] = type(exc).__name__


PLANS: dict[str, Callable[[list[Any], dict[str, Any], dict[str, Any]], None]] = {
    "run": _run,
    "schedule": _schedule,
    "expire": _expire,
    "retry": _retry,
    "revoke": _revoke,
    "lock": _lock,
    "rate_limit": _rate_limit,
}


def core_consume(data: dict[str, Any]) -> dict[str, Any]:
    for key, value in data["kv"].items():
        huey.storage.put_data(key, bytes.fromhex(value))
    for key, amount in data["counters"].items():
        huey.storage.incr(key, amount)
    report: dict[str, Any] = {"impl": app.IMPL, "cases": {}}
    for name, case in data["cases"].items():
        SIGNALS.clear()
        entry: dict[str, Any] = {}
        try:
            tasks = [huey.deserialize_task(bytes.fromhex(m)) for m in case["messages"]]
            entry["tasks"] = [describe(task) for task in tasks]
            PLANS[case["plan"]](tasks, entry, case)
        except Exception as exc:  # Reported for this case; the other cases still run.
            entry["failed"] = repr(exc)
        entry["signals"] = [signal for signal, _ in SIGNALS]
        entry["pending"] = huey.pending_count()
        entry["scheduled"] = huey.scheduled_count()
        huey.storage.flush_queue()
        huey.storage.flush_schedule()
        report["cases"][name] = entry
    if app.CONFIG.get("secret"):  # The signature is really checked: a wrong secret is refused.
        wrong = app.make_serializer({**app.CONFIG, "secret": "not the secret"})
        try:
            wrong.deserialize(bytes.fromhex(data["cases"]["args"]["messages"][0]))
            report["wrong_secret"] = "accepted"
        except Exception as exc:
            report["wrong_secret"] = type(exc).__name__
    report["results"] = {
        key: bytes(value).hex() for key, value in huey.storage.result_items().items()
    }
    return report


def core_read(data: dict[str, Any]) -> dict[str, Any]:
    for key, value in data["results"].items():
        huey.storage.put_data(key, bytes.fromhex(value))
    return {
        "impl": app.IMPL,
        "read": {
            case: {label: read_result(huey, task_id) for label, task_id in ids.items()}
            for case, ids in data["ids"].items()
        },
    }


# -- one SQLite file -------------------------------------------------------------------------
def sqlite_write(_: Any) -> dict[str, Any]:
    """A's half-worked queue: everything an in-place upgrade finds in the file."""
    now = dt.datetime.now(UTC)
    ids: dict[str, str] = {}

    # A chord in flight: A ran its first member; the others and the callback are left to B.
    huey.enqueue(group([add.s(10, 1), add.s(20, 2), add.s(30, 3)]).then(collect, "chord"))
    for i, member in enumerate(huey.pending()):
        ids[f"chord_member{i}"] = member.id
    member = huey.dequeue()
    assert member.id == ids["chord_member0"]
    ids["chord_callback"] = member.chord_config[3].id
    huey.execute(member)

    # Queued: plain, then prioritized ones, to be dequeued highest priority first.
    for i in range(3):
        ids[f"plain{i}"] = echo("plain", i).id
    for priority in (1, 10, 5):
        ids[f"priority{priority}"] = echo.schedule(
            ("priority", priority), delay=0, priority=priority
        ).id
    # Enqueued with an eta (into the queue, as huey 3.x does), and put in the schedule directly;
    # due ahead enough that B dequeues the first before it is due, even on a slow machine.
    ids["eta_queued"] = echo.schedule(("eta queued",), delay=ETA_DELAY).id
    soon = echo.s("eta scheduled")
    soon.eta = utcnow() + dt.timedelta(seconds=ETA_DELAY)
    huey.add_schedule(soon)
    ids["eta_scheduled"] = soon.id
    far = echo.s("far future")
    far.eta = utcnow() + dt.timedelta(hours=2)
    huey.add_schedule(far)
    ids["far"] = far.id
    # A revoked task still in the queue: B must skip it.
    ids["revoked"] = echo("revoked").id
    huey.revoke_by_id(ids["revoked"])
    # A pipeline whose first step A ran: B runs the rest with A's result.
    pipeline = add.s(1, 2).then(add, 100)
    ids["pipe_child"] = pipeline.on_complete.id
    ids["pipe_parent"] = pipeline.id
    huey.execute(pipeline)
    # Results A stored: a value, None, and an error.
    ran = add.s(2, 3)
    huey.execute(ran)
    ids["a_value"] = ran.id
    ran = identity.s(None)
    huey.execute(ran)
    ids["a_none"] = ran.id
    ran = fail.s("failed on A")
    huey.execute(ran)
    ids["a_error"] = ran.id
    # The second queue in the same file.
    for i in range(2):
        ids[f"other{i}"] = other_echo("b", i).id
    # A lock A holds, a rate limit A used, plain key/value data.
    huey.lock_task(app.LOCK).acquire()
    limit = huey.rate_limit(app.RATE_LIMIT, limit=2, per=app.RATE_PER)
    limit.acquire()
    huey.put("shared", {"from": app.IMPL, "when": now, "items": [1, 2, 3]})
    return {
        "impl": app.IMPL,
        "tz": tz_report(),
        "ids": ids,
        "pending": huey.pending_count(),
        "other_pending": other.pending_count(),
        "scheduled": huey.scheduled_count(),
        "eta_scheduled_eta": plain(soon.eta),
    }


def sqlite_drain(data: dict[str, Any]) -> dict[str, Any]:
    """B takes over the file: drains both queues, waits for the schedule, reads A's data."""
    ids = data["ids"]
    report: dict[str, Any] = {"impl": app.IMPL, "tz": tz_report()}
    report["pending_before"] = huey.pending_count()
    report["other_pending_before"] = other.pending_count()
    report["scheduled_before"] = huey.scheduled_count()
    report["lock_held"] = huey.is_locked(app.LOCK)
    try:
        with huey.lock_task(app.LOCK):
            report["lock_acquired"] = True
    except TaskLockedException:
        report["lock_acquired"] = False
    limit = huey.rate_limit(app.RATE_LIMIT, limit=2, per=app.RATE_PER)
    report["rate_limit_usage_before"] = limit.current_usage()
    limit.acquire()  # The second and last call allowed in this window...
    try:
        limit.acquire()  # ... so this one is over the limit, counted across both sides.
        report["rate_limit_third"] = "acquired"
    except RateLimitExceeded:
        report["rate_limit_third"] = "RateLimitExceeded"
    report["shared"] = plain(huey.get("shared", peek=True))
    report["a_results"] = {
        label: read_result(huey, ids[label]) for label in ("a_value", "a_none", "a_error")
    }
    report["revoked_before"] = huey.is_revoked(ids["revoked"])

    SIGNALS.clear()
    report["ran"] = drain(huey)
    report["revoked_signals"] = [s for s, task_id in SIGNALS if task_id == ids["revoked"]]
    report["other_ran"] = drain(other)
    report["scheduled_after_drain"] = huey.scheduled_count()
    # The two near tasks come due within ETA_DELAY seconds; the far one must not.
    due: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while len(due) < 2 and time.monotonic() < deadline:
        for task in huey.read_schedule():
            due.append({"task": describe(task), "value": plain(huey.execute(task))})
        time.sleep(0.05)
    report["due"] = due
    report["scheduled_left"] = [describe(task) for task in huey.scheduled()]
    report["pending_after"] = huey.pending_count()
    report["other_pending_after"] = other.pending_count()

    # What B leaves for A: A's lock released, a lock of its own, data.
    report["flushed"] = sorted(huey.flush_locks(app.LOCK))
    huey.lock_task("held-by-b").acquire()
    huey.put("from_b", {"from": app.IMPL, "n": 42})
    return report


def sqlite_check(data: dict[str, Any]) -> dict[str, Any]:
    """A again, after B: reads the results B stored and the keys B left."""
    ids = data["ids"]
    return {
        "impl": app.IMPL,
        "results": {label: read_result(huey, task_id) for label, task_id in ids.items()},
        "other_results": {
            label: read_result(other, task_id)
            for label, task_id in ids.items()
            if label.startswith("other")
        },
        "b_lock_held": huey.is_locked("held-by-b"),
        "a_lock_held": huey.is_locked(app.LOCK),
        "from_b": plain(huey.get("from_b", peek=True)),
        "pending": huey.pending_count(),
        "scheduled": [describe(task) for task in huey.scheduled()],
    }


# -- schedule timestamps -----------------------------------------------------------------------
def schedule_write(_: Any) -> dict[str, Any]:
    """Put tasks 1 minute and 2 hours ahead into the schedule table."""
    base = utcnow()
    etas = {}
    for label, offset in (("minute", dt.timedelta(minutes=1)), ("hours", dt.timedelta(hours=2))):
        task = echo.s(label)
        task.eta = base + offset
        huey.add_schedule(task)
        etas[label] = plain(task.eta)
    return {"impl": app.IMPL, "tz": tz_report(), "base": plain(base), "etas": etas}


def schedule_read(data: dict[str, Any]) -> dict[str, Any]:
    """Read the schedule at given instants: only what is due by each comes out, in order."""
    base = dt.datetime.fromisoformat(data["base"]["datetime"])
    seen = {}
    for label, offset in (("+30s", 30), ("+90s", 90), ("+1h", 3600), ("+3h", 3 * 3600)):
        tasks = huey.read_schedule(base + dt.timedelta(seconds=offset))
        seen[label] = [task.args[0] for task in tasks]
    return {"impl": app.IMPL, "tz": tz_report(), "seen": seen}


# -- the mixed fleet -------------------------------------------------------------------------
def fleet_enqueue(data: dict[str, Any]) -> dict[str, Any]:
    """Enqueue ``record(i)`` for i in [start, stop); some of them scheduled a moment ahead."""
    for i in range(data["start"], data["stop"]):
        if i % data["schedule_every"] == 0:
            record.schedule((i,), delay=0.5)
        else:
            record(i)
    return {"impl": app.IMPL}


STEPS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "core-produce": core_produce,
    "core-consume": core_consume,
    "core-read": core_read,
    "sqlite-write": sqlite_write,
    "sqlite-drain": sqlite_drain,
    "sqlite-check": sqlite_check,
    "schedule-write": schedule_write,
    "schedule-read": schedule_read,
    "fleet-enqueue": fleet_enqueue,
}


def main(argv: list[str]) -> int:
    step, source, target = argv[1:4]
    with open(source, encoding="utf-8") as file:
        data = json.load(file)
    result = STEPS[step](data)
    with open(target, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
