"""The Redis storages' own parameters, key layout, round trips and notifications.

The generic storage contract is in ``tests/test_conformance.py`` (all four variants); data
exchange with huey 3.5.4 in ``tests/interop/test_interop_redis.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.exceptions import ResponseError

import huey
import huey.api
import huey.storage
from huey import PriorityRedisExpireHuey, PriorityRedisHuey, RedisExpireHuey, RedisHuey
from huey.backends.redis import (
    HashTaggedKeyLayout,
    KeyLayout,
    PriorityRedisExpireStorage,
    PriorityRedisStorage,
    RedisExpireStorage,
    RedisStorage,
)
from huey.backends.redis._keys import clean_name
from huey.constants import EmptyData
from huey.utils import to_timestamp, utcnow

HUEYS = {
    RedisHuey: RedisStorage,
    PriorityRedisHuey: PriorityRedisStorage,
    RedisExpireHuey: RedisExpireStorage,
    PriorityRedisExpireHuey: PriorityRedisExpireStorage,
}
STORAGES = list(HUEYS.values())
BACKEND_NAMES = {
    "redis": RedisStorage,
    "priority_redis": PriorityRedisStorage,
    "redis_expire": RedisExpireStorage,
    "priority_redis_expire": PriorityRedisExpireStorage,
}


# -- documented paths and parameters -------------------------------------------------------------
def test_documented_paths_resolve_to_the_package() -> None:
    for huey_class, storage_class in HUEYS.items():
        name = huey_class.__name__
        assert getattr(huey, name) is huey_class
        assert getattr(huey.api, name) is huey_class
        assert huey_class.storage_class is storage_class
        assert getattr(huey.storage, storage_class.__name__) is storage_class
    backends = {b.name: b for b in huey.list_backends()}
    for name, storage_class in BACKEND_NAMES.items():
        assert backends[name].storage_class is storage_class
        assert backends[name].distribution == "huey-redis"


def test_capability_flags(connection: dict[str, Any]) -> None:
    for storage_class in STORAGES:
        assert storage_class.supports_priority is storage_class.__name__.startswith("Priority")
        assert storage_class("q", **connection).supports_blocking_dequeue is True
        assert storage_class("q", blocking=False, **connection).supports_blocking_dequeue is False


def test_documented_defaults() -> None:
    storage = RedisStorage(port=1)
    assert (storage.name, storage.blocking, storage.read_timeout) == ("huey", True, 1)
    assert (storage.notify_result, storage.notify_result_ttl) == (False, 86400)
    assert RedisExpireStorage(port=1).expire_time == 86400
    assert RedisExpireStorage("q", 30, port=1).expire_time == 30  # Second positional argument.


@pytest.mark.parametrize("storage_class", STORAGES)
def test_unknown_arguments_are_a_type_error(storage_class: type[RedisStorage]) -> None:
    with pytest.raises(TypeError, match="bogus"):
        storage_class("q", port=1, bogus=1)
    with pytest.raises(TypeError, match="bogus"):
        storage_class("q", url="redis://127.0.0.1:1/0", bogus=1)
    huey_class = next(h for h, s in HUEYS.items() if s is storage_class)
    with pytest.raises(TypeError, match=f"{huey_class.__name__}.*bogus"):
        huey_class("q", port=1, bogus=1)


def test_connection_pool_is_used_as_given(connection: dict[str, Any]) -> None:
    pool = redis.ConnectionPool(**connection)
    storage = RedisStorage("q", connection_pool=pool)
    assert storage.conn.connection_pool is pool
    storage.enqueue(b"x")
    assert storage.dequeue() == b"x"
    for extra in ({"host": "elsewhere"}, {"url": "redis://h/0"}, {"client_name": "n"}):
        with pytest.raises(TypeError, match="connection_pool"):
            RedisStorage("q", connection_pool=pool, **extra)
    # djhuey's settings dicts spell absent options as None.
    RedisStorage("q", connection_pool=pool, url=None, client_name=None)


def test_same_connection_arguments_share_a_pool(connection: dict[str, Any]) -> None:
    one = RedisHuey("one", **connection)
    two = PriorityRedisExpireHuey("two", **connection)
    assert one.storage.connection_pool is two.storage.connection_pool
    other_db = RedisHuey("one", port=connection["port"], db=connection["db"] + 1)
    assert other_db.storage.connection_pool is not one.storage.connection_pool
    by_url = RedisHuey("u", url=f"redis://127.0.0.1:{connection['port']}/{connection['db']}")
    again = RedisHuey("v", url=f"redis://127.0.0.1:{connection['port']}/{connection['db']}")
    assert by_url.storage.connection_pool is again.storage.connection_pool


def test_multiple_queues_recipe_shares_one_pool(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    pool = redis.ConnectionPool(max_connections=20, **connection)
    emails = RedisHuey("myapp_emails", connection_pool=pool)
    reports = RedisHuey("myapp_reports", connection_pool=pool)

    @emails.task()
    def send(to: str) -> str:
        return f"sent to {to}"

    @reports.task()
    def build(day: int) -> int:
        return day

    send("a@example.com")
    build(3)
    build(4)
    assert (len(emails), len(reports)) == (1, 2)
    assert redis_client.llen("huey.redis.myapp_emails") == 1
    emails.put("k", "emails' value")
    assert reports.get("k") is None
    assert emails.get("k") == "emails' value"
    assert emails.storage.connection_pool is reports.storage.connection_pool is pool


def test_url_and_client_name(redis_server: Any, redis_db: int, redis_client: redis.Redis) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/{redis_db}"
    storage = RedisStorage("q", url=url, client_name="huey-test-client")
    storage.enqueue(b"x")
    assert redis_client.llen("huey.redis.q") == 1
    names = [client.get("name") for client in redis_client.client_list()]
    assert "huey-test-client" in names


def test_outage_safe_default_timeouts() -> None:
    options = RedisStorage("q", port=1).connection_pool.connection_kwargs
    assert options["socket_connect_timeout"] == 5.0
    assert options["socket_timeout"] == 5.0
    assert options["retry"].get_retries() == 1
    slow = RedisStorage("q", port=1, read_timeout=10).connection_pool.connection_kwargs
    assert slow["socket_timeout"] == 12.0  # Longer than the blocking pop it waits for.
    mine = RedisStorage("q", port=1, socket_timeout=None, socket_connect_timeout=2)
    assert mine.connection_pool.connection_kwargs["socket_timeout"] is None
    assert mine.connection_pool.connection_kwargs["socket_connect_timeout"] == 2
    by_url = RedisStorage("q", url="redis://127.0.0.1:1/0?socket_timeout=30")
    assert by_url.connection_pool.connection_kwargs["socket_timeout"] == 30.0


def test_a_short_socket_timeout_shortens_blocking_reads(
    connection: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Sentinel's warning: a socket timeout below read_timeout must not look like an empty
    queue; the storage waits less instead, and says so."""
    with caplog.at_level(logging.WARNING, logger="huey.backends.redis"):
        storage = RedisStorage("q", read_timeout=5, socket_timeout=1, **connection)
    assert "socket_timeout" in caplog.text
    start = time.monotonic()
    assert storage.dequeue() is None  # No TimeoutError.
    assert time.monotonic() - start < 4


