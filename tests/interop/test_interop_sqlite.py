"""One SQLite file moves between huey 3.5.4 and this package's SqliteHuey, in place.

- Hand-over (both directions): A leaves a file the way a running deployment does (queued plain,
  prioritized and eta tasks, scheduled tasks, a chord and a pipeline half run, results and an
  error result, a held lock, a used rate limit, key/value data, a second queue in the same
  file); B opens the same file and drains it; A reads what B left. Run with
  TZ=America/New_York: huey 3.5.4 stores schedule timestamps as ``time.mktime`` of its naive UTC
  eta, so a side that computed them differently would see scheduled tasks hours off.
- Schedule timestamps under several time zones, read at given instants (no waiting).
- A mixed fleet: a huey 3.5.4 consumer and one of ours drain the same file at once; every task
  runs exactly once.

Known incompatibilities of this package (``interop_support.py``) run as strict xfails where
this package is the side that differs: fixing one turns its tests into failures until the
xfail is removed.
"""

from __future__ import annotations

import pickle
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from interop_support import DIRECTIONS, Consumer, Side, wait_for_fleet

pytestmark = pytest.mark.slow

NEW_YORK = {"TZ": "America/New_York"}


def _value(value: Any) -> dict[str, Any]:
    return {"present": True, "value": value}


ABSENT = {"present": False, "value": None}


@dataclass
class FileTrip:
    producer: str
    consumer: str
    written: dict[str, Any]
    drained: dict[str, Any]
    checked: dict[str, Any]

    @property
    def ids(self) -> dict[str, str]:
        return self.written["ids"]

    def ran(self) -> dict[str, Any]:
        """What B ran from the main queue, by task id."""
        return {step["task"]["id"]: step for step in self.drained["ran"]}


@pytest.fixture(scope="module", params=list(DIRECTIONS))
def file_trip(
    request: pytest.FixtureRequest,
    sides: dict[str, Side],
    tmp_path_factory: pytest.TempPathFactory,
) -> FileTrip:
    producer, consumer = (sides[name] for name in DIRECTIONS[request.param])
    work = tmp_path_factory.mktemp(f"sqlite-{request.param}")
    config = {"storage": "sqlite", "filename": str(work / "huey.db")}
    written = producer.step("sqlite-write", {}, work, config, NEW_YORK)
    drained = consumer.step("sqlite-drain", written, work, config, NEW_YORK)
    checked = producer.step("sqlite-check", written, work, config, NEW_YORK)
    return FileTrip(producer.name, consumer.name, written, drained, checked)


def test_both_sides_ran_in_new_york(file_trip: FileTrip) -> None:
    for report in (file_trip.written, file_trip.drained):
        assert report["tz"]["TZ"] == "America/New_York"
        assert report["tz"]["utcoffset"] in (-5 * 3600, -4 * 3600), "TZ did not apply"


def test_consumer_finds_the_producers_queue(file_trip: FileTrip) -> None:
    drained, written = file_trip.drained, file_trip.written
    assert drained["pending_before"] == written["pending"] == 11
    assert drained["other_pending_before"] == written["other_pending"] == 2
    assert drained["scheduled_before"] == written["scheduled"] == 2


def test_dequeue_order_is_priority_then_fifo(file_trip: FileTrip) -> None:
    ids = file_trip.ids
    order = [step["task"]["id"] for step in file_trip.drained["ran"]]
    assert order == [
        ids["priority10"],
        ids["priority5"],
        ids["priority1"],
        ids["chord_member1"],
        ids["chord_member2"],
        ids["plain0"],
        ids["plain1"],
        ids["plain2"],
        ids["eta_queued"],  # Not due yet: moved to the schedule.
        ids["revoked"],
        ids["pipe_child"],
        ids["chord_callback"],  # Enqueued by B when the last member finished.
    ]


def test_queued_tasks_run_with_their_arguments(file_trip: FileTrip) -> None:
    ran, ids, impl = file_trip.ran(), file_trip.ids, file_trip.consumer
    for i in range(3):
        assert ran[ids[f"plain{i}"]]["value"] == [["plain", i], {}, impl]
    for priority in (1, 5, 10):
        step = ran[ids[f"priority{priority}"]]
        assert step["task"]["priority"] == priority
        assert step["value"] == [["priority", priority], {}, impl]
    assert ran[ids["eta_queued"]]["value"] is None
    assert ran[ids["revoked"]]["value"] is None


def test_revocation_by_the_producer_is_obeyed(file_trip: FileTrip) -> None:
    assert file_trip.drained["revoked_before"] is True
    assert file_trip.drained["revoked_signals"] == ["revoked"]
    assert file_trip.checked["results"]["revoked"] == ABSENT


