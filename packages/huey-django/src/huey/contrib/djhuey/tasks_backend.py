"""``HueyBackend``: Django's tasks framework on huey queues.

Works with ``django.tasks`` (Django 6) and with the ``django-tasks`` backport (Django 5.2)::

    TASKS = {
        "default": {
            "BACKEND": "huey.contrib.djhuey.tasks_backend.HueyBackend",
            # Optional: the djhuey queues it may use (default: every configured queue).
            "QUEUES": ["default", "emails"],
            # Optional: enqueue when the current transaction commits, not at once.
            "ENQUEUE_ON_COMMIT": True,
            # Optional: accept ``async def`` tasks.
            "OPTIONS": {"async_tasks": True},
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
  timestamps, errors and return value are kept in huey's result store under ``djt.<result
  id>`` (which an expiring storage expires);
- ``supports_async_task``: off unless ``OPTIONS["async_tasks"]`` is true (huey 3.5.4 refuses
  coroutine functions); then they run to completion in the worker.

A task's function must be importable from its module path (no lambdas): that is checked when
it is enqueued. A task runs once (no retries); an exception marks its result FAILED with the
traceback, and fails the huey task that ran it.

Messages and records are huey 3.5.4's: a Django task enqueued by either runs in the other's
consumer, and either reads the other's results.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import traceback
import uuid
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from huey._storage_base import BaseStorage
from huey.constants import EmptyData
from huey.contrib.djhuey._runner import RECORD_PREFIX
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


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_native_id()}"[-64:]


class HueyBackend(BaseTaskBackend):
    """A Django task backend enqueueing onto djhuey's queues (``settings.HUEY``/``HUEY_QUEUES``)."""

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
        # The key of the older django-tasks releases, which huey 3.5.4 reads too.
        self.enqueue_on_commit = bool(
            params.get("ENQUEUE_ON_COMMIT", self.options.get("enqueue_on_commit", False))
        )
        self.supports_async_task = bool(self.options.get("async_tasks", False))
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
        check_importable(task)
        huey = self.hueys[task.queue_name]
        args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        result_id = str(uuid.uuid4())
        record = new_record(self.alias, task, result_id, args, kwargs)
        keep = self.supports_get_result
        huey_task = runner_for(huey).task_class(
            args=(task.module_path, args, kwargs),
            id=result_id,
            eta=normalize_time(task.run_after, None, huey.utc) if task.run_after else None,
            priority=task.priority or None,
        )

        def send() -> None:
            record["enqueued_at"] = _iso(timezone.now())
            if keep:
                huey.put_result(record_key(result_id), record)  # READY before a worker starts.
            # Before the enqueue: in immediate mode the task runs (and signals) inside it.
            task_enqueued.send(type(self), task_result=from_record(record))
            try:
                huey.enqueue(huey_task)
            except BaseException:
                if keep:
                    huey.storage.delete_data(record_key(result_id))
                raise

        if self.enqueue_on_commit:
            transaction.on_commit(send)  # Runs at once outside a transaction.
        else:
            send()
        if huey.immediate and keep and record["enqueued_at"] is not None:
            # Already run: report how it ended, as Django's immediate backend does.
            record = read_record(huey, result_id) or record
        return from_record(record)

    # -- results ----------------------------------------------------------------------------------
    def get_result(self, result_id: str) -> TaskResult:
        if not self.supports_get_result:
            return super().get_result(result_id)  # type: ignore[no-any-return]
        for huey in self.hueys.values():
            record = read_record(huey, result_id)
            if record is not None:
                return from_record(record)
        raise TaskResultDoesNotExist(result_id)


def check_importable(task: Task) -> None:
    """Refuse a task whose function a worker could not import from its module path."""
    try:
        target = import_string(task.module_path)
    except ImportError:
        target = None
    func = target.func if isinstance(target, Task) else target
    if func is not task.func:
        raise InvalidTask(
            f"Task function must be importable from its module path ({task.module_path!r}): "
            "lambdas, nested functions and functions defined in a class body cannot be enqueued"
        )


