"""``ValkeyGlideStorage`` beyond the conformance suite: huey's Redis layout read and written by
redis-py, connections (one blocking client per thread, fork, close, reconnect) and parameters.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from glide_support import service_unavailable
from redis_servers import RedisServer

from huey.constants import EmptyData
from huey.contrib.valkey_glide import ValkeyGlideHuey, ValkeyGlideStorage, key_name
from huey.exceptions import ConfigurationError
from huey.utils import to_timestamp

WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)


@pytest.fixture
def storages(port: int) -> Iterator[Any]:
    """``make(name='app', **options)``: storages on the private server, closed afterwards."""
    made: list[ValkeyGlideStorage] = []

    def make(name: str = "app", **options: Any) -> ValkeyGlideStorage:
        options.setdefault("port", port)
        storage = ValkeyGlideStorage(name, **options)
        made.append(storage)
        return storage

    yield make
    for storage in made:
        storage.close()


def connections(redis_py: Any, client_name: str) -> int:
    return sum(1 for client in redis_py.client_list() if client.get("name") == client_name)


# -- huey's Redis layout -------------------------------------------------------------------------
def test_keys_types_and_values_are_those_of_huey_redis(storages: Any, redis_py: Any) -> None:
    storage = storages("my-app.v2 ünï", notify_result=True, notify_result_ttl=120)
    assert storage.name == "my-app.v2 ünï"
    assert key_name(storage.name) == "myappv2n"
    storage.enqueue(b"first")
    storage.enqueue(b"second")
    storage.add_to_schedule(b"later", WHEN)
    storage.put_data("k", b"\x00value", is_result=True)
    storage.put_data("plain", b"p")
    storage.incr("hits", 3)

    assert redis_py.type("huey.redis.myappv2n") == b"list"
    assert redis_py.lrange("huey.redis.myappv2n", 0, -1) == [b"second", b"first"]  # LPUSH
    assert redis_py.type("huey.schedule.myappv2n") == b"zset"
    assert redis_py.zrange("huey.schedule.myappv2n", 0, -1, withscores=True) == [
        (b"later", to_timestamp(WHEN))
    ]
    assert redis_py.hgetall("huey.results.myappv2n") == {b"k": b"\x00value", b"plain": b"p"}
    assert redis_py.hgetall("huey.counters.myappv2n") == {b"hits": b"3"}
    assert redis_py.lrange("huey.notify.myappv2n.k", 0, -1) == [b"1"]
    assert 0 < redis_py.ttl("huey.notify.myappv2n.k") <= 120
    assert not redis_py.exists("huey.notify.myappv2n.plain"), "only results notify"
    assert sorted(redis_py.keys("*")) == [
        b"huey.counters.myappv2n",
        b"huey.notify.myappv2n.k",
        b"huey.redis.myappv2n",
        b"huey.results.myappv2n",
        b"huey.schedule.myappv2n",
    ]


def test_clean_name_false_keeps_the_name_as_given(storages: Any, redis_py: Any) -> None:
    storages("my-app:1", clean_name=False).enqueue(b"x")
    assert redis_py.lrange("huey.redis.my-app:1", 0, -1) == [b"x"]


def test_reads_what_redis_py_wrote_in_hueys_layout(storages: Any, redis_py: Any) -> None:
    redis_py.lpush("huey.redis.app", b"one")
    redis_py.lpush("huey.redis.app", b"two", b"three")
    redis_py.zadd("huey.schedule.app", {b"due": to_timestamp(WHEN), b"not yet": 4102444800.0})
    redis_py.hset("huey.results.app", mapping={"r": b"result", "lock": b"1"})
    redis_py.hincrby("huey.counters.app", "c", 41)

    storage = storages("app", read_timeout=0.2)
    assert storage.queue_size() == 3
    assert storage.enqueued_items() == [b"one", b"two", b"three"]
    assert [storage.dequeue() for _ in range(3)] == [b"one", b"two", b"three"]
    assert storage.dequeue() is None
    assert storage.read_schedule(WHEN) == [b"due"]
    assert storage.scheduled_items() == [b"not yet"]
    assert storage.pop_data("r") == b"result"
    assert storage.put_if_empty("lock", b"2") is False
    assert storage.incr("c") == 42
    assert redis_py.hgetall("huey.results.app") == {b"lock": b"1"}


def test_redis_py_reads_what_glide_wrote(storages: Any, redis_py: Any) -> None:
    storage = storages("app")
    for message in (b"a", b"b", b"c"):
        storage.enqueue(message)
    assert redis_py.brpop(["huey.redis.app"], timeout=1) == (b"huey.redis.app", b"a")
    assert redis_py.rpop("huey.redis.app") == b"b"
    storage.add_to_schedule(b"s", WHEN)
    assert redis_py.zrangebyscore("huey.schedule.app", "-inf", to_timestamp(WHEN)) == [b"s"]
    assert redis_py.zrangebyscore("huey.schedule.app", "-inf", to_timestamp(WHEN) - 1e-6) == []


def test_a_task_enqueued_through_redis_py_runs_on_valkey_glide_huey(
    port: int, redis_py: Any
) -> None:
    huey = ValkeyGlideHuey("interop", port=port, read_timeout=0.2)
    try:

        @huey.task()
        def add(a: int, b: int) -> int:
            return a + b

        # Another producer (say RedisHuey) writes the same message bytes to the same key.
        result = add.s(20, 22)
        redis_py.lpush("huey.redis.interop", huey.serialize_task(result))
        task = huey.dequeue()
        assert task is not None and task.id == result.id and task.args == (20, 22)
        assert huey.execute(task) == 42
        stored = redis_py.hget("huey.results.interop", task.id)
        assert stored is not None and pickle.loads(stored) == 42
    finally:
        huey.storage.close()


def test_shares_a_queue_with_this_projects_redis_huey(port: int, redis_py: Any) -> None:
    try:
        from huey import RedisHuey
    except ImportError as exc:  # It ships in the same distribution as this storage.
        service_unavailable(f"huey-redis's RedisHuey ({exc})")
    redis_huey = RedisHuey("shared", port=port)
    glide_huey = ValkeyGlideHuey("shared", port=port, read_timeout=0.2)
    try:

        @redis_huey.task(name="mul")
        def mul_r(a: int, b: int) -> int:
            return a * b

        @glide_huey.task(name="mul")
        def mul_g(a: int, b: int) -> int:
            return a * b

        from_redis = mul_r(6, 7)
        task = glide_huey.dequeue()
        assert task is not None and task.id == from_redis.id
        glide_huey.execute(task)
        assert from_redis.get(blocking=True, timeout=10) == 42

        from_glide = mul_g(3, 4)
        task = redis_huey.dequeue()
        assert task is not None and task.id == from_glide.id
        redis_huey.execute(task)
        assert from_glide.get(blocking=True, timeout=10) == 12
    finally:
        glide_huey.storage.close()
        redis_huey.storage.close()


# -- connections ---------------------------------------------------------------------------------
def test_a_blocked_dequeue_does_not_hold_up_other_commands(storages: Any) -> None:
    storage = storages("app", read_timeout=3)
    got: list[tuple[bytes | None, float]] = []

    def consumer() -> None:
        data = storage.dequeue()
        got.append((data, time.monotonic()))

    thread = threading.Thread(target=consumer, daemon=True)
    thread.start()
    time.sleep(0.2)  # The consumer is now blocked in BRPOP.
    start = time.monotonic()
    for index in range(20):
        storage.put_data(f"k{index}", b"v")
        assert storage.peek_data(f"k{index}") == b"v"
    assert time.monotonic() - start < 1.0, "commands waited behind the blocked pop"
    sent = time.monotonic()
    storage.enqueue(b"wake up")
    thread.join(5)
    assert got and got[0][0] == b"wake up"
    assert got[0][1] - sent < 1.0, "the blocked pop did not return when a message arrived"


def test_many_threads_block_at_once(storages: Any, redis_py: Any) -> None:
    storage = storages("app", read_timeout=0.5, client_name="many-threads")
    threads = 6
    results: list[bytes] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        barrier.wait()
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline:
                data = storage.dequeue()
                if data is not None:
                    results.append(data)
                    return
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    time.sleep(1.2)  # Every thread has waited out at least one empty pop by now.
    for index in range(threads):
        storage.enqueue(f"m{index}".encode())
    for thread in pool:
        thread.join(20)
    assert not errors, errors
    assert sorted(results) == [f"m{index}".encode() for index in range(threads)]
    # One shared connection plus one blocking connection per thread.
    assert connections(redis_py, "many-threads") == threads + 1


def test_blocking_connections_of_finished_threads_are_released(
    storages: Any, redis_py: Any
) -> None:
    storage = storages("app", read_timeout=0.05, client_name="finished-threads")
    storage.queue_size()  # The shared connection.
    for _ in range(5):
        thread = threading.Thread(target=storage.dequeue)
        thread.start()
        thread.join(10)
    storage.dequeue()  # This thread's turn prunes the clients of threads that ended.
    deadline = time.monotonic() + 5
    while connections(redis_py, "finished-threads") > 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert connections(redis_py, "finished-threads") == 2


def test_close_releases_connections_and_the_storage_reconnects(
    storages: Any, redis_py: Any
) -> None:
    storage = storages("app", read_timeout=0.05, client_name="closing")
    assert storage.close() is False, "nothing was open yet"
    storage.enqueue(b"x")
    storage.dequeue()
    storage.dequeue()
    assert connections(redis_py, "closing") == 2
    assert storage.close() is True
    deadline = time.monotonic() + 5
    while connections(redis_py, "closing") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert connections(redis_py, "closing") == 0
    storage.enqueue(b"again")
    assert storage.dequeue() == b"again"


def test_connections_are_opened_on_first_use(port: int, redis_py: Any) -> None:
    huey = ValkeyGlideHuey("lazy", port=port, client_name="lazy")
    assert connections(redis_py, "lazy") == 0
    huey.storage.queue_size()
    assert connections(redis_py, "lazy") == 1
    huey.storage.close()


def _in_child(body: Any) -> int:
    """Run ``body()`` in a forked child; its exit status (0 when it returned True)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            signal.alarm(30)
            status = 0 if body() else 2
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_forked_child_uses_the_storage_with_clients_of_its_own(storages: Any) -> None:
    storage = storages("app", read_timeout=0.2)
    storage.enqueue(b"from parent")  # The parent's loop thread and clients exist now.
    storage.put_data("parent", b"1")
    blocked = threading.Thread(target=storage.dequeue)  # ...and one is blocked in BRPOP.
    storage.enqueue(b"for the thread")
    blocked.start()

    def child() -> bool:
        assert storage.dequeue() in (b"from parent", b"for the thread", b"from child", None)
        storage.put_data("child", str(os.getpid()).encode())
        storage.enqueue(b"from child")
        assert storage.incr("forks") == 1
        storage.close()
        return True

    for _ in range(2):  # Twice: the parent's clients survive a child's exit.
        storage.delete_counter("forks")
        assert _in_child(child) == 0
    blocked.join(10)
    assert storage.peek_data("parent") == b"1"
    assert storage.peek_data("child") not in (EmptyData, None)
    assert 1 <= storage.enqueued_items().count(b"from child") <= 2
    assert storage.incr("forks") == 2