# -- names and key layout ------------------------------------------------------------------------
def test_queue_names_are_cleaned(connection: dict[str, Any], redis_client: redis.Redis) -> None:
    assert clean_name("my-app.x/ü 1_2") == "myappx1_2"
    storage = RedisStorage("my-app.x", **connection)
    assert storage.name == "myappx"  # As in huey 3.5.4: the name the keys carry.
    assert storage.queue_key == "huey.redis.myappx"
    storage.enqueue(b"m")
    assert redis_client.keys("*") == [b"huey.redis.myappx"]
    raw = RedisStorage("my-app.x", clean_name=False, **connection)
    assert raw.name == "my-app.x" and raw.queue_key == "huey.redis.my-app.x"
    raw.enqueue(b"m")
    assert redis_client.llen("huey.redis.my-app.x") == 1


def test_key_layout_class() -> None:
    keys = KeyLayout("app")
    assert (keys.queue, keys.schedule, keys.results, keys.counters) == (
        "huey.redis.app",
        "huey.schedule.app",
        "huey.results.app",
        "huey.counters.app",
    )
    assert keys.notify("id") == "huey.notify.app.id"
    assert keys.data("r:id") == "huey.r.app.r:id"
    assert keys.counter("c") == "huey.c.app.c"
    assert keys.data_key_name(b"huey.r.app.r:id") == "r:id"
    tagged = HashTaggedKeyLayout("app")
    assert tagged.queue == "huey.redis.{app}" and tagged.notify("id") == "huey.notify.{app}.id"
    assert tagged.data_pattern == "huey.r.{app}.*"  # Braces are not glob syntax.


