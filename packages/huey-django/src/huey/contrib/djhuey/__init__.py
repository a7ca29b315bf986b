"""huey for Django: add ``"huey.contrib.djhuey"`` to ``INSTALLED_APPS``.

The queue is configured by ``settings.HUEY`` (a dict, or a Huey instance) and, for more
queues, ``settings.HUEY_QUEUES``; see ``huey.contrib.djhuey._config`` for every key. Without
settings it is a ``huey.RedisHuey`` on localhost:6379 named after the default database, and with
``DEBUG = True`` tasks run synchronously (``immediate``) unless the dict says otherwise.

Decorators and helpers act on the default queue (``HUEY``); the decorators, ``lock_task`` and
the helpers that take no task take ``queue="name"`` for a queue of ``HUEY_QUEUES``, and the
helpers given a task act on the queue that task belongs to. ``manage.py run_huey`` runs a
consumer (``--queue NAME`` for another queue).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings

from huey import signals
from huey._locks import TaskLock
from huey._task import Task, TaskWrapper
from huey.api import Huey
from huey.contrib.djhuey._config import DEFAULT_QUEUE, Queue, load_queues
from huey.contrib.djhuey._db import OnCommitTaskWrapper, close_db
from huey.contrib.djhuey._runner import runner_for, settings_use_backend
from huey.contrib.djhuey._version import __version__

_QUEUES: dict[str, Queue] = load_queues(settings)

#: The default queue's Huey instance (``settings.HUEY``).
HUEY: Huey = _QUEUES[DEFAULT_QUEUE].huey

#: Every queue's Huey instance by name, ``"default"`` first.
HUEYS: dict[str, Huey] = {name: queue.huey for name, queue in _QUEUES.items()}

if settings_use_backend(settings):
    # Consumers must know the runner of Django tasks before any message arrives.
    for _huey in HUEYS.values():
        runner_for(_huey)


def get_huey(queue: str | None = None) -> Huey:
    """The Huey instance of ``queue`` (None: the default queue)."""
    try:
        return HUEYS[queue or DEFAULT_QUEUE]
    except KeyError:
        raise KeyError(
            f"no huey queue named {queue!r}; settings define: {', '.join(HUEYS)}"
        ) from None


def get_queue_settings(queue: str | None = None) -> Queue:
    """The configured queue: its Huey instance and the consumer options from settings."""
    get_huey(queue)
    return _QUEUES[queue or DEFAULT_QUEUE]


def _owner(task: Any) -> Huey:
    """The queue whose registry knows ``task`` (a Task, task class, TaskWrapper or Result)."""
    if isinstance(task, TaskWrapper):
        return task.huey
    huey = getattr(task, "huey", None)  # A Result handle.
    if isinstance(huey, Huey):
        return huey
    name = getattr(task, "qualified_name", None)  # What registries know tasks by.
    for candidate in HUEYS.values():
        if name is not None and name in candidate._registry:
            return candidate
    return HUEY


# -- decorators -----------------------------------------------------------------------------------
def task(*args: Any, queue: str | None = None, **kwargs: Any) -> Callable[..., TaskWrapper]:
    """``@task(retries=..., ...)``: ``Huey.task`` of the default queue (or ``queue``)."""
    return get_huey(queue).task(*args, **kwargs)


def periodic_task(
    validate_datetime: Callable[[dt.datetime], bool],
    *args: Any,
    queue: str | None = None,
    **kwargs: Any,
) -> Callable[..., TaskWrapper]:
    """``@periodic_task(crontab(...))``: ``Huey.periodic_task`` of the default queue."""
    return get_huey(queue).periodic_task(validate_datetime, *args, **kwargs)


def db_task(*args: Any, queue: str | None = None, **kwargs: Any) -> Callable[..., TaskWrapper]:
    """``task`` whose body runs between database-connection cleanups (see ``close_db``)."""
    huey = get_huey(queue)

    def decorator(fn: Callable[..., Any]) -> TaskWrapper:
        return huey.task(*args, **kwargs)(close_db(fn, huey))

    return decorator


def db_periodic_task(
    validate_datetime: Callable[[dt.datetime], bool],
    *args: Any,
    queue: str | None = None,
    **kwargs: Any,
) -> Callable[..., TaskWrapper]:
    """``periodic_task`` whose body runs between database-connection cleanups."""
    huey = get_huey(queue)

    def decorator(fn: Callable[..., Any]) -> TaskWrapper:
        return huey.periodic_task(validate_datetime, *args, **kwargs)(close_db(fn, huey))

    return decorator


def on_commit_task(
    retries: int = 0,
    retry_delay: float = 0,
    priority: float | None = None,
    context: bool = False,
    name: str | None = None,
    expires: Any = None,
    timeout: float | None = None,
    *,
    queue: str | None = None,
    using: str | None = None,
    **kwargs: Any,
) -> Callable[..., OnCommitTaskWrapper]:
    """A ``db_task`` whose calls (and ``schedule()``) are enqueued only when the surrounding
    transaction (of database ``using``) commits; a call returns its result handle at once."""
    huey = get_huey(queue)

    def decorator(fn: Callable[..., Any]) -> OnCommitTaskWrapper:
        wrapper = OnCommitTaskWrapper(
            huey,
            close_db(fn, huey),
            retries=retries,
            retry_delay=retry_delay,
            context=context,
            name=name,
            priority=priority,
            expires=expires,
            timeout=timeout,
            **kwargs,
        )
        wrapper.using = using
        return wrapper

    return decorator


def lock_task(lock_name: str, queue: str | None = None) -> TaskLock:
    """``Huey.lock_task``: a decorator or context manager allowing one run at a time."""
    return get_huey(queue).lock_task(lock_name)


# -- enqueueing, revocation and results -----------------------------------------------------------
def enqueue(task: Any) -> Any:
    """Enqueue a Task (pipeline), group or chord on the queue its task belongs to."""
    first = task
    while getattr(first, "tasks", None):  # A group or chord: its first member decides.
        first = first.tasks[0]
    return _owner(first).enqueue(task)


def revoke(task: Task, revoke_until: dt.datetime | None = None, revoke_once: bool = False) -> None:
    _owner(task).revoke(task, revoke_until, revoke_once)


def revoke_all(
    task_class: type[Task],
    revoke_until: dt.datetime | None = None,
    revoke_once: bool = False,
) -> None:
    _owner(task_class).revoke_all(task_class, revoke_until, revoke_once)


def revoke_by_id(
    id: str,
    revoke_until: dt.datetime | None = None,
    revoke_once: bool = False,
    queue: str | None = None,
) -> None:
    get_huey(queue).revoke_by_id(id, revoke_until, revoke_once)


def restore(task: Task) -> bool:
    return _owner(task).restore(task)


def restore_all(task_class: type[Task]) -> bool:
    return _owner(task_class).restore_all(task_class)


def restore_by_id(id: str, queue: str | None = None) -> bool:
    return get_huey(queue).restore_by_id(id)


def is_revoked(task: Any, timestamp: dt.datetime | None = None, peek: bool = True) -> bool:
    return _owner(task).is_revoked(task, timestamp, peek)


def result(id: str, *args: Any, queue: str | None = None, **kwargs: Any) -> Any:
    """``Huey.result(id, blocking=False, timeout=None, ...)``: a task's stored return value."""
    return get_huey(queue).result(id, *args, **kwargs)


