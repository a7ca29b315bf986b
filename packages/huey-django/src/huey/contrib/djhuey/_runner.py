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

#: The runner's task name and module: huey 3.5.4's, so that either consumer runs the Django
#: tasks the other's application enqueued. Its message's arguments are (task path, args, kwargs).
RUNNER_NAME = "djtasks.run"
RUNNER_MODULE = "huey.contrib.djhuey.tasks_backend"
RUNNER_TASK = f"{RUNNER_MODULE}.{RUNNER_NAME}"
#: Where tasks_backend keeps a Django task's record (its TaskResult) in the result store: under
#: this prefix and the result id, which is the huey task's id.
RECORD_PREFIX = "djt."
BACKEND_PATH = "huey.contrib.djhuey.tasks_backend."

_runners: weakref.WeakKeyDictionary[Huey, TaskWrapper] = weakref.WeakKeyDictionary()


def runner_for(huey: Huey) -> TaskWrapper:
    """The Django-task runner registered on ``huey`` (registered on first use)."""
    wrapper = _runners.get(huey)
    if wrapper is None:

        def run(task_path: str, args: list[Any], kwargs: dict[str, Any], task: Task) -> None:
            from huey.contrib.djhuey.tasks_backend import execute

            execute(huey, task.id, task_path, args, kwargs)

        run.__module__ = RUNNER_MODULE  # Named after the module that defines it in huey 3.5.4.
        wrapper = huey.task(context=True, name=RUNNER_NAME)(run)
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