def _values(client: redis.Redis, key: str) -> dict[str, Any]:
    return {k.decode(): pickle.loads(v) for k, v in client.hgetall(key).items()}


def test_redis_huey_writes_huey_354s_keys(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    app = RedisHuey("my-app.x", **connection)

    @app.task()
    def add(a: int, b: int) -> int:
        return a + b

    first = add(1, 2)
    later = add.schedule((3, 4), delay=60)
    assert redis_client.type("huey.redis.myappx") == b"list"
    assert [pickle.loads(m).id for m in redis_client.lrange("huey.redis.myappx", 0, -1)] == [
        later.id,
        first.id,
    ]  # LPUSHed: the next task is the rightmost.
    app.execute(app.dequeue())
    task = app.dequeue()
    app.execute(task)  # Not due: moved to the schedule.
    [(member, score)] = redis_client.zrange("huey.schedule.myappx", 0, -1, withscores=True)
    assert pickle.loads(member).id == later.id
    assert score == to_timestamp(task.eta)
    revoked = add(5, 6)
    revoked.revoke()
    add.revoke(revoke_once=True)
    app.lock_task("lk").acquire()
    window = int(time.time()) // 60
    app.put("mykey", [1, 2])
    app.storage.incr("ctr")
    app.storage.incr("ctr", 5)
    app.rate_limit("rl", 1, 60).acquire()
    assert sorted(redis_client.keys("*")) == [
        b"huey.counters.myappx",
        b"huey.redis.myappx",
        b"huey.results.myappx",
        b"huey.schedule.myappx",
    ]
    results = _values(redis_client, "huey.results.myappx")
    assert results.pop("my-app.x.rl.rl.w") in (window, int(time.time()) // 60)
    assert results == {
        first.id: 3,
        f"r:{revoked.id}": (None, True),
        f"rt:{add.qualified_name}": (None, True),  # module.name, as huey 3.5.4 writes it
        "my-app.x.lock.lk": "1",
        "mykey": [1, 2],
    }
    assert redis_client.hgetall("huey.counters.myappx") == {b"ctr": b"6", b"my-app.x.rl.rl": b"1"}


def test_priority_queue_members_and_scores(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    storage = PriorityRedisStorage("prio", **connection)
    before = time.time()
    storage.enqueue(b"none")
    storage.enqueue(b"ten", priority=10)
    storage.enqueue(b"minus", priority=-5)
    storage.enqueue(b"none-again", priority=None)
    members = redis_client.zrange("huey.redis.prio", 0, -1, withscores=True)
    assert [(m[8:], s) for m, s in members] == [
        (b"ten", -10.0),
        (b"none", 0.0),
        (b"none-again", 0.0),
        (b"minus", 5.0),
    ]
    stamps = [int.from_bytes(m[:8], "big") / 1e6 for m, _ in members]
    assert all(before - 1 < stamp < time.time() + 1 for stamp in stamps)
    assert [storage.dequeue() for _ in range(4)] == [b"ten", b"none", b"none-again", b"minus"]


def test_a_queue_written_with_huey_354s_prefixes_is_drained_in_order(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    """Members written by another process (another clock) sort by their own prefix."""
    base = 1_795_282_783_609_319
    redis_client.zadd(
        "huey.redis.prio",
        {
            (base + 2).to_bytes(8, "big") + b"second": 0,
            (base + 1).to_bytes(8, "big") + b"first": 0,
            (base + 3).to_bytes(8, "big") + b"urgent": -3,
        },
    )
    storage = PriorityRedisStorage("prio", blocking=False, **connection)
    assert storage.enqueued_items() == [b"urgent", b"first", b"second"]
    assert [storage.dequeue() for _ in range(3)] == [b"urgent", b"first", b"second"]


@pytest.mark.parametrize("huey_class", [RedisExpireHuey, PriorityRedisExpireHuey])
def test_expire_storages_write_huey_354s_keys(
    huey_class: type[huey.api.Huey], connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    app = huey_class("exp", expire_time=300, **connection)

    @app.task()
    def sub(a: int, b: int) -> int:
        return a - b

    result = sub(5, 1)
    app.execute(app.dequeue())
    result.revoke()
    app.put("k", "v")
    app.storage.incr("c")
    app.lock_task("l").acquire()
    expected = {
        f"huey.r.exp.{result.id}": (4, True),
        f"huey.r.exp.r:{result.id}": ((None, True), False),
        "huey.r.exp.k": ("v", False),
        "huey.r.exp.exp.lock.l": ("1", False),
    }
    for key, (value, expires) in expected.items():
        assert redis_client.type(key) == b"string"
        assert pickle.loads(redis_client.get(key)) == value
        ttl = redis_client.ttl(key)
        assert (0 < ttl <= 300) if expires else ttl == -1, key
    assert redis_client.get("huey.c.exp.c") == b"1"
    assert 0 < redis_client.ttl("huey.c.exp.c") <= 300  # Counters expire too, as in 3.5.4.
    assert result.get() == 4
    assert redis_client.exists(f"huey.r.exp.{result.id}")  # Read, and left to expire (3.5.4).


def test_notify_list_outlives_the_read_and_a_later_waiter_uses_it_up(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    # huey 3.5.4: a result written then read still wakes a waiter that comes later.
    app = RedisHuey("nt", notify_result=True, notify_result_ttl=100, **connection)

    @app.task()
    def one() -> int:
        return 1

    result = one()
    app.execute(app.dequeue())
    key = f"huey.notify.nt.{result.id}"
    assert redis_client.lrange(key, 0, -1) == [b"1"]
    assert 0 < redis_client.ttl(key) <= 100
    assert result.get(blocking=True, timeout=5) == 1
    assert redis_client.lrange(key, 0, -1) == [b"1"]  # Left to its TTL.
    assert app.storage.wait_result(result.id, timeout=1) is True
    assert not redis_client.exists(key)
    assert app.storage.wait_result(result.id, timeout=0.2) is False  # Nothing written since.


# -- blocking reads ------------------------------------------------------------------------------
@pytest.mark.parametrize("storage_class", STORAGES)
def test_non_blocking_and_blocking_dequeue(
    storage_class: type[RedisStorage], connection: dict[str, Any]
) -> None:
    quick = storage_class("q", blocking=False, **connection)
    start = time.monotonic()
    assert quick.dequeue() is None
    assert time.monotonic() - start < 0.5
    waiting = storage_class("q", read_timeout=0.3, **connection)
    start = time.monotonic()
    assert waiting.dequeue() is None
    assert 0.25 <= time.monotonic() - start < 5
    threading.Timer(0.3, quick.enqueue, (b"late",)).start()
    slow = storage_class("q", read_timeout=20, **connection)
    start = time.monotonic()
    assert slow.dequeue() == b"late"
    assert time.monotonic() - start < 10


def test_servers_before_redis_6_get_whole_second_timeouts(
    connection: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = RedisStorage("q", read_timeout=0.2, **connection)
    sent: list[Any] = []
    original = storage._command

    def old_server(*args: Any, **options: Any) -> Any:
        if args[0] != "BRPOP":
            return original(*args, **options)
        sent.append(args)
        if not isinstance(args[-1], int):
            raise ResponseError("timeout is not an integer or out of range")
        return original(*args, **options)

    monkeypatch.setattr(storage, "_command", old_server)
    storage.enqueue(b"x")
    assert storage.dequeue() == b"x"
    assert [args[-1] for args in sent] == [0.2, 1]
    assert storage.dequeue() is None
    assert sent[-1][-1] == 1


@pytest.mark.parametrize("storage_class", [RedisStorage, PriorityRedisExpireStorage])
def test_blocking_result_read_is_woken_by_a_write_in_another_process(
    storage_class: type[RedisStorage], connection: dict[str, Any]
) -> None:
    """max_delay of a minute (socket timeout above it): only the notification can end the wait
    within seconds."""
    options = {**connection, "notify_result": True, "socket_timeout": 120}
    storage = storage_class("q", **options)
    writer = textwrap.dedent(
        f"""
        import time
        from huey.storage import {storage_class.__name__} as S
        time.sleep(0.5)
        S("q", **{options!r}).put_data("task-1", b"42", is_result=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", writer])
    try:
        start = time.monotonic()
        assert storage.wait_result("task-1", timeout=60, max_delay=60) is True
        assert time.monotonic() - start < 30, "waited out max_delay: not woken"
        assert storage.pop_data("task-1") == b"42"
    finally:
        assert child.wait(30) == 0


def test_wait_result_with_notify_takes_a_notification_as_written_and_times_out_without(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    storage = RedisStorage("q", notify_result=True, **connection)
    start = time.monotonic()
    assert storage.wait_result("k", timeout=0.4, max_delay=60) is False
    assert 0.35 <= time.monotonic() - start < 5
    # A notification whose result was read already still says it was written (huey 3.5.4).
    redis_client.lpush("huey.notify.q.k", "1")
    assert storage.wait_result("k", timeout=5) is True
    assert not redis_client.exists("huey.notify.q.k")  # Used up.
    storage.put_data("k", b"v", is_result=True)
    assert storage.wait_result("k", timeout=5) is True


# -- round trips ---------------------------------------------------------------------------------
@pytest.fixture
def monitor(redis_server: Any, redis_db: int) -> Iterator[Callable[[Callable[[], Any]], list]]:
    """``record(action)``: the commands ``action`` sent to the test's database, as
    ``(client type, [command, *args])``: ``lua`` for those a script ran (MONITOR)."""
    client = redis.Redis(port=redis_server.port, db=redis_db)

    def record(action: Callable[[], Any]) -> list[tuple[str, list[str]]]:
        commands: list[tuple[str, list[str]]] = []
        marker = f"end-{time.monotonic_ns()}"
        with client.monitor() as mon:

            def listen() -> None:
                for event in mon.listen():
                    if marker in event["command"]:
                        return
                    words = event["command"].split(" ")
                    if event["db"] == redis_db and words[0].upper() not in IGNORED:
                        commands.append((event["client_type"], words))

            thread = threading.Thread(target=listen, daemon=True)
            thread.start()
            time.sleep(0.1)
            action()
            client.echo(marker)
            thread.join(10)
        return commands

    yield record
    client.close()


IGNORED = {"HELLO", "CLIENT", "SCRIPT", "ECHO", "MONITOR", "SELECT"}


def _names(commands: list[tuple[str, list[str]]]) -> list[str]:
    """The commands the client sent (one round trip each), without those scripts ran."""
    return [words[0].upper() for kind, words in commands if kind != "lua"]


def _script_read_revocations(commands: list[tuple[str, list[str]]], app: Any, task: Any) -> bool:
    """Whether a script (not the client) read the revocation fields of ``task``."""
    read = ["HMGET", f"huey.results.{app.name}", f"r:{task.id}", f"rt:{task.qualified_name}"]
    return any(kind == "lua" and [words[0].upper(), *words[1:]] == read for kind, words in commands)


def test_a_worker_takes_a_waiting_task_in_two_round_trips(
    connection: dict[str, Any], monitor: Callable[[Callable[[], Any]], list]
) -> None:
    """One script takes the message and reads its revocation fields, one command stores the
    result (huey 3.5.4: BRPOP, HMGET, HDEL, HSET; and MULTI/LPUSH/EXPIRE/EXEC to notify)."""
    for huey_class in (RedisHuey, PriorityRedisHuey):
        for notify in (False, True):
            app = huey_class(f"rt{int(notify)}", notify_result=notify, **connection)

            @app.task()
            def add(a: int, b: int) -> int:
                return a + b

            add(1, 2)
            app.execute(app.dequeue())  # Scripts loaded.
            result = add(1, 2)
            commands = monitor(lambda app=app: app.execute(app.dequeue()))
            # The result write is a script too: it drops the field's deadline, if any.
            assert _names(commands) == ["EVALSHA", "EVALSHA"], commands
            assert _script_read_revocations(commands, app, result.task)
            assert result.get() == 3


def test_an_at_least_once_worker_reads_revocations_with_the_lease(
    connection: dict[str, Any], monitor: Callable[[Callable[[], Any]], list]
) -> None:
    """Lease (with the revocation fields), result, acknowledgement: three round trips."""
    app = RedisHuey("alo", delivery="at-least-once", **connection)

    @app.task()
    def add(a: int, b: int) -> int:
        return a + b

    add(1, 2)
    app.execute(app.dequeue())  # Scripts loaded.
    result = add(1, 2)
    commands = monitor(lambda: app.execute(app.dequeue()))
    assert _names(commands) == ["EVALSHA", "EVALSHA", "EVALSHA"], commands
    assert _script_read_revocations(commands, app, result.task)
    assert result.get() == 3
    revoked = add(2, 3)
    revoked.revoke()
    task = app.dequeue()
    assert task is not None and task._revocations is not None
    assert app.execute(task) is None and revoked.get() is None
    assert app.storage.lease_count() == 0  # Skipped, and acknowledged.


def test_an_idle_worker_waits_in_brpop(
    connection: dict[str, Any], monitor: Callable[[Callable[[], Any]], list]
) -> None:
    app = RedisHuey("idle", read_timeout=0.1, **connection)
    assert app.dequeue() is None  # Script loaded.
    assert _names(monitor(app.dequeue)) == ["EVALSHA", "BRPOP"]


@pytest.mark.parametrize("huey_class", [RedisHuey, PriorityRedisHuey])
def test_revocations_read_with_the_message_are_honoured(
    huey_class: type[huey.Huey], connection: dict[str, Any]
) -> None:
    app = huey_class("revoked", blocking=False, **connection)
    ran: list[str] = []

    @app.task()
    def work(label: str) -> str:
        ran.append(label)
        return label

    by_id = work("by id")
    by_id.revoke()
    once = work.s("once")
    work.revoke(revoke_once=True)
    app.enqueue(once)
    work("after once")
    lapsed = work("lapsed")
    app.revoke_by_id(lapsed.id, revoke_until=dt.datetime.now() - dt.timedelta(seconds=1))
    while (task := app.dequeue()) is not None:
        assert task._revocations is not None, "the fields were read with the message"
        app.execute(task)
    assert ran == ["after once", "lapsed"]
    # A revocation used up by the worker is gone, as after a separate read.
    assert app.storage.peek_data_many([f"r:{by_id.id}", f"rt:{work.name}"]) == [
        EmptyData,
        EmptyData,
    ]


def test_messages_the_script_cannot_read_are_checked_by_the_worker(
    connection: dict[str, Any], monitor: Callable[[Callable[[], Any]], list]
) -> None:
    """Compressed messages hide the id from the script; long and non-ASCII ids do not."""
    for label, options, task_id in [
        ("compressed", {"compression": True}, None),
        ("long id", {}, "x" * 300),  # Pickled as BINUNICODE (a 4-byte length).
        ("non-ascii id", {}, "tâche-№1"),
    ]:
        app = RedisHuey("readable", blocking=False, **options, **connection)

        @app.task()
        def work() -> int:
            return 1

        result = app.enqueue(work.s()) if task_id is None else work.schedule(delay=0, id=task_id)
        assert result is not None
        result.revoke()
        task = app.dequeue()
        assert task is not None and task.id == result.id
        if label == "compressed":
            assert task._revocations is None
            commands = monitor(lambda app=app, task=task: app.execute(task))
            assert any(words[0].upper() == "HMGET" for _, words in commands), label
        else:
            assert task._revocations == {
                f"r:{task.id}": app.storage.peek_data(f"r:{task.id}"),
                f"rt:{task.qualified_name}": EmptyData,
            }, label
            app.execute(task)
        assert result.get() is None, label
        assert app.storage.peek_data(f"r:{task.id}") is EmptyData, label  # Used up.
        app.flush()


def test_destructive_reads_and_schedule_reads_are_one_round_trip(
    connection: dict[str, Any], monitor: Callable[[Callable[[], Any]], list]
) -> None:
    for storage in (RedisStorage("q", **connection), RedisExpireStorage("e", **connection)):
        storage.put_data("k", b"v")
        storage.add_to_schedule(b"m", dt.datetime(2020, 1, 1))
        assert storage.pop_data("k") == b"v"  # Scripts loaded (once per server).
        storage.read_schedule(dt.datetime(2019, 1, 1))
        storage.put_data("k", b"v")
        reads = ["GET"] if isinstance(storage, RedisExpireStorage) else ["EVALSHA"]
        assert _names(monitor(lambda s=storage: s.pop_data("k"))) == reads
        # An expire storage's read leaves the result until it expires (huey 3.5.4).
        assert (storage.pop_data("k") is EmptyData) is storage.destructive_reads
        assert _names(monitor(lambda s=storage: s.read_schedule(utcnow()))) == ["EVALSHA"]
        assert storage.schedule_size() == 0


def test_every_script_declares_the_keys_it_touches(
    connection: dict[str, Any], monitor: Callable[[Callable[[], Any]], list]
) -> None:
    """What a cluster layout needs: each key a script touches comes from KEYS."""
    storage = RedisExpireStorage("q", notify_result=True, **connection)
    hashed = RedisStorage("h", notify_result=True, **connection)

    def run() -> None:
        storage.put_data("k", b"v", is_result=True)
        storage.incr("c")
        storage.read_schedule(utcnow())
        hashed.put_data("k", b"v", is_result=True)
        hashed.pop_data("k")
        hashed.put_if_empty("lock", b"1", ttl=60)  # The field deadlines set, on Redis < 7.4.
        hashed.put_data("other", b"v")
        hashed.peek_data("lock")
        hashed.delete_data("lock")

    run()
    commands = monitor(run)
    script_calls = [words for kind, words in commands if words[0].upper() == "EVALSHA"]
    touched = {words[1] for kind, words in commands if kind == "lua" and words[0] != "TIME"}
    assert len(script_calls) == 9 and touched
    declared = {key for words in script_calls for key in words[3 : 3 + int(words[2])]}
    assert touched <= declared


@pytest.mark.parametrize("storage_class", STORAGES)
def test_peek_data_many_reads_several_keys_in_one_round_trip(
    storage_class: type[RedisStorage],
    connection: dict[str, Any],
    monitor: Callable[[Callable[[], Any]], list],
) -> None:
    """The batched read proposed for the worker's revocation check (``r:<id>``, ``rt:<name>``)."""
    storage = storage_class("q", **connection)
    storage.put_data("r:id", b"once")
    storage.put_data("empty", b"")
    found: list[Any] = []
    commands = monitor(lambda: found.extend(storage.peek_data_many(["r:id", "rt:x", "empty"])))
    assert found == [b"once", EmptyData, b""]
    assert len(_names(commands)) == 1
    assert storage.peek_data_many([]) == []


def test_a_prioritized_task_from_huey_354s_redis_huey_is_retried(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    app = RedisHuey("p", **connection)

    @app.task(retries=1)
    def boom() -> None:
        raise ValueError("x")

    message = pickle.loads(app.serialize_task(boom.s()))._replace(priority=5)
    redis_client.lpush("huey.redis.p", pickle.dumps(message))  # As huey 3.5.4 writes it.
    task = app.dequeue()
    assert task is not None and task.priority == 5
    try:
        app.execute(task)
    finally:
        assert len(app) == 1, "the retry was not enqueued"


# -- huey 3.4-3.5: expire reads, ttl on every server, connection conflicts -----------------------


@pytest.mark.parametrize("huey_class", [RedisExpireHuey, PriorityRedisExpireHuey])
def test_expire_huey_results_can_be_read_again_until_they_expire(
    huey_class: type[huey.api.Huey], connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    app = huey_class("again", expire_time=300, **connection)

    @app.task()
    def add(a: int, b: int) -> int:
        return a + b

    result = add(2, 3)
    app.execute(app.dequeue())
    assert result.get() == 5  # type: ignore[union-attr]
    result.reset()  # type: ignore[union-attr]
    assert result.get() == 5  # type: ignore[union-attr]
    assert app.result(result.id) == 5  # type: ignore[union-attr]  # Another reader, too.
    assert redis_client.ttl(f"huey.r.again.{result.id}") > 0  # Still there, still expiring.
    assert app.storage.destructive_reads is False


def test_put_if_empty_ttl_without_hash_field_ttl_uses_the_deadline_set(
    connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    """On a server without HPEXPIRE (before Redis 7.4), a field's deadline is kept apart and
    every read of the hash leaves the expired fields out."""
    if tuple(map(int, redis_client.info("server")["redis_version"].split(".")[:2])) >= (7, 4):
        pytest.skip("the server expires hash fields itself (HPEXPIRE)")
    storage = RedisStorage("ttl", **connection)
    assert storage.supports_hash_ttl is True  # ttl works here too, unlike huey 3.5.4.
    assert storage.put_if_empty("lock", b"1", ttl=0.1) is True
    assert redis_client.zscore("huey.expiry.ttl", "lock") is not None
    deadline = time.monotonic() + 30
    while storage.has_data_for_key("lock"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert redis_client.hexists("huey.results.ttl", "lock") is False  # Purged, not hidden.
    assert redis_client.zcard("huey.expiry.ttl") == 0
    assert storage.put_if_empty(b"lock", b"2") is True


@pytest.mark.parametrize("huey_class", [RedisExpireHuey, PriorityRedisExpireHuey])
def test_expire_storages_lock_with_a_key_ttl(
    huey_class: type[huey.api.Huey], connection: dict[str, Any], redis_client: redis.Redis
) -> None:
    app = huey_class("lk", **connection)
    app.lock_task("job", ttl=30).acquire()
    assert 0 < redis_client.pttl("huey.r.lk.lk.lock.job") <= 30_000
    assert app.is_locked("job")


def test_conflicting_connection_arguments_are_a_configuration_error(
    connection: dict[str, Any],
) -> None:
    pool = redis.ConnectionPool(**connection)
    url = f"redis://127.0.0.1:{connection['port']}/{connection['db']}"
    for kwargs in ({"host": "localhost", "url": url}, {"url": url, "connection_pool": pool}):
        with pytest.raises(huey.exceptions.ConfigurationError, match=r"url|connection_pool"):
            RedisHuey("q", **kwargs)
    with pytest.raises(TypeError):  # Still a TypeError, as before.
        RedisStorage("q", host="localhost", connection_pool=pool)
    RedisHuey("q", host=None, port=None, db=None, url=url)  # Absent (None) is fine.
