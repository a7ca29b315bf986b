"""The Huey constructor and the task decorators: what a call enqueues and how it runs."""

from __future__ import annotations

import datetime as dt
import io
import pickle
import uuid
from typing import Any

import pytest

from huey import BlackHoleHuey, Huey, MemoryHuey, crontab
from huey.api import PeriodicTask, Result, ResultGroup, Task, TaskWrapper
from huey.exceptions import ConfigurationError, HueyException
from huey.registry import Message
from huey.serializer import Serializer, SignedSerializer
from huey.storage import BaseStorage, MemoryStorage
from huey.utils import utcnow

# -- Huey(...) parameters -----------------------------------------------------------------------


def test_name_names_the_storage_and_the_lock_keys() -> None:
    h = MemoryHuey("my-app")
    assert h.name == "my-app" and h.storage.name == "my-app"
    h.lock_task("reports").acquire()
    assert "my-app.lock.reports" in h.all_results()


def test_defaults() -> None:
    h = MemoryHuey()
    assert h.name == "huey"
    assert (h.results, h.store_none, h.utc, h.immediate) == (True, False, True, False)
    assert bool(h) and len(h) == 0  # True with an empty queue, as huey 3.5.4.


def test_get_storage_can_be_overridden() -> None:
    made: list[dict[str, Any]] = []

    class CustomHuey(Huey):  # No storage_class: get_storage() makes the storage.
        def get_storage(self, **storage_kwargs: Any) -> BaseStorage:
            made.append(storage_kwargs)
            return MemoryStorage(self.name)

    h = CustomHuey("custom", option=1)
    assert isinstance(h.storage, MemoryStorage) and made == [{"option": 1}]
    with pytest.raises(ConfigurationError):
        Huey("no-storage")


def test_results_false_calls_return_none_and_store_nothing(drain: Any) -> None:
    h = MemoryHuey(results=False)

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) is None
    assert h.enqueue(add.s(1, 2).then(add, 3)) is None
    assert drain(h) == [3, 3, 6]
    assert h.result_count() == 0


def test_store_none(drain: Any) -> None:
    for store_none, stored in ((False, 0), (True, 1)):
        h = MemoryHuey(store_none=store_none)

        @h.task()
        def nothing() -> None:
            return None

        r = nothing()
        drain(h)
        assert h.result_count() == stored
        assert r.get(preserve=True) is None
        assert r.is_ready() is bool(stored)


def test_utc_converts_naive_local_eta_and_expires_to_utc(local_tz: None) -> None:
    h = MemoryHuey(utc=True)

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    add.schedule((1, 2), eta=dt.datetime(2030, 1, 2, 3, 4, 5))  # local time, UTC-5
    aware = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    add.schedule((1, 2), eta=aware)
    h.enqueue(add.s(1, 2, expires=dt.datetime(2031, 6, 1, 12, 0)))
    etas = [t.eta for t in h.pending()]
    assert etas[:2] == [dt.datetime(2030, 1, 2, 8, 4, 5), dt.datetime(2030, 1, 2, 1, 4, 5)]
    assert h.pending()[2].expires_resolved == dt.datetime(2031, 6, 1, 17, 0)
    # delay= counts from the current UTC time.
    before = utcnow()
    add.schedule((1, 2), delay=60)
    eta = h.pending()[-1].eta
    assert before + dt.timedelta(seconds=59) < eta < utcnow() + dt.timedelta(seconds=61)


def test_utc_false_keeps_local_time(local_tz: None) -> None:
    h = MemoryHuey(utc=False)

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    add.schedule((1, 2), eta=dt.datetime(2030, 1, 2, 3, 4, 5))
    aware = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    add.schedule((1, 2), eta=aware)
    etas = [t.eta for t in h.pending()]
    assert etas == [dt.datetime(2030, 1, 2, 3, 4, 5), dt.datetime(2030, 1, 1, 22, 4, 5)]
    before = dt.datetime.now()
    add.schedule((1, 2), delay=60)
    assert before + dt.timedelta(seconds=59) < h.pending()[-1].eta