def test_pipeline_started_by_the_producer_finishes(file_trip: FileTrip) -> None:
    child = file_trip.ran()[file_trip.ids["pipe_child"]]
    assert child["task"]["args"] == [100, 3]  # then(add, 100) gets the parent's 1 + 2.
    assert child["value"] == 103
    results = file_trip.checked["results"]
    assert results["pipe_parent"] == _value(3)  # Stored by A.
    assert results["pipe_child"] == _value(103)  # Stored by B.


def test_chord_started_by_the_producer_completes(file_trip: FileTrip) -> None:
    ran, ids = file_trip.ran(), file_trip.ids
    assert [ran[ids[f"chord_member{i}"]]["value"] for i in (1, 2)] == [22, 33]
    assert ids["chord_callback"] in ran
    results = file_trip.checked["results"]
    assert [results[f"chord_member{i}"] for i in range(3)] == [_value(11), _value(22), _value(33)]


def test_chord_callback_gets_the_results_of_members_run_on_both_sides(file_trip: FileTrip) -> None:
    expected = {"label": "chord", "values": [11, 22, 33], "impl": file_trip.consumer}
    assert file_trip.ran()[file_trip.ids["chord_callback"]]["value"] == expected
    assert file_trip.checked["results"]["chord_callback"] == _value(expected)


def test_scheduled_tasks_come_due(file_trip: FileTrip) -> None:
    ids, impl = file_trip.ids, file_trip.consumer
    assert file_trip.drained["scheduled_after_drain"] == 3  # eta_queued joined the two.
    due = {step["task"]["id"]: step["value"] for step in file_trip.drained["due"]}
    assert due == {
        ids["eta_queued"]: [["eta queued"], {}, impl],
        ids["eta_scheduled"]: [["eta scheduled"], {}, impl],
    }
    eta = [
        s["task"]["eta"]
        for s in file_trip.drained["due"]
        if s["task"]["id"] == ids["eta_scheduled"]
    ]
    assert eta == [file_trip.written["eta_scheduled_eta"]]
    # The task two hours ahead stays, for both sides.
    assert [task["id"] for task in file_trip.drained["scheduled_left"]] == [ids["far"]]
    assert [task["id"] for task in file_trip.checked["scheduled"]] == [ids["far"]]
    assert file_trip.checked["results"]["far"] == ABSENT


def test_queues_are_empty_after_the_drain(file_trip: FileTrip) -> None:
    assert file_trip.drained["pending_after"] == 0
    assert file_trip.drained["other_pending_after"] == 0
    assert file_trip.checked["pending"] == 0


def test_results_stored_by_the_producer_read_by_the_consumer(file_trip: FileTrip) -> None:
    results = file_trip.drained["a_results"]
    assert results["a_value"] == _value(5)
    assert results["a_none"] == _value(None)
    error = results["a_error"]["error"]
    assert error["error"] == "ValueError('failed on A')"
    assert error["retries"] == 0
    assert error["task_id"] == file_trip.ids["a_error"]
    assert "ValueError: failed on A" in error["traceback"]


def test_results_stored_by_the_consumer_read_by_the_producer(file_trip: FileTrip) -> None:
    results, ids, impl = file_trip.checked["results"], file_trip.ids, file_trip.consumer
    for i in range(3):
        assert results[f"plain{i}"] == _value([["plain", i], {}, impl])
    for priority in (1, 5, 10):
        assert results[f"priority{priority}"] == _value([["priority", priority], {}, impl])
    assert results["eta_queued"] == _value([["eta queued"], {}, impl])
    assert results["eta_scheduled"] == _value([["eta scheduled"], {}, impl])
    assert file_trip.checked["other_results"] == {
        f"other{i}": _value([["b", i], "interop_b", impl]) for i in range(2)
    }
    assert ids["other0"] not in file_trip.ran()  # The main queue never served the other one.


def test_second_queue_in_the_same_file(file_trip: FileTrip) -> None:
    ran = file_trip.drained["other_ran"]
    assert [step["task"]["id"] for step in ran] == [
        file_trip.ids["other0"],
        file_trip.ids["other1"],
    ]
    assert [step["value"] for step in ran] == [
        [["b", i], "interop_b", file_trip.consumer] for i in range(2)
    ]


def test_locks_are_seen_across_implementations(file_trip: FileTrip) -> None:
    assert file_trip.drained["lock_held"] is True
    assert file_trip.drained["lock_acquired"] is False
    assert file_trip.drained["flushed"] == ["interop-lock"]
    assert file_trip.checked["a_lock_held"] is False  # Released by B.
    assert file_trip.checked["b_lock_held"] is True


def test_rate_limit_counts_across_implementations(file_trip: FileTrip) -> None:
    assert file_trip.drained["rate_limit_usage_before"] == 1
    assert file_trip.drained["rate_limit_third"] == "RateLimitExceeded"


