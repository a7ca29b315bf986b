"""``HueyBackend``: Django's tasks framework on huey queues.

Works with ``django.tasks`` (Django 6) and with the ``django-tasks`` backport (Django 5.2)::

    TASKS = {
        "default": {
            "BACKEND": "huey.contrib.djhuey.tasks_backend.HueyBackend",
            # Optional: the djhuey queues it may use (default: every configured queue).
            "QUEUES": ["default", "emails"],
        }
    }

A Django task's ``queue_name`` is a djhuey queue: ``"default"`` is ``settings.HUEY``, any other
name one of ``settings.HUEY_QUEUES``. ``manage.py run_huey [--queue NAME]`` runs the tasks.

Capabilities follow the queues' storages and settings, and are read when a task is validated:

- ``supports_priority``: every queue's storage honours priorities (SQLite, PriorityRedisHuey...);
  a Django priority (-100..100, higher first) becomes the huey priority;
- ``supports_defer``: ``run_after`` becomes the huey ``eta`` (not in immediate mode, where
  nothing would run a scheduled task, nor on a storage that discards writes);
- ``supports_get_result``: the queues store results (``results`` on): the task's status,
  timestamps, errors and return value are kept under the result id in huey's result store
  (which an expiring storage expires);
- ``supports_async_task``: coroutine functions run to completion in the worker.

A task runs once (no retries); an exception marks its result FAILED with the traceback.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from huey._storage_base import BaseStorage
from huey.constants import EmptyData
from huey.contrib.djhuey._runner import RECORD_MARK
from huey.storage import BlackHoleStorage
from huey.utils import normalize_time

if TYPE_CHECKING:
    from huey.api import Huey

if TYPE_CHECKING:  # Checked against Django 6's django.tasks.
    from django.tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import Task, TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json

    FRAMEWORK = "django.tasks"
else:
    try:  # Django 6
        from django.tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
        from django.tasks.backends.base import BaseTaskBackend
        from django.tasks.base import Task, TaskError
        from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
        from django.tasks.signals import task_enqueued, task_finished, task_started
        from django.utils.json import normalize_json

        FRAMEWORK = "django.tasks"
    except ImportError:  # Django 5.2 with the backport
        try:
            from django_tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
            from django_tasks.backends.base import BaseTaskBackend
            from django_tasks.base import Task, TaskError
            from django_tasks.exceptions import InvalidTaskError as InvalidTask
            from django_tasks.exceptions import TaskResultDoesNotExist
            from django_tasks.signals import task_enqueued, task_finished, task_started
            from django_tasks.utils import normalize_json

            FRAMEWORK = "django_tasks"
        except ImportError as exc:
            raise ImproperlyConfigured(
                "huey.contrib.djhuey.tasks_backend needs Django's tasks framework: Django 6 "
                "has it built in (django.tasks); on Django 5.2 install the backport: "
                "pip install django-tasks"
            ) from exc

logger = logging.getLogger("huey.contrib.djhuey.tasks")


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_native_id()}"[-64:]


class HueyBackend(BaseTaskBackend):
    """A Django task backend enqueueing onto djhuey's queues (``settings.HUEY``/``HUEY_QUEUES``)."""

    supports_async_task = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        from huey.contrib.djhuey import HUEYS
        from huey.contrib.djhuey._runner import runner_for

        super().__init__(alias, params)
        if "QUEUES" not in params:
            self.queues = set(HUEYS)
        unknown = sorted(self.queues - set(HUEYS))
        if unknown:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['QUEUES'] names {', '.join(unknown)}, not configured in "
                f"settings.HUEY_QUEUES (configured: {', '.join(HUEYS)})"
            )
        self.hueys: dict[str, Huey] = {name: HUEYS[name] for name in sorted(self.queues)}
        for huey in self.hueys.values():
            runner_for(huey)  # Registered wherever the backend exists, consumers included.

    # -- capabilities, from the queues' storages --------------------------------------------------
    @staticmethod
    def _live_storage(huey: Huey) -> BaseStorage:
        # In immediate mode with immediate_use_memory the configured storage is set aside.
        live = getattr(huey, "_live_storage", None)
        return live if isinstance(live, BaseStorage) else huey.storage

    @property
    def supports_priority(self) -> bool:  # type: ignore[override]
        return all(self._live_storage(h).supports_priority for h in self.hueys.values())

    @property
    def supports_defer(self) -> bool:  # type: ignore[override]
        return all(
            not h.immediate and not isinstance(self._live_storage(h), BlackHoleStorage)
            for h in self.hueys.values()
        )

    @property
    def supports_get_result(self) -> bool:  # type: ignore[override]
        return all(
            h.results and not isinstance(h.storage, BlackHoleStorage) for h in self.hueys.values()
        )

    # -- enqueueing -------------------------------------------------------------------------------
    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:  # type: ignore[override]
        from huey.contrib.djhuey._runner import runner_for

        self.validate_task(task)
        huey = self.hueys[task.queue_name]
        result: TaskResult[Any, Any] = TaskResult(
            task=task,
            id=str(uuid.uuid4()),
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        record = to_record(result)
        keep = self.supports_get_result
        if keep:
            huey.put_result(result.id, record)  # Readable as READY before any worker starts.
        runner = runner_for(huey)
        huey_task = runner.task_class(
            args=(record,),
            id=result.id,
            eta=normalize_time(task.run_after, None, huey.utc) if task.run_after else None,
            priority=task.priority if huey.storage.supports_priority else None,
        )
        try:
            huey.enqueue(huey_task)
        except BaseException:
            if keep:
                huey.storage.delete_data(result.id)
            raise
        task_enqueued.send(type(self), task_result=result)
        if huey.immediate and keep:
            result.refresh()  # Already run: report how it ended, as Django's immediate backend.
        return result

    # -- results ----------------------------------------------------------------------------------
    def get_result(self, result_id: str) -> TaskResult:
        if not self.supports_get_result:
            return super().get_result(result_id)  # type: ignore[no-any-return]
        for huey in self.hueys.values():
            record = read_record(huey, result_id)
            if record is not None:
                return from_record(record, result_id)
        raise TaskResultDoesNotExist(result_id)


# -- records: a TaskResult as kept in huey's result store ------------------------------------------
def to_record(result: TaskResult) -> dict[str, Any]:
    task = result.task
    return {
        "mark": RECORD_MARK,
        "task": task.module_path,
        "priority": task.priority,
        "queue_name": task.queue_name,
        "run_after": task.run_after,
        "takes_context": task.takes_context,
        "backend": result.backend,
        "args": result.args,
        "kwargs": result.kwargs,
        "status": str(result.status),
        "enqueued_at": result.enqueued_at,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "last_attempted_at": result.last_attempted_at,
        "worker_ids": list(result.worker_ids),
        "errors": [
            {"exception_class_path": e.exception_class_path, "traceback": e.traceback}
            for e in result.errors
        ],
        "return_value": getattr(result, "_return_value", None),
    }


def read_record(huey: Huey, result_id: str) -> dict[str, Any] | None:
    data = huey.storage.peek_data(result_id)
    if data is EmptyData:
        return None
    record = huey.serializer.deserialize(data)
    if not isinstance(record, dict) or record.get("mark") != RECORD_MARK:
        return None  # A plain huey result, not a Django task's.
    return record


def load_task(record: dict[str, Any]) -> Task:
    """The Django Task of a record, with the options it was enqueued with."""
    target = import_string(record["task"])
    func = target.func if isinstance(target, Task) else target
    task_class = task_backends[record["backend"]].task_class
    try:
        return task_class(  # type: ignore[no-any-return]
            priority=record["priority"],
            func=func,
            queue_name=record["queue_name"],
            backend=record["backend"],
            takes_context=record["takes_context"],
            run_after=record["run_after"],
        )
    except InvalidTask:
        # Valid when enqueued; settings have changed since. Report it as it was defined.
        if isinstance(target, Task):
            return target
        raise


def from_record(record: dict[str, Any], result_id: str) -> TaskResult:
    result: TaskResult[Any, Any] = TaskResult(
        task=load_task(record),
        id=result_id,
        status=TaskResultStatus(record["status"]),
        enqueued_at=record["enqueued_at"],
        started_at=record["started_at"],
        finished_at=record["finished_at"],
        last_attempted_at=record["last_attempted_at"],
        args=record["args"],
        kwargs=record["kwargs"],
        backend=record["backend"],
        errors=[TaskError(**error) for error in record["errors"]],
        worker_ids=list(record["worker_ids"]),
    )
    object.__setattr__(result, "_return_value", record["return_value"])
    return result


# -- the worker's side -----------------------------------------------------------------------------
def execute_record(huey: Huey, result_id: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """Run the Django task of ``record`` (called by the huey runner task in a worker).

    The record (status, timestamps, errors, return value) is written when the task starts and
    returned when it ends, for huey to store as the result of ``result_id``.
    """
    from huey.contrib.djhuey._db import close_db

    keep = huey.results
    current = (read_record(huey, result_id) if keep else None) or dict(record)
    started = timezone.now()
    current.update(
        status=str(TaskResultStatus.RUNNING),
        started_at=started,
        last_attempted_at=started,
        worker_ids=[*current.get("worker_ids", []), _worker_id()],
    )
    if keep:
        huey.put_result(result_id, current)

    task_result: TaskResult | None = None
    try:
        task_result = from_record(current, result_id)
        task_started.send(HueyBackend, task_result=task_result)
        django_task = task_result.task
        call = close_db(django_task.call, huey)
        if django_task.takes_context:
            value = call(
                TaskContext(task_result=task_result), *current["args"], **current["kwargs"]
            )
        else:
            value = call(*current["args"], **current["kwargs"])
        current["return_value"] = normalize_json(value)
    except Exception as exc:
        logger.exception("Django task %s (%s) failed", current["task"], result_id)
        current["status"] = str(TaskResultStatus.FAILED)
        current["errors"] = [
            *current.get("errors", []),
            {
                "exception_class_path": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "traceback": "".join(_format(exc)),
            },
        ]
    else:
        current["status"] = str(TaskResultStatus.SUCCESSFUL)
    current["finished_at"] = timezone.now()
    if task_result is not None:
        finished = from_record(current, result_id) if keep else task_result
        task_finished.send(HueyBackend, task_result=finished)
    return current if keep else None


def _format(exc: BaseException) -> list[str]:
    import traceback

    return traceback.format_exception(exc)
