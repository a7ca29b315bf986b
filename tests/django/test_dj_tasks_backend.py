"""``huey.contrib.djhuey.tasks_backend.HueyBackend``: Django's tasks framework (django.tasks on
Django 6, the django-tasks backport on 5.2) on djhuey's queues, in the example project."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import django
import pytest
from conftest import run_queued
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from orders import jobs
from orders.models import Event, Order

import huey.contrib.djhuey as djhuey
from huey import BlackHoleHuey, MemoryHuey, RedisHuey, SqliteHuey
from huey.backends.redis import PriorityRedisHuey
from huey.contrib.djhuey import HUEY, get_huey
from huey.contrib.djhuey import tasks_backend as tb
from huey.contrib.djhuey.tasks_backend import (
    HueyBackend,
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
)

if tb.FRAMEWORK == "django.tasks":
    from django.tasks import task, task_backends
else:
    from django_tasks import task, task_backends  # type: ignore[no-redef]

BACKEND = "huey.contrib.djhuey.tasks_backend.HueyBackend"
#: The example project's backend (shopsite.settings), which accepts async tasks.
EXAMPLE_BACKEND = {"BACKEND": BACKEND, "OPTIONS": {"async_tasks": True}}

#: Not importable from its module path ("test_dj_tasks_backend.<lambda>").
anonymous = task()(lambda: 1)


async def _coroutine_function() -> int:
    return 1


def test_the_framework_of_this_django() -> None:
    expected = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    assert expected == tb.FRAMEWORK
    assert issubclass(HueyBackend, tb.BaseTaskBackend)


def test_the_configured_backend_and_its_flags() -> None:
    backend = task_backends["default"]
    assert isinstance(backend, HueyBackend)
    assert backend.queues == {"default", "reports"}
    assert set(backend.hueys) == {"default", "reports"}
    # SQLite: priorities, schedules and results.
    assert backend.supports_priority is True
    assert backend.supports_defer is True
    assert backend.supports_get_result is True
    assert backend.supports_async_task is True  # OPTIONS["async_tasks"]


def test_async_tasks_only_where_the_backend_accepts_them() -> None:
    tasks = {"default": EXAMPLE_BACKEND, "strict": {"BACKEND": BACKEND}}
    with override_settings(TASKS=tasks):
        assert task_backends["strict"].supports_async_task is False  # As huey 3.5.4's.
        with pytest.raises(InvalidTask, match="async"):
            task(backend="strict")(_coroutine_function)
        accepted = task(backend="default")(_coroutine_function)
        assert accepted.backend == "default"
        with pytest.raises(InvalidTask, match="async"):
            jobs.double.using(backend="strict")


def test_a_task_not_importable_from_its_path_is_refused_at_enqueue() -> None:
    with pytest.raises(InvalidTask, match="importable"):
        anonymous.enqueue()
    assert (HUEY.pending_count(), HUEY.result_count()) == (0, 0)


@pytest.fixture
def extra_queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """More djhuey queues, by name, for backends made in a test (none of them is used)."""
    extra: dict[str, Any] = {
        "redis": RedisHuey("t-redis"),
        "priority_redis": PriorityRedisHuey("t-pri"),
        "memory": MemoryHuey("t-memory"),
        "no_results": MemoryHuey("t-nores", results=False),
        "immediate": MemoryHuey("t-imm", immediate=True),
        "blackhole": BlackHoleHuey("t-bh"),
    }
    for name, huey in extra.items():
        monkeypatch.setitem(djhuey.HUEYS, name, huey)
    yield extra


@pytest.mark.parametrize(
    ("queues", "priority", "defer", "get_result"),
    [
        (["redis"], False, True, True),
        (["priority_redis"], True, True, True),
        (["memory"], True, True, True),
        (["no_results"], True, True, False),
        (["immediate"], True, False, True),
        (["blackhole"], True, False, False),  # It accepts (and drops) any priority.
        (["default", "redis"], False, True, True),
        (["default", "priority_redis"], True, True, True),
    ],
)
def test_flags_follow_the_storages(
    extra_queues: dict[str, Any], queues: list[str], priority: bool, defer: bool, get_result: bool
) -> None:
    backend = HueyBackend("t", {"QUEUES": queues})
    assert (backend.supports_priority, backend.supports_defer, backend.supports_get_result) == (
        priority,
        defer,
        get_result,
    )
    if not get_result:
        with pytest.raises(NotImplementedError):
            backend.get_result("any")


def test_flags_change_with_immediate_mode() -> None:
    backend = task_backends["default"]
    HUEY.immediate = True
    assert backend.supports_defer is False
    assert backend.supports_priority is True  # Of the configured storage, set aside meanwhile.
    HUEY.immediate = False
    assert backend.supports_defer is True


def test_unknown_queues_are_refused(extra_queues: dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured, match="nowhere"):
        HueyBackend("t", {"QUEUES": ["default", "nowhere"]})


@pytest.fixture
def limited(extra_queues: dict[str, Any]) -> Iterator[None]:
    """TASKS aliases on a queue without priorities and on an immediate queue."""
    tasks = {
        "default": {"BACKEND": BACKEND},
        "plain": {"BACKEND": BACKEND, "QUEUES": ["redis"]},
        "sync": {"BACKEND": BACKEND, "QUEUES": ["immediate"]},
    }
    with override_settings(TASKS=tasks):
        yield


def test_documented_refusals_when_a_flag_is_off(limited: None) -> None:
    on_redis = jobs.customer_total.using(backend="plain", queue_name="redis")
    assert task_backends["plain"].supports_priority is False
    with pytest.raises(InvalidTask, match="priority"):
        on_redis.using(priority=10)
    on_sync = jobs.customer_total.using(backend="sync", queue_name="immediate")
    assert task_backends["sync"].supports_defer is False
    with pytest.raises(InvalidTask, match="run_after"):
        on_sync.using(run_after=timezone.now() + dt.timedelta(hours=1))
    with pytest.raises(InvalidTask, match="Queue"):
        jobs.customer_total.using(backend="plain")  # Its queue "default" is not the alias's.


# -- enqueue, run, results -------------------------------------------------------------------------
def test_enqueue_run_and_get_result() -> None:
    Order.objects.create(customer="ada", total=120)
    Order.objects.create(customer="ada", total=30)
    result = jobs.customer_total.enqueue("ada")
    assert result.status == TaskResultStatus.READY
    assert result.backend == "default" and result.args == ["ada"]
    assert HUEY.pending_count() == 1
    (queued,) = HUEY.pending()
    # huey 3.5.4's runner and arguments, so that either implementation's consumer runs it.
    assert queued.id == result.id and queued.name == "djtasks.run"
    assert queued.args == ("orders.jobs.customer_total", ["ada"], {})

    ready = jobs.customer_total.get_result(result.id)
    assert ready.status == TaskResultStatus.READY and ready.started_at is None

    run_queued()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.is_finished and result.attempts == 1
    assert result.return_value == {"customer": "ada", "total": 150}
    assert result.enqueued_at <= result.started_at <= result.finished_at
    assert result.last_attempted_at == result.started_at
    assert result.errors == []
    assert Event.objects.get(kind="django-task").detail == "ada:150"

    again = task_backends["default"].get_result(result.id)
    assert again.task.func is jobs.customer_total.func
    assert again.return_value == result.return_value
    assert jobs.customer_total.get_result(result.id).id == result.id


def test_a_failing_task() -> None:
    result = jobs.refuse.enqueue("no thanks")
    run_queued()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    (error,) = result.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert "no thanks" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value


def test_context_and_coroutines() -> None:
    with_context = jobs.attempt_number.enqueue("x")
    coroutine = jobs.double.enqueue(21)
    run_queued()
    with_context.refresh()
    coroutine.refresh()
    assert with_context.return_value == {"label": "x", "attempt": 1, "id": with_context.id}
    assert coroutine.return_value == 42


def test_priority_becomes_the_huey_priority() -> None:
    jobs.customer_total.using(priority=50).enqueue("p")
    jobs.customer_total.using(priority=-5).enqueue("q")
    assert sorted(task.priority for task in HUEY.pending()) == [-5, 50]
    first = HUEY.dequeue()
    assert first is not None and first.priority == 50


def test_higher_priorities_run_first() -> None:
    jobs.customer_total.enqueue("zero")
    jobs.customer_total.using(priority=10).enqueue("ten")
    jobs.customer_total.using(priority=-10).enqueue("minus ten")
    taken = [HUEY.dequeue() for _ in range(3)]
    assert [t.args[1] for t in taken if t is not None] == [["ten"], ["zero"], ["minus ten"]]


def test_run_after_is_scheduled() -> None:
    when = timezone.now() + dt.timedelta(hours=1)
    result = jobs.customer_total.using(run_after=when).enqueue("later")
    (queued,) = HUEY.pending()
    assert queued.eta == when.astimezone(dt.UTC).replace(tzinfo=None)
    run_queued()  # Not due: the worker puts it on the schedule.
    assert HUEY.scheduled_count() == 1
    result.refresh()
    assert result.status == TaskResultStatus.READY
    assert result.task.run_after == when


def test_queue_name_is_a_djhuey_queue() -> None:
    Order.objects.create(customer="x", total=1)
    result = jobs.order_count.enqueue()
    assert result.task.queue_name == "reports"
    assert (HUEY.pending_count(), get_huey("reports").pending_count()) == (0, 1)
    run_queued("reports")
    result.refresh()
    assert result.return_value == 1


@pytest.mark.parametrize(
    "params", [{"ENQUEUE_ON_COMMIT": True}, {"OPTIONS": {"enqueue_on_commit": True}}]
)
def test_enqueue_on_commit(params: dict[str, Any]) -> None:
    options = {**EXAMPLE_BACKEND["OPTIONS"], **params.get("OPTIONS", {})}  # type: ignore[dict-item]
    with override_settings(TASKS={"default": {**EXAMPLE_BACKEND, **params, "OPTIONS": options}}):
        Order.objects.create(customer="c", total=3)
        with transaction.atomic():
            result = jobs.customer_total.enqueue("c")
            assert result.status == TaskResultStatus.READY and result.enqueued_at is None
            assert (HUEY.pending_count(), HUEY.result_count()) == (0, 0)
            with pytest.raises(TaskResultDoesNotExist):
                result.refresh()
        assert HUEY.pending_count() == 1
        run_queued()
        result.refresh()
        assert result.enqueued_at is not None and result.return_value == {
            "customer": "c",
            "total": 3,
        }

        with pytest.raises(ZeroDivisionError), transaction.atomic():
            dropped = jobs.customer_total.enqueue("c")
            _ = 1 / 0
        assert HUEY.pending_count() == 0  # Rolled back: never enqueued.
        with pytest.raises(TaskResultDoesNotExist):
            dropped.refresh()

        outside = jobs.customer_total.enqueue("c")  # No transaction: enqueued at once.
        assert outside.enqueued_at is not None and HUEY.pending_count() == 1


def test_without_enqueue_on_commit_a_rollback_does_not_unqueue() -> None:
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        result = jobs.customer_total.enqueue("r")
        assert result.enqueued_at is not None
        _ = 1 / 0
    assert HUEY.pending_count() == 1


def test_the_records_and_messages_of_huey_354() -> None:
    """A Django task enqueued by a huey 3.5.4 application: its message runs the task through
    huey 3.5.4's runner name and arguments, and its record is read and updated in its layout."""
    from huey.contrib.djhuey._runner import runner_for

    Order.objects.create(customer="old", total=7)
    enqueued = timezone.now().isoformat()
    message = runner_for(HUEY).s("orders.jobs.customer_total", ["old"], {})
    record = {
        "id": message.id,
        "backend": "default",
        "task_path": "orders.jobs.customer_total",
        "priority": 0,
        "queue_name": "default",
        "takes_context": False,
        "run_after": None,
        "status": "READY",
        "enqueued_at": enqueued,
        "started_at": None,
        "last_attempted_at": None,
        "finished_at": None,
        "args": ["old"],
        "kwargs": {},
        "return_value": None,
        "errors": [],
        "worker_ids": [],
    }
    HUEY.put_result(f"djt.{message.id}", record)
    HUEY.enqueue(message)
    assert jobs.customer_total.get_result(message.id).status == TaskResultStatus.READY
    run_queued()
    result = jobs.customer_total.get_result(message.id)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"customer": "old", "total": 7}
    stored = HUEY.get(f"djt.{message.id}", peek=True)
    assert set(stored) == set(record)
    assert stored["status"] == "SUCCESSFUL" and stored["enqueued_at"] == enqueued
    assert isinstance(stored["finished_at"], str)  # ISO 8601, as huey 3.5.4 writes them.

    failing = jobs.refuse.enqueue("old")
    run_queued()
    (error,) = HUEY.get(f"djt.{failing.id}", peek=True)["errors"]
    assert error[0] == "builtins.ValueError" and "old" in error[1]