def test_the_storage_recovers_when_the_server_restarts(glide_server: RedisServer) -> None:
    server = RedisServer().start()
    storage = ValkeyGlideStorage("app", port=server.port, read_timeout=0.2, request_timeout=1)
    try:
        storage.enqueue(b"before")
        assert storage.dequeue() == b"before"
        server.restart()  # Same port, empty data.
        deadline = time.monotonic() + 20
        while True:
            try:
                storage.enqueue(b"after")
                assert storage.dequeue() == b"after"
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        storage.close()
        server.close()


# -- parameters ----------------------------------------------------------------------------------
def test_unknown_keyword_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="bogus"):
        ValkeyGlideStorage("app", bogus=1)
    with pytest.raises(TypeError, match="bogus"):
        ValkeyGlideHuey("app", bogus=1)
    with pytest.raises(TypeError, match="db="):
        ValkeyGlideStorage("app", database_id=1)
    with pytest.raises(TypeError, match="url= or addresses="):
        ValkeyGlideStorage("app", url="redis://h", addresses=[("h", 1)])


def test_glide_configuration_arguments_pass_through() -> None:
    from glide import BackoffStrategy, ReadFrom

    storage = ValkeyGlideStorage(
        "app",
        host="10.1.2.3",
        port=7000,
        db=4,
        request_timeout=2.5,
        client_name="mine",
        read_from=ReadFrom.PREFER_REPLICA,
        reconnect_strategy=BackoffStrategy(num_of_retries=3, factor=10, exponent_base=2),
        inflight_requests_limit=50,
    )
    config = storage.configuration
    assert [(a.host, a.port) for a in config.addresses] == [("10.1.2.3", 7000)]
    assert config.database_id == 4
    assert config.request_timeout == 2500
    assert storage.request_timeout == 2.5
    assert config.client_name == "mine"
    assert config.read_from == ReadFrom.PREFER_REPLICA
    assert config.inflight_requests_limit == 50
    assert ValkeyGlideStorage("app").configuration.request_timeout == 5000