# -- records: a TaskResult as kept in huey's result store (huey 3.5.4's layout) --------------------
def record_key(result_id: str) -> str:
    return f"{RECORD_PREFIX}{result_id}"


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _parse(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def new_record(
    alias: str, task: Task, result_id: str, args: list[Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The record of a task not enqueued yet (``enqueued_at`` is set when it is)."""
    return {
        "id": result_id,
        "backend": alias,
        "task_path": task.module_path,
        "priority": task.priority,
        "queue_name": task.queue_name,
        "takes_context": task.takes_context,
        "run_after": _iso(task.run_after),
        "status": TaskResultStatus.READY.value,
        "enqueued_at": None,
        "started_at": None,
        "last_attempted_at": None,
        "finished_at": None,
        "args": args,
        "kwargs": kwargs,
        "return_value": None,
        "errors": [],  # [exception class path, traceback] pairs.
        "worker_ids": [],
    }


def read_record(huey: Huey, result_id: str) -> dict[str, Any] | None:
    data = huey.storage.peek_data(record_key(result_id))
    if data is EmptyData:
        return None
    record = huey.serializer.deserialize(data)
    return record if isinstance(record, dict) and "task_path" in record else None


def load_task(record: dict[str, Any]) -> Task:
    """The Django Task of a record, with the options it was enqueued with."""
    target = import_string(record["task_path"])
    func = target.func if isinstance(target, Task) else target
    task_class = task_backends[record["backend"]].task_class
    try:
        return task_class(  # type: ignore[no-any-return]
            priority=record["priority"],
            func=func,
            queue_name=record["queue_name"],
            backend=record["backend"],
            takes_context=record["takes_context"],
            run_after=_parse(record["run_after"]),
        )
    except InvalidTask:
        # Valid when enqueued; settings have changed since. Report it as it was defined.
        if isinstance(target, Task):
            return target
        raise


def from_record(record: dict[str, Any]) -> TaskResult:
    result: TaskResult[Any, Any] = TaskResult(
        task=load_task(record),
        id=record["id"],
        status=TaskResultStatus(record["status"]),
        enqueued_at=_parse(record["enqueued_at"]),
        started_at=_parse(record["started_at"]),
        finished_at=_parse(record["finished_at"]),
        last_attempted_at=_parse(record["last_attempted_at"]),
        args=record["args"],
        kwargs=record["kwargs"],
        backend=record["backend"],
        errors=[
            TaskError(exception_class_path=path, traceback=tb) for path, tb in record["errors"]
        ],
        worker_ids=list(record["worker_ids"]),
    )
    if result.status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", record["return_value"])
    return result


# -- the worker's side -----------------------------------------------------------------------------
def _unstored_record(
    task_path: str, result_id: str, args: list[Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """A record for a task whose record is not stored (results off): from its definition."""
    target = import_string(task_path)
    if not isinstance(target, Task):
        raise ImportError(f"{task_path} is not a Django task")
    return new_record(target.backend, target, result_id, args, kwargs)


def execute(
    huey: Huey, result_id: str, task_path: str, args: list[Any], kwargs: dict[str, Any]
) -> None:
    """Run the Django task ``task_path`` (called by the huey runner task in a worker).

    The record (status, timestamps, errors, return value) is stored when the task starts and
    when it ends. An exception is recorded, then raised for huey to report.
    """
    from huey.contrib.djhuey._db import close_db

    stored = read_record(huey, result_id)
    record = stored or _unstored_record(task_path, result_id, args, kwargs)
    started = _iso(timezone.now())
    record.update(
        status=TaskResultStatus.RUNNING.value,
        started_at=started,
        last_attempted_at=started,
        worker_ids=[*record["worker_ids"], _worker_id()],
    )

    def save(status: TaskResultStatus) -> None:
        record.update(status=status.value, finished_at=_iso(timezone.now()))
        if stored is not None:
            huey.put_result(record_key(result_id), record)

    if stored is not None:
        huey.put_result(record_key(result_id), record)
    try:
        task_result = from_record(record)
    except Exception as exc:  # Moved or removed since it was enqueued.
        record["errors"].append(_error(exc))
        save(TaskResultStatus.FAILED)
        raise
    task_started.send(HueyBackend, task_result=task_result)
    django_task = task_result.task
    call = close_db(django_task.call, huey)
    try:
        if django_task.takes_context:
            value = call(TaskContext(task_result=task_result), *args, **kwargs)
        else:
            value = call(*args, **kwargs)
        record["return_value"] = normalize_json(value)
    except Exception as exc:
        record["errors"].append(_error(exc))
        save(TaskResultStatus.FAILED)
        task_finished.send(HueyBackend, task_result=from_record(record))
        raise
    save(TaskResultStatus.SUCCESSFUL)
    task_finished.send(HueyBackend, task_result=from_record(record))


def _error(exc: BaseException) -> list[str]:
    kind = type(exc)
    return [f"{kind.__module__}.{kind.__qualname__}", "".join(traceback.format_exception(exc))]