def test_unknown_result_ids() -> None:
    backend = task_backends["default"]
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("no-such-id")
    plain = djhuey.enqueue(__import__("orders.tasks").tasks.add.s(1, 2))
    run_queued()
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(plain.id)  # A huey result, not a Django task's.


def test_immediate_mode_returns_the_finished_result() -> None:
    HUEY.immediate = True
    result = jobs.double.enqueue(4)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 8
    assert jobs.double.get_result(result.id).return_value == 8


def test_without_stored_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HUEY, "results", False)
    backend = task_backends["default"]
    assert backend.supports_get_result is False
    Order.objects.create(customer="n", total=5)
    result = jobs.customer_total.enqueue("n")
    assert HUEY.result_count() == 0
    run_queued()
    assert HUEY.result_count() == 0
    assert Event.objects.get(kind="django-task").detail == "n:5"
    with pytest.raises(NotImplementedError):
        result.refresh()


def test_framework_signals() -> None:
    if tb.FRAMEWORK == "django.tasks":
        from django.tasks import signals
    else:
        from django_tasks import signals  # type: ignore[no-redef]

    seen: list[tuple[str, str, str]] = []

    def receiver(name: str) -> Any:
        def receive(sender: Any, task_result: Any, **kwargs: Any) -> None:
            seen.append((name, task_result.id, str(task_result.status)))

        return receive

    receivers = {
        "enqueued": receiver("enqueued"),
        "started": receiver("started"),
        "finished": receiver("finished"),
    }
    signals.task_enqueued.connect(receivers["enqueued"])
    signals.task_started.connect(receivers["started"])
    signals.task_finished.connect(receivers["finished"])
    try:
        result = jobs.double.enqueue(1)
        run_queued()
    finally:
        signals.task_enqueued.disconnect(receivers["enqueued"])
        signals.task_started.disconnect(receivers["started"])
        signals.task_finished.disconnect(receivers["finished"])
    assert seen == [
        ("enqueued", result.id, "READY"),
        ("started", result.id, "RUNNING"),
        ("finished", result.id, "SUCCESSFUL"),
    ]


def test_runner_is_registered_on_every_queue() -> None:
    for huey in djhuey.HUEYS.values():
        assert "huey.contrib.djhuey.tasks_backend.djtasks.run" in huey._registry
    assert isinstance(HUEY, SqliteHuey)