def test_immediate_runs_on_call_in_a_separate_memory_storage() -> None:
    h = MemoryHuey()
    live = h.storage

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    add(1, 2)
    assert h.pending_count() == 1
    h.immediate = True
    assert h.storage is not live and isinstance(h.storage, MemoryStorage)
    assert add(3, 4).get() == 7
    assert h.pending_count() == 0
    h.immediate = False
    assert h.storage is live and h.pending_count() == 1
    h.immediate = True  # Every switch gives a fresh memory storage.
    assert h.result_count() == 0


def test_immediate_at_construction_and_immediate_use_memory_false() -> None:
    h = MemoryHuey(immediate=True)

    @h.task()
    def double(n: int) -> int:
        return n * 2

    assert double(4)() == 8
    kept = MemoryHuey(immediate=True, immediate_use_memory=False)
    storage = kept.storage

    @kept.task()
    def triple(n: int) -> int:
        return n * 3

    triple(2)
    kept.immediate = False
    assert kept.storage is storage
    assert kept.result_count() == 1  # The result went to the configured storage.


def test_serializer_is_used_for_messages_and_results(drain: Any) -> None:
    h = MemoryHuey(serializer=SignedSerializer(secret="s3cret"))

    @h.task()
    def echo(value: Any) -> Any:
        return value

    r = echo("x")
    (message,) = h.storage.enqueued_items()
    payload, _, signature = message.rpartition(b":")
    assert len(signature) == 40 and pickle.loads(payload).name == echo.qualified_name
    drain(h)
    assert h.all_results()[r.id].rpartition(b":")[2] != b""
    assert r.get() == "x"


@pytest.mark.parametrize(
    ("options", "header"),
    [
        ({}, b"\x80"),
        ({"compression": True}, b"\x1f\x8b"),
        ({"use_zlib": True, "compression": True}, b"\x78"),
    ],
)
def test_compression(options: dict[str, bool], header: bytes, drain: Any) -> None:
    h = MemoryHuey(**options)

    @h.task()
    def text() -> str:
        return "abc" * 100

    r = text()
    assert h.storage.enqueued_items()[0].startswith(header)
    drain(h)
    assert h.all_results()[r.id].startswith(header)
    assert r.get() == "abc" * 100


def test_unknown_constructor_arguments_are_a_type_error_naming_them() -> None:
    with pytest.raises(TypeError, match="bogus"):
        MemoryHuey(bogus=1)
    with pytest.raises(TypeError, match=r"nope.*other|other.*nope"):
        MemoryHuey("x", nope=1, other=2)


def test_blackhole_huey_discards_everything() -> None:
    h = BlackHoleHuey()

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    r = add(1, 2)
    assert isinstance(r, Result) and r.get() is None
    assert h.dequeue() is None and h.pending_count() == 0 and len(h) == 0


# -- task() -------------------------------------------------------------------------------------


def test_task_returns_a_task_wrapper_that_enqueues(huey: MemoryHuey, drain: Any) -> None:
    @huey.task()
    def add(a: int, b: int = 10) -> int:
        """Adds."""
        return a + b

    assert isinstance(add, TaskWrapper)
    assert add.__doc__ == "Adds." and add.__name__ == "add"
    # As in huey 3.5.4: the name is the function's; messages carry it after the module.
    assert (add.name, add.qualified_name) == ("add", f"{__name__}.add")
    r = add(1, b=2)
    assert isinstance(r, Result) and r.get() is None  # Not run yet.
    (task,) = huey.pending()
    assert (task.name, task.args, task.kwargs, task.id) == ("add", (1,), {"b": 2}, r.id)
    assert type(task).__name__ == "add" and repr(task).startswith(f"{__name__}.add: ")
    assert drain() == [3]
    assert r.get() == 3
    assert add.call_local(5) == 15


def test_task_name_option(huey: MemoryHuey) -> None:
    @huey.task(name="custom.name")
    def f() -> None:
        pass

    f()
    # As in huey 3.5.4, the name is used as given; the message carries it after the module,
    # like the function name it replaces.
    assert f.name == "custom.name" and f.s().name == "custom.name"
    (task,) = huey.pending()
    assert task.name == "custom.name" and task.qualified_name == f"{__name__}.custom.name"
    assert pickle.loads(huey.storage.enqueued_items()[0]).name == f"{__name__}.custom.name"


