"""Revoking and restoring tasks: by id, by task class and by instance; Result.reschedule."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from huey import MemoryHuey
from huey.api import Result, ResultGroup, TaskWrapper
from huey.constants import EmptyData
from huey.storage import MemoryStorage


@pytest.fixture
def greet(huey: MemoryHuey) -> TaskWrapper:
    @huey.task()
    def greet(name: str) -> str:
        return f"Hello {name}"

    return greet


def test_result_revoke_skips_that_task_once(
    huey: MemoryHuey, greet: TaskWrapper, signals: Any, later: Any
) -> None:
    r = greet.schedule(delay=60, args=("Huey",))
    other = greet("other")
    r.revoke()
    assert r.is_revoked() and not other.is_revoked()
    assert huey.get(f"r:{r.id}", peek=True) == (None, True)  # As huey 3.5.4 stores it.
    signals.clear()
    assert huey.execute(huey.dequeue(), later(61)) is None  # Checked when it is due.
    assert signals.take() == ["revoked"]
    assert huey.result_count() == 0 and huey.scheduled_count() == 0
    assert not r.is_revoked()  # Revoke-once was used up by that execution.
    assert huey.execute(huey.dequeue()) == "Hello other"


def test_result_revoke_for_good_and_restore(huey: MemoryHuey, greet: TaskWrapper) -> None:
    r = greet("x")
    r.revoke(revoke_once=False)
    assert r.is_revoked() and r.is_revoked()  # Looking does not use it up.
    assert r.restore() is True and r.restore() is False
    assert not r.is_revoked()
    assert huey.execute(huey.dequeue()) == "Hello x"


def test_revoking_an_instance_for_good_outlasts_its_skipped_run(
    huey: MemoryHuey, greet: TaskWrapper, signals: Any
) -> None:
    """As huey 3.5.4: only a once-revocation is used up; the same id enqueued again is skipped."""
    r = greet("x")
    r.revoke(revoke_once=False)
    task = huey.dequeue()
    assert huey.execute(task) is None
    assert r.is_revoked() and f"r:{r.id}" in huey.all_results()
    signals.clear()
    huey.enqueue(task)
    assert huey.execute(huey.dequeue()) is None
    assert signals.take() == ["enqueued", "revoked"]
    assert r.restore() is True
    huey.enqueue(task)
    assert huey.execute(huey.dequeue()) == "Hello x"


def test_revoked_once_instance_runs_when_enqueued_again(
    huey: MemoryHuey, greet: TaskWrapper
) -> None:
    r = greet("x")
    r.revoke()  # Result.revoke() revokes once by default.
    task = huey.dequeue()
    assert huey.execute(task) is None
    assert not r.is_revoked() and f"r:{r.id}" not in huey.all_results()
    huey.enqueue(task)
    assert huey.execute(huey.dequeue()) == "Hello x"


def test_revoke_by_id(huey: MemoryHuey, greet: TaskWrapper, drain: Any) -> None:
    r = greet("x")
    huey.revoke_by_id(r.id)
    assert huey.is_revoked(r.id) and huey.is_revoked(r) and huey.is_revoked(r.task)
    assert huey.restore_by_id(r.id) is True
    assert huey.restore_by_id(r.id) is False
    huey.revoke_by_id(r.id)  # revoke_once defaults to False here: it outlasts the skipped run.
    assert drain() == [None]
    assert huey.is_revoked(r.id)


def test_revoke_and_restore_with_task_instances(huey: MemoryHuey, greet: TaskWrapper) -> None:
    task = greet.s("x")
    huey.revoke(task, revoke_once=True)
    assert huey.is_revoked(task)
    assert huey.restore(task) is True and not huey.is_revoked(task)


def test_revoke_a_whole_task(huey: MemoryHuey, greet: TaskWrapper, drain: Any) -> None:
    @huey.task()
    def other() -> str:
        return "other"

    greet.revoke()
    assert greet.is_revoked() and huey.is_revoked(greet) and huey.is_revoked(greet.task_class)
    assert huey.get(f"rt:{greet.qualified_name}", peek=True) == (None, False)
    r1 = greet("a")
    greet("b")
    other()
    assert r1.is_revoked()  # An instance reports its class's revocation.
    assert drain() == [None, None, "other"]
    assert greet.restore() is True and greet.restore() is False
    greet("c")
    assert drain() == ["Hello c"]


def test_restoring_an_instance_does_not_undo_a_class_revocation(
    huey: MemoryHuey, greet: TaskWrapper, drain: Any
) -> None:
    r = greet("x")
    greet.revoke()
    assert r.restore() is False
    assert drain() == [None]


def test_revoke_once_on_a_class(huey: MemoryHuey, greet: TaskWrapper, drain: Any) -> None:
    greet.revoke(revoke_once=True)
    greet("a")
    greet("b")
    assert drain() == [None, "Hello b"]
    assert not greet.is_revoked()


def test_instance_and_class_revoked_once(huey: MemoryHuey, greet: TaskWrapper) -> None:
    r = greet("x")
    r.revoke()
    greet.revoke(revoke_once=True)
    assert huey.execute(huey.dequeue()) is None
    # One run uses up one revocation: the instance's, checked first.
    assert greet.is_revoked()
    assert huey.get(f"r:{r.id}", peek=True) is None
    greet("y")
    assert huey.execute(huey.dequeue()) is None and not greet.is_revoked()


def test_revoke_until(huey: MemoryHuey, greet: TaskWrapper, later: Any, signals: Any) -> None:
    until = later(3600)
    greet.revoke(revoke_until=until)
    assert greet.is_revoked()
    assert greet.is_revoked(timestamp=until - dt.timedelta(seconds=1))
    assert not greet.is_revoked(timestamp=until + dt.timedelta(seconds=1))
    greet("a")
    greet("b")
    signals.clear()
    assert huey.execute(huey.dequeue(), until - dt.timedelta(seconds=1)) is None
    assert signals.take() == ["revoked"]
    assert huey.execute(huey.dequeue(), until + dt.timedelta(seconds=1)) == "Hello b"
    # The lapsed revocation is gone.
    assert huey.get(f"rt:{greet.qualified_name}", peek=True) is None


def test_revoke_until_naive_local_time(local_tz: None) -> None:
    h = MemoryHuey()

    @h.task()
    def f() -> None:
        pass

    f.revoke(revoke_until=dt.datetime(2030, 1, 1, 12, 0))  # Local time, UTC-5.
    assert h.get(f"rt:{f.qualified_name}", peek=True) == (dt.datetime(2030, 1, 1, 17, 0), False)
    assert f.is_revoked(timestamp=dt.datetime(2030, 1, 1, 16, 59))
    assert not f.is_revoked(timestamp=dt.datetime(2030, 1, 1, 17, 1))


def test_a_worker_check_with_peek_false(huey: MemoryHuey, greet: TaskWrapper) -> None:
    """``is_revoked(peek=False)`` is the worker's check: it uses up what a run uses up."""
    greet.revoke(revoke_once=True)
    assert greet.is_revoked() and greet.is_revoked(peek=True)  # Looking changes nothing.
    assert greet.is_revoked(peek=False)
    assert not greet.is_revoked()

    until = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    naive = until.replace(tzinfo=None)
    second = dt.timedelta(seconds=1)
    greet.revoke(revoke_until=until)
    assert not greet.is_revoked(timestamp=naive, peek=True)
    assert greet.is_revoked(timestamp=naive - second, peek=True)
    assert not greet.is_revoked(timestamp=naive, peek=False)  # Lapsed: cleared...
    assert not greet.is_revoked(timestamp=naive - second)  # ...for any time after.


