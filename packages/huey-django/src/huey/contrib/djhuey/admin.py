"""A read-only admin page listing every configured queue: pending, scheduled and stored-result
counts, and the tasks waiting in each queue. Staff users only; nothing can be changed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from huey.contrib.djhuey._runner import RUNNER_TASK
from huey.contrib.djhuey.models import Queue
from huey.registry import Message

#: Pending tasks shown per queue.
PENDING_LIMIT = 100


@dataclass
class PendingTask:
    id: str | None
    name: str | None
    args: str
    kwargs: str
    eta: dt.datetime | None
    priority: float | None
    retries: int | None


@dataclass
class QueueReport:
    name: str
    huey: str
    storage: str
    immediate: bool
    pending_count: int | None = None
    scheduled_count: int | None = None
    result_count: int | None = None
    pending: list[PendingTask | str] = field(default_factory=list)
    error: str | None = None

    @property
    def more_pending(self) -> int:
        shown = len(self.pending)
        return max(0, (self.pending_count or 0) - shown)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pending_task(huey: Any, data: bytes) -> PendingTask | str:
    # Read the message itself: the web process need not have imported the task's module.
    try:
        message = Message(*huey.serializer.deserialize(data))
    except Exception as exc:
        return f"unreadable message ({len(data)} bytes): {exc}"
    name, args, kwargs = message.name, tuple(message.args or ()), dict(message.kwargs or {})
    if name == RUNNER_TASK and len(args) == 3:
        # A Django task (tasks_backend): show the task and its arguments, not the runner's.
        name = f"{args[0]} (Django task)"
        args, kwargs = tuple(args[1] or ()), dict(args[2] or {})
    eta = message.eta
    if eta is not None and eta.tzinfo is None and huey.utc:
        eta = eta.replace(tzinfo=dt.UTC)  # huey keeps naive UTC; shown in the site's zone.
    return PendingTask(
        id=message.id,
        name=name,
        args=_short(args),
        kwargs=_short(kwargs),
        eta=eta,
        priority=message.priority,
        retries=message.retries,
    )


def queue_reports(limit: int | None = None) -> list[QueueReport]:
    """What the page shows, for every configured queue (a storage error is shown, not raised)."""
    from huey.contrib.djhuey import HUEYS

    limit = PENDING_LIMIT if limit is None else limit
    reports = []
    for name, huey in HUEYS.items():
        report = QueueReport(
            name=name,
            huey=repr(huey),
            storage=type(huey.storage).__name__,
            immediate=huey.immediate,
        )
        try:
            report.pending_count = huey.pending_count()
            report.scheduled_count = huey.scheduled_count()
            report.result_count = huey.result_count()
            report.pending = [_pending_task(huey, d) for d in huey.storage.enqueued_items(limit)]
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {exc}"
        reports.append(report)
    return reports


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The queue page, in place of a change list; no add, change or delete."""

    def _is_staff(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._is_staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name="{}_{}_changelist".format(*info))]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Huey queues",
            "opts": self.opts,
            "queues": queue_reports(),
            "pending_limit": PENDING_LIMIT,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "djhuey/queues.html", context)
