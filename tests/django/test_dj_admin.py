"""The read-only admin page of the queues: counts and pending tasks, staff users only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import run_queued
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from orders import jobs
from orders.tasks import add, process_order
from reports.tasks import sales_report

from huey.contrib.djhuey import HUEY, get_huey
from huey.contrib.djhuey import admin as djhuey_admin
from huey.registry import Message

PAGE = "/admin/djhuey/queue/"


def _client(username: str, **flags: Any) -> Client:
    user, _ = User.objects.get_or_create(username=username, defaults=flags)
    client = Client()
    client.force_login(user)
    return client


def _counts(html: str, queue: str) -> tuple[str, str, str]:
    row = re.search(rf'<tr class="djhuey-queue" data-queue="{queue}">(.*?)</tr>', html, re.S)
    assert row, html
    cells = [
        re.search(rf'class="{kind}-count">(\d+)<', row.group(1))
        for kind in ("pending", "scheduled", "result")
    ]
    assert all(cells), row.group(1)
    return tuple(cell.group(1) for cell in cells)  # type: ignore[union-attr,return-value]


def test_the_url() -> None:
    assert reverse("admin:djhuey_queue_changelist") == PAGE


def test_staff_see_counts_and_pending_tasks() -> None:
    add(1, 2)
    run_queued()  # One stored result.
    add(40, 2)
    process_order(17)
    add.schedule((5, 5), delay=3600)
    sales_report()
    jobs.customer_total.using(queue_name="reports").enqueue("ada")
    late = add.schedule((1, 1), delay=3600)
    get_huey().add_schedule(late.task)  # As a worker does with a task not yet due.

    response = _client("staff", is_staff=True).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Huey queues" in html
    assert _counts(html, "default") == ("4", "1", "1")
    assert _counts(html, "reports") == ("2", "0", "1")  # The Django task's READY record.
    assert "SqliteHuey &#x27;shop&#x27;" in html and "shop-reports" in html
    assert "orders.tasks.process_order" in html and "(17,)" in html
    assert "(40, 2)" in html
    assert "reports.tasks.sales_report" in html
    assert "orders.jobs.customer_total (Django task)" in html and "(&#x27;ada&#x27;,)" in html


def test_staff_index_lists_the_page() -> None:
    html = _client("staff", is_staff=True).get("/admin/").content.decode()
    assert PAGE in html and "Queues" in html


@pytest.mark.parametrize("flags", [{}, {"is_staff": True, "is_active": False}])
def test_non_staff_are_sent_to_the_login(flags: dict[str, Any]) -> None:
    response = _client(f"user-{len(flags)}", **flags).get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_anonymous_are_sent_to_the_login() -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_page_is_read_only() -> None:
    client = _client("admin", is_staff=True, is_superuser=True)
    assert client.get(PAGE + "add/").status_code == 404
    assert client.get(PAGE + "1/change/").status_code == 404
    html = client.get(PAGE).content.decode()
    assert "<form" not in html.split('id="content-main"')[1]


def test_messages_of_unknown_tasks_and_unreadable_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    # The web process need not import every task module: messages are shown as they are.
    message = Message("some-id", "elsewhere.tasks.mystery", None, 0, 0, None, (1,), {"k": 2})
    HUEY.storage.enqueue(HUEY.serializer.serialize(tuple(message)), None)
    HUEY.storage.enqueue(b"not a message", None)
    html = _client("staff", is_staff=True).get(PAGE).content.decode()
    assert "elsewhere.tasks.mystery" in html and "some-id" in html
    assert "unreadable message (13 bytes)" in html


def test_more_pending_than_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(djhuey_admin, "PENDING_LIMIT", 2)
    for i in range(5):
        add(i, i)
    html = _client("staff", is_staff=True).get(PAGE).content.decode()
    assert html.count("orders.tasks.add") == 2
    assert "and 3 more (the first 2 are shown)" in html


def test_a_storage_error_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    def down() -> int:
        raise ConnectionError("server went away")

    monkeypatch.setattr(get_huey("reports"), "pending_count", down)
    response = _client("staff", is_staff=True).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "ConnectionError: server went away" in html
    assert _counts(html, "default") == ("0", "0", "0")