def test_revoke_once_holds_whatever_its_until(huey: MemoryHuey, greet: TaskWrapper) -> None:
    # As huey 3.5.4: a once-revocation skips the next run even past its revoke_until.
    greet.revoke(revoke_until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), revoke_once=True)
    greet("a")
    greet("b")
    assert [huey.execute(huey.dequeue()) for _ in range(2)] == [None, "Hello b"]


def test_revocation_is_superseded(huey: MemoryHuey, greet: TaskWrapper, later: Any) -> None:
    greet.revoke()
    greet.revoke(revoke_until=later(10))
    assert not greet.is_revoked(timestamp=later(20))


def test_is_revoked_accepts_every_form(huey: MemoryHuey, greet: TaskWrapper) -> None:
    r = greet("x")
    assert not any(huey.is_revoked(x) for x in (r, r.id, r.task, greet, greet.task_class))
    r.revoke()
    assert all(huey.is_revoked(x) for x in (r, r.id, r.task))
    assert not huey.is_revoked(greet.task_class)


def test_reschedule(huey: MemoryHuey, greet: TaskWrapper, later: Any, drain: Any) -> None:
    r = greet.schedule(args=("x",), delay=3600, priority=3, expires=7200)
    new = r.reschedule(delay=10)
    assert isinstance(new, Result) and new.id != r.id
    assert r.is_revoked() and not new.is_revoked()
    old_task, new_task = huey.pending()
    assert new_task.id == new.id and new_task.args == ("x",)
    assert later(9) < new_task.eta < later(11)
    assert new_task.priority == 3 and new_task.expires == 7200
    assert huey.execute(old_task) is None  # The original is revoked.
    assert huey.execute(new_task, later(11)) == "Hello x"
    assert new.get() == "Hello x"