def test_url_and_addresses() -> None:
    storage = ValkeyGlideStorage("app", url="rediss://user:p%40ss@cache.example:6380/2")
    config = storage.configuration
    assert [(a.host, a.port) for a in config.addresses] == [("cache.example", 6380)]
    assert config.database_id == 2
    assert config.use_tls is True
    assert config.credentials is not None
    assert (config.credentials.username, config.credentials.password) == ("user", "p@ss")
    plain = ValkeyGlideStorage("app", url="valkey://h").configuration
    assert [(a.host, a.port) for a in plain.addresses] == [("h", 6379)]
    assert plain.use_tls is False and plain.credentials is None and plain.database_id == 0
    with pytest.raises(ValueError, match="scheme"):
        ValkeyGlideStorage("app", url="http://h")
    many = ValkeyGlideStorage("app", addresses=[("a", 1), ("b", 2)]).configuration
    assert [(a.host, a.port) for a in many.addresses] == [("a", 1), ("b", 2)]


def test_a_complete_glide_configuration(port: int, redis_py: Any) -> None:
    from glide import GlideClientConfiguration, NodeAddress

    config = GlideClientConfiguration(
        [NodeAddress("127.0.0.1", port)], database_id=3, request_timeout=1500
    )
    storage = ValkeyGlideStorage("app", configuration=config)
    try:
        assert storage.request_timeout == 1.5
        storage.enqueue(b"in db 3")
        assert redis_py.execute_command("SELECT", 3) in (True, b"OK")
        assert redis_py.lrange("huey.redis.app", 0, -1) == [b"in db 3"]
    finally:
        storage.close()
    with pytest.raises(TypeError, match="url="):
        ValkeyGlideStorage("app", configuration=config, url="redis://h")
    with pytest.raises(TypeError, match="GlideClientConfiguration"):
        ValkeyGlideStorage("app", configuration={"addresses": []})  # type: ignore[arg-type]