def test_task_option_defaults_are_those_of_each_task(huey: MemoryHuey) -> None:
    @huey.task(retries=2, retry_delay=5, priority=7, expires=60, timeout=9, retry_backoff=2)
    def f() -> None:
        pass

    @huey.task()
    def plain() -> None:
        pass

    task = f.s()
    assert (task.retries, task.retry_delay, task.priority, task.expires, task.timeout) == (
        2,
        5,
        7,
        60,
        9,
    )
    assert task.retry_backoff == 2
    p = plain.s()
    assert (p.retries, p.retry_delay, p.priority, p.expires, p.timeout) == (0, 0, None, None, None)
    assert p.retry_backoff == 0
    # Reserved keywords of s() override them and are not passed to the function.
    t = f.s(retries=1, retry_delay=2, priority=3, expires=4, timeout=5, retry_backoff=3, id="t")
    assert (t.retries, t.retry_delay, t.priority, t.expires, t.timeout, t.kwargs) == (
        1,
        2,
        3,
        4,
        5,
        {},
    )
    assert (t.retry_backoff, t.id) == (3, "t")
    # The wrapper reports the retry settings it was declared with.
    assert (f.retries, f.retry_delay, plain.retries, plain.retry_delay) == (2, 5, 0, 0)


def test_id_is_an_option_of_a_call_and_of_s(huey: MemoryHuey) -> None:
    @huey.task()
    def f(**kwargs: Any) -> Any:
        return kwargs

    assert f(id="call-id", other=1).id == "call-id"
    (task,) = huey.pending()
    assert (task.id, task.kwargs) == ("call-id", {"other": 1})
    pipe = f.s(id="p1").then(f, id="p2")
    assert (pipe.id, pipe.on_complete.id) == ("p1", "p2")  # type: ignore[union-attr]
    assert huey.execute(huey.dequeue()) == {"other": 1}


def test_s_reserved_eta_and_delay(huey: MemoryHuey, later: Any) -> None:
    @huey.task()
    def f(**kwargs: Any) -> None:
        pass

    eta = dt.datetime(2031, 1, 1)
    assert f.s(eta=eta, other=1).eta == eta
    task = f.s(delay=30)
    assert later(29) < task.eta < later(31)
    assert task.kwargs == {}


def test_schedule_options(huey: MemoryHuey, later: Any) -> None:
    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    r = add.schedule(
        args=(1,),
        kwargs={"b": 2},
        delay=dt.timedelta(seconds=30),
        priority=4,
        retries=3,
        retry_delay=6,
        expires=90,
        timeout=12,
        id="my-id",
    )
    assert r.id == "my-id"
    (task,) = huey.pending()
    assert (task.args, task.kwargs, task.priority, task.retries, task.retry_delay) == (
        (1,),
        {"b": 2},
        4,
        3,
        6,
    )
    assert (task.timeout, task.expires) == (12, 90)
    assert later(29) < task.eta < later(31)
    assert later(89) < task.expires_resolved < later(91)
    with pytest.raises(ValueError, match="eta"):
        add.schedule((1, 2))
    with pytest.raises(ValueError):
        add.schedule((1, 2), eta=dt.datetime(2031, 1, 1), delay=5)
    with pytest.raises(ValueError, match="kwargs"):
        add.schedule((1,), [2], delay=5)  # type: ignore[arg-type]


def test_schedule_shorthand_and_a_single_argument(huey: MemoryHuey, later: Any) -> None:
    """As huey 3.5.4: without eta/delay, ``args`` may be the delay or the eta."""

    @huey.task()
    def f(*args: Any) -> Any:
        return args

    huey.utc = False  # The etas below are naive local times, kept as given.
    eta = dt.datetime(2031, 1, 1)
    for r in (f.schedule(30), f.schedule(dt.timedelta(seconds=30)), f.schedule(eta)):
        assert r is not None
    by_seconds, by_timedelta, by_eta = huey.pending()
    assert by_seconds.args == by_timedelta.args == by_eta.args == ()
    assert by_eta.eta == eta
    huey.flush()
    f.schedule(7, eta=eta)  # With eta given, an argument that is not a tuple is the one argument.
    (task,) = huey.pending()
    assert (task.args, task.eta) == ((7,), eta)
    assert huey.execute(task, eta) == (7,)