def test_key_value_data_both_ways(file_trip: FileTrip) -> None:
    shared = file_trip.drained["shared"]
    assert shared["from"] == file_trip.producer
    assert shared["items"] == [1, 2, 3]
    assert set(shared["when"]) == {"datetime"}
    assert file_trip.checked["from_b"] == {"from": file_trip.consumer, "n": 42}


# -- schedule timestamps ---------------------------------------------------------------------
@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_schedule_timestamps_agree(
    direction: str, tz: str, sides: dict[str, Side], tmp_path: Path
) -> None:
    """Tasks 1 minute and 2 hours ahead come out of the other side's schedule exactly when due."""
    producer, consumer = (sides[name] for name in DIRECTIONS[direction])
    config = {"storage": "sqlite", "filename": str(tmp_path / "huey.db")}
    written = producer.step("schedule-write", {}, tmp_path, config, {"TZ": tz})
    read = consumer.step("schedule-read", written, tmp_path, config, {"TZ": tz})
    expected_offset = {"UTC": 0, "Asia/Kolkata": 19800}.get(tz)
    for report in (written, read):
        if expected_offset is None:
            assert report["tz"]["utcoffset"] in (-5 * 3600, -4 * 3600)
        else:
            assert report["tz"]["utcoffset"] == expected_offset
    assert read["seen"] == {"+30s": [], "+90s": ["minute"], "+1h": [], "+3h": ["hours"]}


# -- a mixed fleet -------------------------------------------------------------------------------
FLEET_TASKS = 500
SCHEDULE_EVERY = 25  # Every 25th task is scheduled half a second ahead: both schedulers run.


def _query(db: Path, sql: str, *params: Any) -> list[Any]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_mixed_fleet_runs_every_task_exactly_once(
    sides: dict[str, Side], tmp_path: Path, consumers: list[Consumer]
) -> None:
    db = tmp_path / "huey.db"
    config = {"storage": "sqlite", "filename": str(db)}
    # The file exists before the upgrade: huey 3.5.4 made it.
    sides["huey354"].step(
        "fleet-enqueue", {"start": 0, "stop": 0, "schedule_every": 1}, tmp_path, config
    )
    # Two thread workers each, polling fast; huey 3.5.4 wants whole seconds for -s.
    options = ["-w", "2", "-k", "thread", "-d", "0.01", "-m", "0.05", "-b", "1.1", "-s", "1"]
    for name in ("huey354", "ours"):
        consumers.append(sides[name].consumer(config, tmp_path, options, {}))

    def up(impl: str) -> int:
        rows = _query(
            db, "select count(*) from kv where queue = ? and key like ?", "interop", f"up:{impl}:%"
        )
        return int(rows[0][0])

    wait_for_fleet(
        lambda: up("huey354") >= 2 and up("ours") >= 2, 30, "both consumers' workers", consumers
    )

    half = FLEET_TASKS // 2
    for name, (start, stop) in (("huey354", (0, half)), ("ours", (half, FLEET_TASKS))):
        data = {"start": start, "stop": stop, "schedule_every": SCHEDULE_EVERY}
        sides[name].step("fleet-enqueue", data, tmp_path, config)

    def runs() -> int:
        rows = _query(
            db, "select value from counter where queue = ? and key = ?", "interop", "runs"
        )
        return int(rows[0][0]) if rows else 0

    def idle() -> bool:
        pending = _query(db, "select count(*) from task where queue = ?", "interop")[0][0]
        scheduled = _query(db, "select count(*) from schedule where queue = ?", "interop")[0][0]
        return runs() >= FLEET_TASKS and pending == 0 and scheduled == 0

    wait_for_fleet(idle, 60, f"{FLEET_TASKS} runs and empty queues", consumers)
    time.sleep(0.5)  # A task run twice would show up by now.
    for consumer in consumers:
        assert consumer.stop() == 0, consumer.log()[-5000:]

    ran = {
        key: pickle.loads(value)
        for key, value in _query(
            db, "select key, value from kv where queue = ? and key like 'ran:%'", "interop"
        )
    }
    duplicates = _query(db, "select key from kv where queue = ? and key like 'dup:%'", "interop")
    assert duplicates == []
    assert sorted(ran) == sorted(f"ran:{i}" for i in range(FLEET_TASKS))
    assert runs() == FLEET_TASKS
    by_impl = {impl: sum(1 for who in ran.values() if who == impl) for impl in ("huey354", "ours")}
    assert by_impl["huey354"] > 0 and by_impl["ours"] > 0, by_impl
    for consumer in consumers:
        log = consumer.log()
        for sign in ("Traceback", "database is locked"):
            assert sign not in log, f"{consumer.name} logged an error:\n{log[-5000:]}"
    print(f"tasks run by each consumer: {by_impl}")
