"""One step of a Redis interop test, run by either implementation's interpreter.

    python redis_interop_driver.py STEP INPUT.json OUTPUT.json

Like ``interop_driver.py`` (whose JSON helpers it reuses) but on a shared redis-server: the
bytes never pass through the test process, each side reads what the other left in Redis.

Steps (``A`` produces, ``B`` consumes; the tests run both directions):

- ``write`` (A): leave a queue the way a running deployment does: a chord and a pipeline half
  run, plain (and, with priorities, prioritized) tasks, a task with an eta in the queue and
  two in the schedule, revoked tasks, results and an error result, a held lock, a used rate
  limit, a counter, key/value data, and a second queue;
- ``drain`` (B): take over: drain both queues, wait for the schedule, read A's data;
- ``check`` (A): read the results and keys B left;
- ``notify-enqueue`` / ``notify-wait`` / ``notify-run``: a blocking result read on one side,
  the task run on the other;
- ``fleet-enqueue``: enqueue ``record`` tasks for a mixed fleet of consumers.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import redis_interop_app as app
from interop_driver import describe, drain, plain, read_result, utcnow
from redis_interop_app import (
    add,
    collect,
    echo,
    fail,
    huey,
    identity,
    other,
    other_echo,
    record,
    revoked_kind,
)

from huey import group
from huey.exceptions import RateLimitExceeded, TaskLockedException

ETA_DELAY = 2.5  # Seconds ahead for the near scheduled tasks.
SIGNALS: list[list[Any]] = []


@huey.signal()
def _record_signal(signal: str, task: Any, *args: Any) -> None:
    SIGNALS.append([signal, task.id])


# -- hand-over ---------------------------------------------------------------------------------
def write(_: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    ids: dict[str, str] = {}

    # A chord in flight: A ran its first member; the others and the callback are left to B.
    handle = huey.enqueue(group([add.s(10, 1), add.s(20, 2), add.s(30, 3)]).then(collect, "c"))
    for i, result in enumerate(handle.results):
        ids[f"chord_member{i}"] = result.id
    ids["chord_callback"] = handle.callback.id
    member = huey.dequeue()
    assert member.id == ids["chord_member0"], "the queue is not FIFO"
    huey.execute(member)

    for i in range(3):
        ids[f"plain{i}"] = echo("plain", i).id
    if app.PRIORITY:
        for priority in (1, 10, 5):
            ids[f"priority{priority}"] = echo.schedule(
                ("priority", priority), delay=0, priority=priority
            ).id
    # Enqueued with an eta (it goes to the queue), and put in the schedule directly.
    ids["eta_queued"] = echo.schedule(("eta queued",), delay=ETA_DELAY).id
    soon = echo.s("eta scheduled")
    soon.eta = utcnow() + dt.timedelta(seconds=ETA_DELAY)
    huey.add_schedule(soon)
    ids["eta_scheduled"] = soon.id
    far = echo.s("far future")
    far.eta = utcnow() + dt.timedelta(hours=2)
    huey.add_schedule(far)
    ids["far"] = far.id
    # Revoked tasks still in the queue: by id, and the whole task.
    ids["revoked"] = echo("revoked").id
    huey.revoke_by_id(ids["revoked"])
    ids["revoked_kind"] = revoked_kind("whole task").id
    revoked_kind.revoke()
    # A pipeline whose first step A ran: B runs the rest with A's result.
    pipeline = add.s(1, 2).then(add, 100)
    ids["pipe_parent"] = pipeline.id
    ids["pipe_child"] = pipeline.on_complete.id
    huey.execute(pipeline)
    # Results A stored: a value, None, an error.
    for label, task in (
        ("a_value", add.s(2, 3)),
        ("a_none", identity.s(None)),
        ("a_error", fail.s("failed on A")),
    ):
        huey.execute(task)
        ids[label] = task.id
    for i in range(2):
        ids[f"other{i}"] = other_echo("b", i).id
    # A lock A holds, a rate limit A used, a counter, plain key/value data.
    huey.lock_task(app.LOCK).acquire()
    huey.rate_limit(app.RATE_LIMIT, limit=2, per=app.RATE_PER).acquire()
    huey.storage.incr("shared-counter", 5)
    huey.put("shared", {"from": app.IMPL, "when": now, "items": [1, 2, 3]})
    return {
        "impl": app.IMPL,
        "ids": ids,
        "pending": huey.pending_count(),
        "other_pending": other.pending_count(),
        "scheduled": huey.scheduled_count(),
        "eta_scheduled_eta": plain(soon.eta),
    }


def drain_step(data: dict[str, Any]) -> dict[str, Any]:
    ids = data["ids"]
    report: dict[str, Any] = {"impl": app.IMPL}
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
    report["counter"] = huey.storage.incr("shared-counter", 1)
    report["shared"] = plain(huey.get("shared", peek=True))
    report["a_results"] = {
        label: read_result(huey, ids[label]) for label in ("a_value", "a_none", "a_error")
    }
    report["revoked_before"] = [huey.is_revoked(ids["revoked"]), revoked_kind.is_revoked()]

    SIGNALS.clear()
    report["ran"] = drain(huey)
    revoked = {ids["revoked"], ids["revoked_kind"]}
    report["revoked_signals"] = sorted(s for s, task_id in SIGNALS if task_id in revoked)
    report["other_ran"] = drain(other)
    report["scheduled_after_drain"] = huey.scheduled_count()
    due: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while len(due) < 2 and time.monotonic() < deadline:
        for task in huey.read_schedule():
            due.append({"task": describe(task, huey), "value": plain(huey.execute(task))})
        time.sleep(0.05)
    report["due"] = due
    report["scheduled_left"] = [describe(task, huey) for task in huey.scheduled()]
    report["pending_after"] = huey.pending_count()
    report["other_pending_after"] = other.pending_count()

    # What B leaves for A: A's lock released, a lock of its own, data.
    report["flushed"] = sorted(huey.flush_locks(app.LOCK))
    huey.lock_task("held-by-b").acquire()
    huey.put("from_b", {"from": app.IMPL, "n": 42})
    return report


def check(data: dict[str, Any]) -> dict[str, Any]:
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
        "counter": huey.storage.incr("shared-counter", 0),
        "pending": huey.pending_count(),
        "scheduled": [describe(task, huey) for task in huey.scheduled()],
    }


# -- a blocking result read woken by the other side ----------------------------------------------
def notify_enqueue(_: Any) -> dict[str, Any]:
    return {"impl": app.IMPL, "id": add(20, 22).id}


def notify_wait(data: dict[str, Any]) -> dict[str, Any]:
    """Block on the result with a one-minute ``max_delay``: only a notification ends it early."""
    huey.put(f"waiting:{data['id']}", app.IMPL)
    started = time.monotonic()
    value = huey.result(data["id"], blocking=True, timeout=60, max_delay=60)
    return {
        "impl": app.IMPL,
        "value": value,
        "waited": time.monotonic() - started,
        "woke_at": time.time(),
    }


def notify_run(data: dict[str, Any]) -> dict[str, Any]:
    """Run the task once the other side waits for it (and a little later, to be sure)."""
    deadline = time.monotonic() + 30
    while huey.get(f"waiting:{data['id']}", peek=True) is None:
        assert time.monotonic() < deadline, "the reader never started waiting"
        time.sleep(0.02)
    time.sleep(0.5)
    task = huey.dequeue()
    assert task is not None and task.id == data["id"]
    value = huey.execute(task)
    return {"impl": app.IMPL, "value": value, "wrote_at": time.time()}


# -- the mixed fleet -----------------------------------------------------------------------------
def fleet_enqueue(data: dict[str, Any]) -> dict[str, Any]:
    for i in range(data["start"], data["stop"]):
        if i % data["schedule_every"] == 0:
            record.schedule((i,), delay=0.5)
        else:
            record(i)
    return {"impl": app.IMPL}


STEPS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "write": write,
    "drain": drain_step,
    "check": check,
    "notify-enqueue": notify_enqueue,
    "notify-wait": notify_wait,
    "notify-run": notify_run,
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