def test_db_selects_the_database(storages: Any, glide_server: RedisServer) -> None:
    import redis

    storage = storages("app", db=5)
    storage.put_data("k", b"v")
    other = redis.Redis(port=glide_server.port, db=5)
    try:
        assert other.hget("huey.results.app", "k") == b"v"
    finally:
        other.close()


def test_password_authentication(glide_server: RedisServer) -> None:
    import redis

    server = RedisServer().start()
    try:
        redis.Redis(port=server.port).config_set("requirepass", "s3cret")
        good = ValkeyGlideStorage("app", url=f"redis://:s3cret@127.0.0.1:{server.port}")
        good.enqueue(b"x")
        assert good.queue_size() == 1
        good.close()
        bad = ValkeyGlideStorage("app", port=server.port, password="wrong", request_timeout=1)
        with pytest.raises(Exception, match=r"(?i)auth|password|WRONGPASS"):
            bad.queue_size()
        bad.close()
    finally:
        server.close()


def test_bad_timeouts_are_refused() -> None:
    with pytest.raises(ValueError, match="read_timeout"):
        ValkeyGlideStorage("app", read_timeout=0)
    with pytest.raises(ValueError, match="request_timeout"):
        ValkeyGlideStorage("app", request_timeout=-1)


def test_priorities_are_refused(storages: Any) -> None:
    storage = storages("app")
    assert storage.supports_priority is False
    with pytest.raises(ConfigurationError):
        storage.enqueue(b"x", priority=5)
    assert storage.queue_size() == 0


def test_blocking_false_polls(storages: Any, redis_py: Any) -> None:
    storage = storages("app", blocking=False, client_name="polling")
    assert storage.supports_blocking_dequeue is False
    assert type(storage).supports_blocking_dequeue is True
    start = time.monotonic()
    assert storage.dequeue() is None
    assert time.monotonic() - start < 0.5
    assert connections(redis_py, "polling") == 1, "no blocking connection without blocking"


def test_notify_result_wakes_a_waiter_at_once(storages: Any) -> None:
    storage = storages("app", notify_result=True)

    def writer() -> None:
        time.sleep(0.6)
        storage.put_data("r", b"done", is_result=True)

    thread = threading.Thread(target=writer, daemon=True)
    start = time.monotonic()
    thread.start()
    assert storage.wait_result("r", timeout=10, max_delay=5) is True
    elapsed = time.monotonic() - start
    thread.join(5)
    assert 0.5 < elapsed < 1.2, f"woke after {elapsed:.3f}s"
    start = time.monotonic()
    assert storage.wait_result("missing", timeout=0.3) is False
    assert 0.25 < time.monotonic() - start < 1.5


def test_importable_without_glide() -> None:
    """The entry point loads without the client; building a storage says what to install."""
    code = (
        "import sys; sys.modules['glide'] = None\n"
        "from huey.contrib.valkey_glide import ValkeyGlideHuey, ValkeyGlideStorage\n"
        "try:\n"
        "    ValkeyGlideStorage('app')\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert done.returncode == 0, done.stderr
    assert "ImportError:" in done.stdout and "huey-redis[glide]" in done.stdout
