"""The decorators and helpers of ``huey.contrib.djhuey``, in the example project's process
(SQLite huey, DEBUG off: tasks are queued and the tests run them as a worker would)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from conftest import run_queued
from django.db import connection, transaction
from orders.models import Event, Order
from orders.tasks import add, process_order, recount_inventory, send_receipt
from reports.tasks import sales_report

import huey.contrib.djhuey as djhuey
from huey import crontab
from huey.api import Huey
from huey.contrib.djhuey import HUEY, HUEYS, get_huey
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ENQUEUED


def test_the_app_and_its_huey() -> None:
    from django.apps import apps

    config = apps.get_app_config("djhuey")
    assert config.name == "huey.contrib.djhuey"
    assert isinstance(HUEY, Huey)
    assert type(HUEY).__name__ == "SqliteHuey" and HUEY.name == "shop"
    assert list(HUEYS) == ["default", "reports"]
    assert HUEYS["default"] is HUEY is get_huey() is get_huey("default")
    assert get_huey("reports").name == "shop-reports"
    with pytest.raises(KeyError, match="default, reports"):
        get_huey("nope")


def test_documented_names() -> None:
    for name in (
        "HUEY",
        "task",
        "periodic_task",
        "db_task",
        "db_periodic_task",
        "on_commit_task",
        "lock_task",
        "close_db",
        "enqueue",
        "revoke",
        "revoke_all",
        "revoke_by_id",
        "restore",
        "restore_all",
        "restore_by_id",
        "is_revoked",
        "result",
        "scheduled",
        "signal",
        "disconnect_signal",
        "pre_execute",
        "post_execute",
        "on_startup",
        "on_shutdown",
    ):
        assert name in djhuey.__all__ and hasattr(djhuey, name), name


def test_task_is_queued_and_run() -> None:
    result = add(2, 3)
    assert HUEY.pending_count() == 1
    assert run_queued() == [5]
    assert result.get() == 5
    assert (add.name, add.qualified_name) == ("add", "orders.tasks.add")


def test_tasks_are_registered_on_their_queue() -> None:
    assert "orders.tasks.process_order" in HUEY._registry
    assert "reports.tasks.sales_report" in get_huey("reports")._registry
    assert "reports.tasks.sales_report" not in HUEY._registry
    sales_report()
    assert (HUEY.pending_count(), get_huey("reports").pending_count()) == (0, 1)
    Order.objects.create(customer="a", total=250)
    assert run_queued("reports") == [250]


def test_periodic_tasks() -> None:
    periodic = {cls.qualified_name for cls in HUEY._registry.periodic_tasks}
    assert periodic == {"orders.tasks.nightly_cleanup"}

    @djhuey.periodic_task(crontab(minute="*/5"), queue="reports")
    def every_five() -> None: ...

    try:
        reports = {cls.qualified_name for cls in get_huey("reports")._registry.periodic_tasks}
        assert f"{__name__}.every_five" in reports
    finally:
        every_five.unregister()


def test_db_task_touches_the_database_and_closes_the_connection() -> None:
    order = Order.objects.create(customer="c", total=100)
    process_order(order.pk)
    seen: dict[str, Any] = {}

    def worker() -> None:
        task = HUEY.dequeue()
        seen["value"] = HUEY.execute(task)
        seen["open_after"] = connection.connection is not None

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(30)
    assert seen == {"value": "processed", "open_after": False}
    order.refresh_from_db()
    assert order.status == "processed"


def test_a_plain_task_leaves_connections_alone() -> None:
    @djhuey.task()
    def count_orders() -> int:
        return Order.objects.count()

    try:
        count_orders()
        seen: dict[str, Any] = {}

        def worker() -> None:
            seen["value"] = HUEY.execute(HUEY.dequeue())
            seen["open_after"] = connection.connection is not None
            connection.close()

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(30)
        assert seen == {"value": 0, "open_after": True}
    finally:
        count_orders.unregister()


def test_db_task_drops_a_broken_connection_before_running() -> None:
    calls: list[str] = []

    @djhuey.db_task()
    def probe() -> str:
        calls.append("ran")
        return connection.vendor

    try:
        probe()

        def worker() -> None:
            connection.ensure_connection()
            connection.errors_occurred = True
            connection.health_check_enabled = True
            original = connection.is_usable
            connection.is_usable = lambda: False  # type: ignore[method-assign]
            try:
                HUEY.execute(HUEY.dequeue())
            finally:
                connection.is_usable = original  # type: ignore[method-assign]
            calls.append("closed" if connection.connection is None else "open")

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(30)
        assert calls == ["ran", "closed"]
    finally:
        probe.unregister()


def test_db_task_in_immediate_mode_keeps_the_callers_transaction() -> None:
    HUEY.immediate = True
    with transaction.atomic():
        order = Order.objects.create(customer="i", total=1)
        assert process_order(order.pk).get() == "processed"
        assert connection.in_atomic_block and connection.connection is not None
    order.refresh_from_db()
    assert order.status == "processed"


def test_db_periodic_task_closes_connections() -> None:
    @djhuey.db_periodic_task(crontab(minute="0", hour="0"))
    def midnight() -> int:
        return Order.objects.count()

    try:
        assert midnight.task_class in HUEY._registry.periodic_tasks
        seen: dict[str, Any] = {}

        def worker() -> None:
            seen["value"] = HUEY.execute(midnight.s())
            seen["open_after"] = connection.connection is not None

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(30)
        assert seen == {"value": 0, "open_after": False}
    finally:
        midnight.unregister()


# -- on_commit_task --------------------------------------------------------------------------------
def test_on_commit_task_is_enqueued_when_the_transaction_commits() -> None:
    with transaction.atomic():
        order = Order.objects.create(customer="ada", total=300)
        handle = send_receipt(order.pk)
        assert HUEY.pending_count() == 0
    assert HUEY.pending_count() == 1
    assert [task.id for task in HUEY.pending()] == [handle.id]
    assert run_queued() == ["ada"]
    assert handle.get() == "ada"
    assert list(Event.objects.values_list("kind", "detail")) == [("receipt", "ada:300")]


def test_on_commit_task_is_dropped_when_the_transaction_rolls_back() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        order = Order.objects.create(customer="bob", total=1)
        send_receipt(order.pk)
        raise RuntimeError("roll back")
    assert HUEY.pending_count() == 0
    assert not Order.objects.exists()


def test_on_commit_task_waits_for_the_outermost_transaction() -> None:
    with transaction.atomic():
        order = Order.objects.create(customer="c", total=1)
        with transaction.atomic():
            send_receipt(order.pk)
        assert HUEY.pending_count() == 0
    assert HUEY.pending_count() == 1


def test_on_commit_task_outside_a_transaction_is_enqueued_at_once() -> None:
    order = Order.objects.create(customer="d", total=1)
    send_receipt(order.pk)
    assert HUEY.pending_count() == 1


def test_on_commit_task_schedule() -> None:
    with transaction.atomic():
        order = Order.objects.create(customer="e", total=1)
        handle = send_receipt.schedule((order.pk,), delay=60)
        assert HUEY.pending_count() == 0
    (task,) = HUEY.pending()
    assert task.id == handle.id and task.eta is not None
    assert task.eta > dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=50)


def test_on_commit_task_on_a_named_queue_and_database() -> None:
    @djhuey.on_commit_task(queue="reports", using="default", retries=2)
    def later(value: int) -> int:
        return value

    try:
        with transaction.atomic(using="default"):
            later(7)
            assert get_huey("reports").pending_count() == 0
        (task,) = get_huey("reports").pending()
        assert task.retries == 2
        assert run_queued("reports") == [7]
    finally:
        later.unregister()


# -- locks, revocation, results, signals -----------------------------------------------------------
def test_lock_task() -> None:
    lock = djhuey.lock_task("inventory")
    assert not HUEY.is_locked("inventory")
    with lock:
        assert HUEY.is_locked("inventory")
        recount_inventory()
        run_queued()  # Locked: the task fails with TaskLockedException and is not run.
        assert not Event.objects.filter(kind="inventory").exists()
    recount_inventory()
    assert run_queued() == [0]
    assert Event.objects.filter(kind="inventory").count() == 1
    assert djhuey.lock_task("x", queue="reports").huey is get_huey("reports")


def test_revoke_and_restore_helpers() -> None:
    result = add(1, 1)
    task = result.task
    djhuey.revoke(task)
    assert djhuey.is_revoked(task)
    assert djhuey.restore(task)
    assert not djhuey.is_revoked(task)

    djhuey.revoke_all(add.task_class)
    assert djhuey.is_revoked(add.task_class) and djhuey.is_revoked(add)
    assert run_queued() == [None]  # Revoked: skipped.
    assert djhuey.restore_all(add.task_class)

    djhuey.revoke_by_id("some-id")
    assert djhuey.is_revoked("some-id")
    assert djhuey.restore_by_id("some-id")

    report = sales_report()
    djhuey.revoke(report.task)  # Revoked on its own queue.
    assert get_huey("reports").is_revoked(report.task) and not HUEY.is_revoked(report.task)
    djhuey.revoke_by_id("r-id", queue="reports")
    assert get_huey("reports").is_revoked("r-id")
    assert djhuey.restore_by_id("r-id", queue="reports")


def test_enqueue_result_scheduled_and_pending_helpers() -> None:
    handle = djhuey.enqueue(add.s(3, 4))
    assert [t.id for t in djhuey.pending()] == [handle.id]
    run_queued()
    assert djhuey.result(handle.id, preserve=True) == 7
    assert djhuey.result(handle.id) == 7
    assert djhuey.result(handle.id) is None

    report = djhuey.enqueue(sales_report.s())
    assert get_huey("reports").pending_count() == 1
    assert [t.id for t in djhuey.pending(queue="reports")] == [report.id]
    run_queued("reports")
    assert djhuey.result(report.id, queue="reports") == 0

    # A scheduled task reaches the schedule once a worker sees it is not due yet.
    later = add.schedule((1, 1), delay=3600)
    run_queued()
    assert [t.id for t in djhuey.scheduled()] == [later.id]
    assert djhuey.scheduled(queue="reports") == []


def test_signals_and_hooks() -> None:
    seen: list[tuple[str, str]] = []

    @djhuey.signal(SIGNAL_ENQUEUED, SIGNAL_COMPLETE)
    def on_signal(signal: str, task: Any, *args: Any) -> None:
        seen.append((signal, task.qualified_name))

    @djhuey.signal(queue="reports")
    def on_report(signal: str, task: Any, *args: Any) -> None:
        seen.append((f"reports:{signal}", task.qualified_name))

    @djhuey.pre_execute()
    def before(task: Any) -> None:
        seen.append(("pre", task.qualified_name))

    @djhuey.post_execute()
    def after(task: Any, value: Any, exc: Any) -> None:
        seen.append(("post", task.qualified_name))

    try:
        add(1, 2)
        run_queued()
        assert seen == [
            (SIGNAL_ENQUEUED, "orders.tasks.add"),
            ("pre", "orders.tasks.add"),
            ("post", "orders.tasks.add"),
            (SIGNAL_COMPLETE, "orders.tasks.add"),
        ]
        seen.clear()
        djhuey.disconnect_signal(on_signal, SIGNAL_ENQUEUED, SIGNAL_COMPLETE)
        sales_report()
        add(1, 2)
        assert seen == [("reports:enqueued", "reports.tasks.sales_report")]
    finally:
        djhuey.disconnect_signal(on_report, queue="reports")
        HUEY.unregister_pre_execute(before)
        HUEY.unregister_post_execute(after)


def test_startup_and_shutdown_hooks_register_on_the_queue() -> None:
    @djhuey.on_startup(queue="reports")
    def hello() -> None: ...

    @djhuey.on_shutdown()
    def bye() -> None: ...

    try:
        assert get_huey("reports")._startup["hello"] is hello
        assert HUEY._shutdown["bye"] is bye
    finally:
        get_huey("reports").unregister_on_startup(hello)
        HUEY.unregister_on_shutdown(bye)


def test_the_view_enqueues_on_commit() -> None:
    from django.test import Client

    response = Client().post("/orders/", {"customer": "web", "total": "999"})
    assert response.status_code == 200
    assert HUEY.pending_count() == 2
    assert sorted(v for v in run_queued() if v) == ["processed", "web"]
    order = Order.objects.get(pk=response.json()["order"])
    assert order.status == "processed"


def test_migrations_are_complete() -> None:
    from django.core.management import call_command

    # Exits non-zero if a model of djhuey (or of the example) lacks its migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