def test_context_true_passes_the_task(huey: MemoryHuey, drain: Any) -> None:
    seen: list[Task] = []

    @huey.task(context=True, retries=2)
    def f(x: int, task: Task) -> int:
        seen.append(task)
        return x

    r = f(1)
    drain()
    assert isinstance(seen[0], Task) and seen[0].id == r.id and seen[0].retries == 2


def test_context_task_enters_the_context_for_each_run(huey: MemoryHuey, drain: Any) -> None:
    events: list[str] = []

    class Resource:
        def __enter__(self) -> str:
            events.append("enter")
            return "conn"

        def __exit__(self, *exc: object) -> None:
            events.append("exit")

    @huey.context_task(Resource())
    def plain(n: int) -> int:
        events.append(f"run {n}")
        return n

    @huey.context_task(Resource(), as_argument=True, retries=1, name="ctx.arg")
    def with_arg(conn: str, n: int) -> str:
        return f"{conn}:{n}"

    r1, r2 = plain(1), with_arg(2)
    assert drain() == [1, "conn:2"]
    assert events == ["enter", "run 1", "exit", "enter", "exit"]
    assert (r1.get(), r2.get()) == (1, "conn:2")
    assert with_arg.name == "ctx.arg" and with_arg.s(1).retries == 1
    assert plain.name == "plain"


def test_periodic_task(huey: MemoryHuey, drain: Any) -> None:
    runs: list[str] = []

    @huey.periodic_task(crontab(minute="0", hour="*/3"), retries=1)
    def every_three_hours() -> str:
        runs.append("ran")
        return "not stored"

    @huey.periodic_task(crontab(minute="*/5"))
    def every_five() -> None:
        pass

    assert isinstance(every_three_hours, TaskWrapper)
    at_six = huey.read_periodic(dt.datetime(2030, 1, 1, 6, 0))
    assert sorted(t.name for t in at_six) == sorted([every_three_hours.name, every_five.name])
    assert all(isinstance(t, PeriodicTask) for t in at_six)
    assert [t.name for t in huey.read_periodic(dt.datetime(2030, 1, 1, 7, 5))] == [every_five.name]
    assert huey.read_periodic(dt.datetime(2030, 1, 1, 7, 1)) == []
    task = next(t for t in at_six if t.name == every_three_hours.name)
    assert task.retries == 1
    huey.enqueue(task)
    assert drain() == ["not stored"]
    assert runs == ["ran"] and huey.result_count() == 0  # Periodic results are not stored.


def test_periodic_task_needs_a_callable(huey: MemoryHuey) -> None:
    with pytest.raises(TypeError):
        huey.periodic_task("* * * * *")  # type: ignore[arg-type]


def test_a_name_is_registered_once(huey: MemoryHuey) -> None:
    def job() -> None:
        pass

    def other() -> None:
        pass

    huey.task()(job)
    with pytest.raises(ValueError, match="already registered"):
        huey.task()(job)
    with pytest.raises(ValueError, match="already registered"):
        huey.task(name="job")(other)
    renamed = huey.task(name="job2")(job)
    assert renamed.s().qualified_name == f"{__name__}.job2"


def test_the_same_name_in_two_modules_is_two_tasks(huey: MemoryHuey, drain: Any) -> None:
    def cleanup() -> str:
        return "here"

    def elsewhere() -> str:
        return "there"

    elsewhere.__module__ = "some.other.module"
    here = huey.periodic_task(crontab(), name="cleanup")(cleanup)
    there = huey.periodic_task(crontab(), name="cleanup")(elsewhere)
    assert here.name == there.name == "cleanup"
    assert [t.name for t in huey.read_periodic(dt.datetime(2030, 1, 1))] == ["cleanup"] * 2
    there.revoke()  # A revocation names the task by module too.
    assert not here.is_revoked() and there.is_revoked()
    here()
    there()
    assert drain() == ["here", None]


def test_enqueueing_an_unregistered_task_fails(huey: MemoryHuey) -> None:
    @huey.task()
    def job() -> None:
        pass

    task = job.s()
    job.unregister()
    with pytest.raises(HueyException, match="not registered"):
        huey.enqueue(task)
    assert len(huey) == 0


