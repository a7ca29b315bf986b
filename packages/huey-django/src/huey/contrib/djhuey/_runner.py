"""The huey task that runs Django tasks (``django.tasks`` / ``django-tasks``) in a consumer.

It is registered on a queue only when ``settings.TASKS`` uses ``HueyBackend`` (or when such a
backend is created), so consumers of projects without Django tasks do not list it. This module
does not import the tasks framework: ``tasks_backend`` does, when a task runs.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from huey._task import Task, TaskWrapper
    from huey.api import Huey

RUNNER_NAME = "run_django_task"
#: Marks the records (Django TaskResults) that tasks_backend keeps in a queue's result store.
RECORD_MARK = "djhuey.task_result"
BACKEND_PATH = "huey.contrib.djhuey.tasks_backend."

_runners: weakref.WeakKeyDictionary[Huey, TaskWrapper] = weakref.WeakKeyDictionary()


def runner_for(huey: Huey) -> TaskWrapper:
    """The Django-task runner registered on ``huey`` (registered on first use)."""
    wrapper = _runners.get(huey)
    if wrapper is None:

        def run_django_task(record: dict[str, Any], task: Task) -> dict[str, Any] | None:
            from huey.contrib.djhuey.tasks_backend import execute_record

            return execute_record(huey, task.id, record)

        wrapper = huey.task(context=True, name=RUNNER_NAME)(run_django_task)
        _runners[huey] = wrapper
    return wrapper


def settings_use_backend(settings: Any) -> bool:
    """Whether ``settings.TASKS`` names HueyBackend (or another class of tasks_backend)."""
    tasks = getattr(settings, "TASKS", None) or {}
    try:
        backends = [str(params.get("BACKEND", "")) for params in tasks.values()]
    except AttributeError:
        return False
    return any(path.startswith(BACKEND_PATH) for path in backends)
