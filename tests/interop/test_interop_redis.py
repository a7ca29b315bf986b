"""One Redis database moves between huey 3.5.4 and this package's Redis storages, in place.

Both implementations run against the same private redis-server (one fresh database per test,
never 127.0.0.1:6379), for ``RedisHuey``, ``PriorityRedisHuey``, ``RedisExpireHuey`` and
``PriorityRedisExpireHuey``:

- Hand-over (both directions): A leaves a queue the way a running deployment does (queued
  plain, prioritized and eta tasks, scheduled tasks, a chord and a pipeline half run, results
  and an error result, revocations, a held lock, a used rate limit, a counter, key/value
  data, a second queue); B drains it; A reads what B left.
- Both implementations writing the same things leave the same keys, types and TTLs.
- ``notify_result``: a blocking result read on one side is woken by the result write on the
  other.
- A mixed fleet: a huey 3.5.4 consumer and one of ours drain the same queue at once; every
  task runs exactly once.

The steps run in subprocesses of each side (``apps/redis_interop_driver.py`` on
``apps/redis_interop_app.py``), as in the other interop tests.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from interop_support import (
    APPS,
    DIRECTIONS,
    STEP_TIMEOUT,
    Consumer,
    Side,
    unavailable,
    wait_for_fleet,
)

pytestmark = pytest.mark.slow

DRIVER = APPS / "redis_interop_driver.py"
KINDS = ["redis", "priority_redis", "redis_expire", "priority_redis_expire"]
# The queue names of redis_interop_app, as both implementations clean them for key names.
MAIN_KEY_NAME = "interopredismain"
OTHER_KEY_NAME = "interop_redis_other"
DATABASES = 256
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- the server and the published huey's redis client ---------------------------------------------
@dataclass
class Server:
    port: int
    databases: Iterator[int]

    def fresh_db(self) -> int:
        """A database no test used before (the server is this module's own)."""
        return next(self.databases)

    def url(self, db: int, **options: Any) -> str:
        query = "&".join(f"{key}={value}" for key, value in options.items())
        return f"redis://127.0.0.1:{self.port}/{db}" + (f"?{query}" if query else "")

    def client(self, db: int) -> redis.Redis:
        return redis.Redis(port=self.port, db=db)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    from redis_servers import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        unavailable("redis-server is not installed")
    process = RedisServer(f"databases {DATABASES}").start()
    try:
        yield Server(process.port, iter(range(1, DATABASES)))
    finally:
        process.close()


@pytest.fixture(scope="module")
def sides_with_redis(sides: dict[str, Side]) -> dict[str, Side]:
    """Both sides; huey 3.5.4's virtualenv gets redis-py (its Redis storages need it)."""
    python = str(sides["huey354"].python)
    check = subprocess.run([python, "-c", "import redis"], capture_output=True, check=False)
    if check.returncode != 0:
        install = subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "redis"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if install.returncode != 0:
            unavailable(f"cannot install redis-py beside huey 3.5.4: {install.stderr[-2000:]}")
    return sides


def step(
    side: Side,
    name: str,
    data: Any,
    workdir: Path,
    config: dict[str, Any],
) -> dict[str, Any]:
    """Run one step of ``redis_interop_driver.py`` on ``side``; its JSON answer."""
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = f"{name}-{side.name}-{time.monotonic_ns()}"
    source, target = workdir / f"{stamp}.in.json", workdir / f"{stamp}.out.json"
    source.write_text(json.dumps(data))
    proc = subprocess.run(
        [str(side.python), str(DRIVER), name, str(source), str(target)],
        cwd=workdir,
        env=side.env(config),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"step {name} on {side.name} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-5000:]}\n--- stderr\n{proc.stderr[-8000:]}",
            pytrace=False,
        )
    answer: dict[str, Any] = json.loads(target.read_text())
    assert answer["impl"] == side.name, "the step ran under the other implementation"
    return answer


def _value(value: Any) -> dict[str, Any]:
    return {"present": True, "value": value}


ABSENT = {"present": False, "value": None}


# -- hand-over -----------------------------------------------------------------------------------
@dataclass
class Trip:
    kind: str
    producer: str
    consumer: str
    written: dict[str, Any]
    drained: dict[str, Any]
    checked: dict[str, Any]

    @property
    def ids(self) -> dict[str, str]:
        return self.written["ids"]

    @property
    def priority(self) -> bool:
        return self.kind.startswith("priority")

    def ran(self) -> dict[str, Any]:
        return {s["task"]["id"]: s for s in self.drained["ran"]}


@pytest.fixture(
    scope="module",
    params=[(kind, direction) for kind in KINDS for direction in DIRECTIONS],
    ids=[f"{kind}-{direction}" for kind in KINDS for direction in DIRECTIONS],
)
def trip(
    request: pytest.FixtureRequest,
    sides_with_redis: dict[str, Side],
    server: Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Trip:
    kind, direction = request.param
    producer, consumer = (sides_with_redis[name] for name in DIRECTIONS[direction])
    work = tmp_path_factory.mktemp(f"redis-{kind}-{direction}")
    config = {"kind": kind, "url": server.url(server.fresh_db())}
    written = step(producer, "write", {}, work, config)
    drained = step(consumer, "drain", written, work, config)
    checked = step(producer, "check", written, work, config)
    return Trip(kind, producer.name, consumer.name, written, drained, checked)


def test_consumer_finds_the_producers_queue(trip: Trip) -> None:
    expected = 12 if trip.priority else 9
    assert trip.drained["pending_before"] == trip.written["pending"] == expected
    assert trip.drained["other_pending_before"] == trip.written["other_pending"] == 2
    assert trip.drained["scheduled_before"] == trip.written["scheduled"] == 2


def test_dequeue_order(trip: Trip) -> None:
    ids = trip.ids
    order = [s["task"]["id"] for s in trip.drained["ran"]]
    first = [ids["priority10"], ids["priority5"], ids["priority1"]] if trip.priority else []
    assert order == [
        *first,
        ids["chord_member1"],
        ids["chord_member2"],
        ids["plain0"],
        ids["plain1"],
        ids["plain2"],
        ids["eta_queued"],  # Not due yet: moved to the schedule.
        ids["revoked"],
        ids["revoked_kind"],
        ids["pipe_child"],
        ids["chord_callback"],  # Enqueued by B when the last member finished.
    ]


def test_queued_tasks_run_with_their_arguments(trip: Trip) -> None:
    ran, ids, impl = trip.ran(), trip.ids, trip.consumer
    for i in range(3):
        assert ran[ids[f"plain{i}"]]["value"] == [["plain", i], {}, impl]
    if trip.priority:
        for priority in (1, 5, 10):
            step_ = ran[ids[f"priority{priority}"]]
            assert step_["task"]["priority"] == priority
            assert step_["value"] == [["priority", priority], {}, impl]
    assert ran[ids["eta_queued"]]["value"] is None


def test_revocations_by_the_producer_are_obeyed(trip: Trip) -> None:
    assert trip.drained["revoked_before"] == [True, True]
    assert trip.drained["revoked_signals"] == ["revoked", "revoked"]
    assert trip.ran()[trip.ids["revoked"]]["value"] is None
    assert trip.checked["results"]["revoked"] == ABSENT
    assert trip.checked["results"]["revoked_kind"] == ABSENT


def test_pipeline_started_by_the_producer_finishes(trip: Trip) -> None:
    child = trip.ran()[trip.ids["pipe_child"]]
    assert child["task"]["args"] == [100, 3]
    assert child["value"] == 103
    assert trip.checked["results"]["pipe_parent"] == _value(3)
    assert trip.checked["results"]["pipe_child"] == _value(103)


def test_chord_started_by_the_producer_completes(trip: Trip) -> None:
    ran, ids = trip.ran(), trip.ids
    assert [ran[ids[f"chord_member{i}"]]["value"] for i in (1, 2)] == [22, 33]
    expected = {"label": "c", "values": [11, 22, 33], "impl": trip.consumer}
    assert ran[ids["chord_callback"]]["value"] == expected
    results = trip.checked["results"]
    assert [results[f"chord_member{i}"] for i in range(3)] == [_value(11), _value(22), _value(33)]
    assert results["chord_callback"] == _value(expected)


def test_scheduled_tasks_come_due(trip: Trip) -> None:
    ids, impl = trip.ids, trip.consumer
    assert trip.drained["scheduled_after_drain"] == 3  # eta_queued joined the two.
    due = {s["task"]["id"]: s["value"] for s in trip.drained["due"]}
    assert due == {
        ids["eta_queued"]: [["eta queued"], {}, impl],
        ids["eta_scheduled"]: [["eta scheduled"], {}, impl],
    }
    etas = [
        s["task"]["eta"] for s in trip.drained["due"] if s["task"]["id"] == ids["eta_scheduled"]
    ]
    assert etas == [trip.written["eta_scheduled_eta"]]
    assert [task["id"] for task in trip.drained["scheduled_left"]] == [ids["far"]]
    assert [task["id"] for task in trip.checked["scheduled"]] == [ids["far"]]


def test_queues_are_empty_after_the_drain(trip: Trip) -> None:
    assert trip.drained["pending_after"] == 0
    assert trip.drained["other_pending_after"] == 0
    assert trip.checked["pending"] == 0


def test_results_stored_by_the_producer_read_by_the_consumer(trip: Trip) -> None:
    results = trip.drained["a_results"]
    assert results["a_value"] == _value(5)
    assert results["a_none"] == _value(None)
    error = results["a_error"]["error"]
    assert error["error"] == "ValueError('failed on A')"
    assert error["task_id"] == trip.ids["a_error"]
    assert "ValueError: failed on A" in error["traceback"]


def test_results_stored_by_the_consumer_read_by_the_producer(trip: Trip) -> None:
    results, impl = trip.checked["results"], trip.consumer
    for i in range(3):
        assert results[f"plain{i}"] == _value([["plain", i], {}, impl])
    if trip.priority:
        for priority in (1, 5, 10):
            assert results[f"priority{priority}"] == _value([["priority", priority], {}, impl])
    assert results["eta_queued"] == _value([["eta queued"], {}, impl])
    assert results["eta_scheduled"] == _value([["eta scheduled"], {}, impl])
    assert results["far"] == ABSENT
    assert trip.checked["other_results"] == {
        f"other{i}": _value([["b", i], OTHER_KEY_NAME, impl]) for i in range(2)
    }


def test_second_queue_on_the_same_server(trip: Trip) -> None:
    ran = trip.drained["other_ran"]
    assert [s["task"]["id"] for s in ran] == [trip.ids["other0"], trip.ids["other1"]]


def test_locks_are_seen_across_implementations(trip: Trip) -> None:
    assert trip.drained["lock_held"] is True
    assert trip.drained["lock_acquired"] is False
    assert trip.drained["flushed"] == ["interop-lock"]
    assert trip.checked["a_lock_held"] is False  # Released by B.
    assert trip.checked["b_lock_held"] is True


def test_rate_limit_and_counters_count_across_implementations(trip: Trip) -> None:
    assert trip.drained["rate_limit_usage_before"] == 1
    assert trip.drained["rate_limit_third"] == "RateLimitExceeded"
    assert trip.drained["counter"] == 6  # 5 from A, 1 from B.
    assert trip.checked["counter"] == 6


def test_key_value_data_both_ways(trip: Trip) -> None:
    shared = trip.drained["shared"]
    assert shared["from"] == trip.producer
    assert shared["items"] == [1, 2, 3]
    assert set(shared["when"]) == {"datetime"}
    assert trip.checked["from_b"] == {"from": trip.consumer, "n": 42}


# -- the same keys -------------------------------------------------------------------------------
def _layout(client: redis.Redis) -> dict[str, Any]:
    """Every key with its type and whether it expires; hash fields; task ids as ``<id>``."""

    def normal(value: bytes) -> str:
        return UUID.sub(b"<id>", value).decode()

    keys: dict[str, Any] = {}
    for key in client.keys("*"):
        kind = client.type(key).decode()
        entry: dict[str, Any] = {"type": kind, "expires": client.ttl(key) > 0}
        if kind == "hash":
            entry["fields"] = sorted({normal(field) for field in client.hkeys(key)})
        elif kind == "zset":
            entry["scores"] = sorted(
                score for _, score in client.zrange(key, 0, -1, withscores=True)
            )
        elif kind == "list":
            entry["length"] = client.llen(key)
        keys.setdefault(normal(key), []).append(entry)
    for entries in keys.values():
        entries.sort(key=json.dumps)
    return keys


@pytest.mark.parametrize("kind", KINDS)
def test_both_implementations_write_the_same_keys(
    kind: str, sides_with_redis: dict[str, Side], server: Server, tmp_path: Path
) -> None:
    layouts = {}
    for name, side in sides_with_redis.items():
        db = server.fresh_db()
        step(side, "write", {}, tmp_path / name, {"kind": kind, "url": server.url(db)})
        with server.client(db) as client:
            layouts[name] = _layout(client)
    ours, theirs = layouts["ours"], layouts["huey354"]
    assert sorted(ours) == sorted(theirs)
    chord_slot = f"huey.r.{MAIN_KEY_NAME}.chord:<id>:0"
    if chord_slot in theirs:  # Expiring or not: test_chord_slots_expire_like_results.
        for entry in (*ours[chord_slot], *theirs[chord_slot]):
            entry.pop("expires")
    for key in theirs:
        # Schedule scores are times of each run; only their number must match.
        if key.startswith("huey.schedule."):
            assert [len(e["scores"]) for e in ours[key]] == [len(e["scores"]) for e in theirs[key]]
            continue
        assert ours[key] == theirs[key], key
    assert f"huey.redis.{MAIN_KEY_NAME}" in ours
    assert f"huey.redis.{OTHER_KEY_NAME}" in ours


def test_chord_slots_expire_like_results(
    sides_with_redis: dict[str, Side], server: Server, tmp_path: Path
) -> None:
    for name, side in sides_with_redis.items():
        db = server.fresh_db()
        step(side, "write", {}, tmp_path / name, {"kind": "redis_expire", "url": server.url(db)})
        with server.client(db) as client:
            slots = client.keys(f"huey.r.{MAIN_KEY_NAME}.chord:*")
            assert len(slots) == 1, name
            assert 0 < client.ttl(slots[0]) <= 3600, name


def test_priority_members_carry_a_timestamp_prefix(
    sides_with_redis: dict[str, Side], server: Server, tmp_path: Path
) -> None:
    """Each side's priority queue members: 8-byte big-endian microseconds, then the pickle."""
    for name, side in sides_with_redis.items():
        db = server.fresh_db()
        before = time.time()
        step(side, "write", {}, tmp_path / name, {"kind": "priority_redis", "url": server.url(db)})
        with server.client(db) as client:
            members = client.zrange(f"huey.redis.{MAIN_KEY_NAME}", 0, -1, withscores=True)
        assert [score for _, score in members[:3]] == [-10.0, -5.0, -1.0], name
        for member, _ in members:
            stamp = int.from_bytes(member[:8], "big") / 1e6
            assert before - 5 < stamp < time.time() + 5, name
            assert pickle.loads(member[8:]).name.startswith("redis_interop_app."), name


# -- notify_result across implementations --------------------------------------------------------
@pytest.mark.parametrize("kind", ["redis", "priority_redis_expire"])
@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_blocking_result_read_is_woken_by_the_other_side(
    kind: str,
    direction: str,
    sides_with_redis: dict[str, Side],
    server: Server,
    tmp_path: Path,
) -> None:
    """The reader waits with a one-minute max_delay (and socket timeout above it): returning
    within seconds of the write means the write's notification woke it."""
    writer, reader = (sides_with_redis[name] for name in DIRECTIONS[direction])
    db = server.fresh_db()
    config = {"kind": kind, "url": server.url(db, socket_timeout=120), "notify": True}
    task_id = step(writer, "notify-enqueue", {}, tmp_path, config)["id"]
    answers: dict[str, Any] = {}

    def wait() -> None:
        answers["read"] = step(reader, "notify-wait", {"id": task_id}, tmp_path, config)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    wrote = step(writer, "notify-run", {"id": task_id}, tmp_path, config)
    waiter.join(STEP_TIMEOUT)
    read = answers["read"]
    assert wrote["value"] == read["value"] == 42
    assert read["waited"] < 30
    assert read["woke_at"] - wrote["wrote_at"] < 5


# -- a mixed fleet -------------------------------------------------------------------------------
FLEET_TASKS = 300
SCHEDULE_EVERY = 25


@pytest.mark.parametrize("kind", ["redis", "priority_redis"])
def test_mixed_fleet_runs_every_task_exactly_once(
    kind: str,
    sides_with_redis: dict[str, Side],
    server: Server,
    tmp_path: Path,
    consumers: list[Consumer],
) -> None:
    db = server.fresh_db()
    config = {"kind": kind, "url": server.url(db)}
    client = server.client(db)
    results = f"huey.results.{MAIN_KEY_NAME}"
    options = ["-w", "2", "-k", "thread", "-d", "0.01", "-m", "0.05", "-b", "1.1", "-s", "1"]
    for name, side in sides_with_redis.items():
        command = [str(side.python.parent / "huey_consumer"), "redis_interop_app.huey", *options]
        consumers.append(Consumer(name, command, tmp_path, side.env(config)))

    def up(impl: str) -> int:
        return sum(1 for field in client.hkeys(results) if field.startswith(f"up:{impl}:".encode()))

    wait_for_fleet(
        lambda: up("huey354") >= 2 and up("ours") >= 2, 30, "both consumers' workers", consumers
    )
    half = FLEET_TASKS // 2
    for name, (start, stop) in (("huey354", (0, half)), ("ours", (half, FLEET_TASKS))):
        data = {"start": start, "stop": stop, "schedule_every": SCHEDULE_EVERY}
        step(sides_with_redis[name], "fleet-enqueue", data, tmp_path, config)

    def runs() -> int:
        return int(client.hget(f"huey.counters.{MAIN_KEY_NAME}", "runs") or 0)

    def idle() -> bool:
        queue = f"huey.redis.{MAIN_KEY_NAME}"
        pending = client.zcard(queue) if kind.startswith("priority") else client.llen(queue)
        scheduled = client.zcard(f"huey.schedule.{MAIN_KEY_NAME}")
        return runs() >= FLEET_TASKS and pending == 0 and scheduled == 0

    wait_for_fleet(idle, 90, f"{FLEET_TASKS} runs and empty queues", consumers)
    time.sleep(0.5)  # A task run twice would show up by now.
    for consumer in consumers:
        assert consumer.stop() == 0, consumer.log()[-5000:]

    stored = client.hgetall(results)
    ran = {k.decode(): pickle.loads(v) for k, v in stored.items() if k.startswith(b"ran:")}
    assert [k for k in stored if k.startswith(b"dup:")] == []
    assert sorted(ran) == sorted(f"ran:{i}" for i in range(FLEET_TASKS))
    assert runs() == FLEET_TASKS
    by_impl = {impl: sum(1 for who in ran.values() if who == impl) for impl in ("huey354", "ours")}
    assert by_impl["huey354"] > 0 and by_impl["ours"] > 0, by_impl
    for consumer in consumers:
        assert "Traceback" not in consumer.log(), consumer.log()[-5000:]
    client.close()