def scheduled(limit: int | None = None, queue: str | None = None) -> list[Task]:
    return get_huey(queue).scheduled(limit)


def pending(limit: int | None = None, queue: str | None = None) -> list[Task]:
    return get_huey(queue).pending(limit)


# -- hooks and signals ----------------------------------------------------------------------------
def signal(*names: str, queue: str | None = None) -> Callable[..., Any]:
    """``@signal(SIGNAL_COMPLETE, ...)``: receive huey signals (every signal without names)."""
    return get_huey(queue).signal(*names)


def disconnect_signal(receiver: Callable[..., Any], *names: str, queue: str | None = None) -> None:
    get_huey(queue).disconnect_signal(receiver, *names)


def pre_execute(name: str | None = None, queue: str | None = None) -> Callable[..., Any]:
    return get_huey(queue).pre_execute(name)


def post_execute(name: str | None = None, queue: str | None = None) -> Callable[..., Any]:
    return get_huey(queue).post_execute(name)


def on_startup(name: str | None = None, queue: str | None = None) -> Callable[..., Any]:
    return get_huey(queue).on_startup(name)


def on_shutdown(name: str | None = None, queue: str | None = None) -> Callable[..., Any]:
    return get_huey(queue).on_shutdown(name)


__all__ = [
    "HUEY",
    "HUEYS",
    "__version__",
    "close_db",
    "db_periodic_task",
    "db_task",
    "disconnect_signal",
    "enqueue",
    "get_huey",
    "get_queue_settings",
    "is_revoked",
    "lock_task",
    "on_commit_task",
    "on_shutdown",
    "on_startup",
    "pending",
    "periodic_task",
    "post_execute",
    "pre_execute",
    "restore",
    "restore_all",
    "restore_by_id",
    "result",
    "revoke",
    "revoke_all",
    "revoke_by_id",
    "scheduled",
    "signal",
    "signals",
    "task",
]