def test_messages_of_unregistered_tasks_are_left_out_of_introspection(
    huey: MemoryHuey,
) -> None:
    @huey.task()
    def kept(n: int) -> int:
        return n

    @huey.task()
    def dropped(n: int) -> int:
        return n

    r1, _ = kept(1), dropped(2)
    when = dt.datetime(2031, 1, 1)
    s1 = kept.s(3, eta=when)
    huey.add_schedule(s1)
    huey.add_schedule(dropped.s(4, eta=when))
    dropped.unregister()
    assert [t.id for t in huey.pending()] == [r1.id]  # type: ignore[union-attr]
    assert [t.id for t in huey.scheduled()] == [s1.id]
    assert (huey.pending_count(), huey.scheduled_count()) == (2, 2)


def test_a_task_decorated_by_a_second_huey_belongs_to_it(huey: MemoryHuey, drain: Any) -> None:
    other = MemoryHuey("other")

    @huey.task()
    def inc(n: int) -> int:
        return n + 1

    inc2 = other.task(retries=1)(inc)
    assert inc2.func is inc.func and inc2.s(1).retries == 1
    r = inc2(2)
    assert (len(huey), len(other)) == (0, 1)
    assert drain(other) == [3] and r.get() == 3  # type: ignore[union-attr]


def test_unregister_removes_the_task_and_its_schedule(huey: MemoryHuey) -> None:
    @huey.periodic_task(crontab())
    def tick() -> None:
        pass

    tick.s()
    assert tick.unregister() is True
    assert tick.unregister() is False
    assert huey.read_periodic(dt.datetime(2030, 1, 1)) == []


def test_map_enqueues_one_call_per_item(huey: MemoryHuey, drain: Any) -> None:
    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    rg = add.map([(i, i * i) for i in range(10)])
    assert isinstance(rg, ResultGroup) and len(rg) == 10
    drain()
    assert rg.get() == [0, 2, 6, 12, 20, 30, 42, 56, 72, 90]


# -- messages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_messages_pickle_as_a_namedtuple_does(protocol: int) -> None:
    """Message's own reduction (faster) gives the bytes of the generic one huey 3.5.4 uses."""
    inner = Message("c", "callback", args=(1,))
    message = Message(
        "id",
        "name",
        dt.datetime(2030, 1, 1),
        2,
        1.5,
        3,
        (1, "a"),
        {"k": [1]},
        inner,
        None,
        5,
        None,
        4.0,
        ("chord", 2, 1, inner),
        2,
    )
    generic = io.BytesIO()
    pickler = pickle.Pickler(generic, protocol)
    pickler.dispatch_table = {Message: lambda obj: object.__reduce_ex__(obj, protocol)}
    pickler.dump(message)
    assert pickle.dumps(message, protocol) == generic.getvalue()
    assert pickle.loads(generic.getvalue()) == message


def test_task_ids_are_version_4_uuids(huey: MemoryHuey) -> None:
    @huey.task()
    def noop() -> None:
        pass

    ids = {noop.s().id for _ in range(1000)}
    assert len(ids) == 1000
    for task_id in ids:
        parsed = uuid.UUID(task_id)
        assert str(parsed) == task_id
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_serialize_task_round_trip(huey: MemoryHuey) -> None:
    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    task = add.s(1, b=2, priority=3, expires=30, timeout=4).then(add, 5).error(add, 0, 0)
    task.eta = dt.datetime(2030, 1, 1)
    data = huey.serialize_task(task)
    message = pickle.loads(data)
    assert type(message) is Message and message.name == add.qualified_name
    assert message.on_complete.args == (5,) and message.on_error.args == (0, 0)
    copy = huey.deserialize_task(data)
    assert copy == task and type(copy) is type(task)
    for attr in ("args", "kwargs", "eta", "priority", "expires", "timeout", "retries"):
        assert getattr(copy, attr) == getattr(task, attr)
    assert copy.on_complete.id == task.on_complete.id
    assert copy.on_error.args == (0, 0)


def test_custom_serializer_subclass(drain: Any) -> None:
    calls: list[str] = []

    class Counting(Serializer):
        def _serialize(self, data: Any) -> bytes:
            calls.append("dump")
            return super()._serialize(data)

    h = MemoryHuey(serializer=Counting())

    @h.task()
    def one() -> int:
        return 1

    r = one()
    drain(h)
    assert r.get() == 1 and calls == ["dump", "dump"]  # The message and the result.