def test_reschedule_options(huey: MemoryHuey, greet: TaskWrapper, later: Any) -> None:
    r = huey.enqueue(greet.s("x", priority=1).then(greet).error(greet, "err"))
    assert isinstance(r, ResultGroup)
    head = next(iter(r))
    eta = dt.datetime(2031, 1, 1)
    kept = head.reschedule(eta=eta, expires=60, priority=9)
    assert isinstance(kept, ResultGroup) and len(kept) == 2
    dropped = head.reschedule(preserve_pipeline=False)
    assert isinstance(dropped, Result)
    pending = {t.id: t for t in huey.pending()}
    with_pipeline, without = pending[next(iter(kept)).id], pending[dropped.id]
    assert (with_pipeline.eta, with_pipeline.priority, with_pipeline.expires) == (eta, 9, 60)
    assert with_pipeline.on_complete is not None and with_pipeline.on_error is not None
    assert later(59) < with_pipeline.expires_resolved < later(61)
    assert without.eta is None and without.priority == 1  # Runs as soon as it is received.
    assert without.on_complete is None and without.on_error is None


class _ReadsRevocations(MemoryStorage):
    """Answers ``dequeue_with_revocations`` with the fields it is told to (as a storage that
    reads them in the same round trip would) and counts the worker's own reads."""

    def __init__(self, name: str, fields: Callable[[Any, Any], dict[str, Any]]) -> None:
        super().__init__(name)
        self.fields = fields
        self.own_reads = 0

    def dequeue_with_revocations(self) -> tuple[bytes, dict[str, Any]] | None:
        data = self.dequeue()
        return None if data is None else (data, self.fields(self, pickle.loads(data)))

    def peek_data_many(self, keys: Sequence[str]) -> list[Any]:
        self.own_reads += 1
        return super().peek_data_many(keys)


def _app(fields: Callable[[Any, Any], dict[str, Any]]) -> tuple[MemoryHuey, TaskWrapper]:
    app = MemoryHuey("reads", storage_class=_ReadsRevocations, fields=fields)

    @app.task()
    def greet(name: str) -> str:
        return f"Hello {name}"

    return app, greet


def test_revocations_read_with_the_message_spare_the_workers_read() -> None:
    def fields(storage: Any, message: Any) -> dict[str, Any]:
        keys = (f"r:{message.id}", f"rt:{message.name}")
        return {key: storage.peek_data(key) for key in keys}

    app, greet = _app(fields)
    revoked = greet("x")
    revoked.revoke()
    assert app.execute(app.dequeue()) is None
    greet("y")
    assert app.execute(app.dequeue()) == "Hello y"
    assert app.storage.own_reads == 0
    assert not revoked.is_revoked()  # The instance's revocation was used up all the same.


@pytest.mark.parametrize(
    "fields",
    [
        lambda storage, message: {"r:someone": EmptyData, "rt:other": EmptyData},
        lambda storage, message: {f"r:{message.id}": EmptyData},  # Some keys only, and stale.
    ],
    ids=["other keys", "some keys"],
)
def test_revocations_read_for_other_keys_are_not_trusted(
    fields: Callable[[Any, Any], dict[str, Any]],
) -> None:
    """A storage that read the wrong fields, or not all of them, cannot make a revoked task
    run: the worker reads the keys itself."""
    app, greet = _app(fields)
    revoked = greet("x")
    revoked.revoke()
    assert app.execute(app.dequeue()) is None
    assert app.storage.own_reads == 1
    greet.revoke()
    by_class = greet("y")
    assert app.execute(app.dequeue()) is None  # Revoked by class, not seen in what was read.
    assert app.storage.own_reads == 2 and by_class.get() is None
