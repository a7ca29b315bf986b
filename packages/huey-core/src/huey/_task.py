"""Task instances (one call of a function) and the ``TaskWrapper`` the decorators return."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import os
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from huey.exceptions import TaskTimeout
from huey.utils import normalize_time

if TYPE_CHECKING:
    from huey._result import Result, ResultGroup
    from huey.api import Huey

# Keyword arguments of ``TaskWrapper.s()`` (and of a call) taken as options instead of passed to
# the function, as in huey 3.5.4.
RESERVED_OPTIONS = (
    "id",
    "eta",
    "delay",
    "retries",
    "retry_delay",
    "retry_backoff",
    "priority",
    "expires",
    "timeout",
)


def new_task_id() -> str:
    """A random (version 4) UUID as text, like ``str(uuid.uuid4())`` in half the time: one is
    made for every task enqueued, and ``uuid.UUID`` does checks that random bytes need not."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # Version 4.
    raw[8] = raw[8] & 0x3F | 0x80  # The RFC 4122 variant.
    hex_ = raw.hex()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


class Task:
    """One invocation of a task function, as queued, scheduled and executed."""

    # The name given to the decorator, else the function's (``type(task).__name__`` too).
    name: str = "Task"
    # ``module.name``: what messages, revocations and the registry know the task by.
    qualified_name: str = "huey._task.Task"
    default_retries: int = 0
    default_retry_delay: float = 0
    default_priority: float | None = None
    default_expires: Any = None
    default_timeout: float | None = None
    default_retry_backoff: float = 0
    # The task of an ``async def`` function: ``coroutine()`` gives its body to await.
    is_async: bool = False
    # ``delivery='at-most-once'`` in the decorator: never run twice, even on an at-least-once
    # queue. None follows the queue.
    delivery: str | None = None
    # The lease of this delivery, while a worker holds it (at-least-once delivery).
    _lease_id: str | None = None
    # The values of its revocation keys read with the message (``dequeue_with_revocations``),
    # until the worker's revocation check uses them.
    _revocations: dict[str, Any] | None = None
    # When the running task's body started (``time.monotonic()``), for the "executed in" line.
    _started: float = 0.0

    def __init__(
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        id: str | None = None,
        eta: dt.datetime | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
        priority: float | None = None,
        expires: Any = None,
        timeout: float | None = None,
        on_complete: Task | None = None,
        on_error: Task | None = None,
        expires_resolved: dt.datetime | None = None,
        chord_config: tuple[Any, ...] | None = None,
        retry_backoff: float | None = None,
    ) -> None:
        self.name = type(self).name
        self.args = args if type(args) is tuple else () if args is None else tuple(args)
        self.kwargs = {} if kwargs is None else dict(kwargs)
        self.id = id or new_task_id()
        self.eta = eta
        self.retries = self.default_retries if retries is None else retries
        self.retry_delay = self.default_retry_delay if retry_delay is None else retry_delay
        self.priority = self.default_priority if priority is None else priority
        self.expires = self.default_expires if expires is None else expires
        self.expires_resolved = expires_resolved
        self.timeout = self.default_timeout if timeout is None else timeout
        self.on_complete = on_complete
        self.on_error = on_error
        self.chord_config = chord_config
        self.retry_backoff = self.default_retry_backoff if retry_backoff is None else retry_backoff
        # When the running task's timeout ends (``time.monotonic()``), set as it starts.
        self._deadline: float | None = None

    def execute(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no function to execute")

    def coroutine(self) -> Coroutine[Any, Any, Any]:
        """An async task's body as a new coroutine, held to the task's timeout by asyncio.

        For worker types that await bodies on an event loop of their own; ``execute()`` runs
        the same coroutine to completion for the others (see ``huey._coroutines``).
        """
        raise TypeError(f"{self.name} is not an async task")

    @property
    def data(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return self.args, self.kwargs

    def __repr__(self) -> str:
        parts = [f"{self.qualified_name}: {self.id}"]
        if self.eta:
            parts.append(f"@{self.eta}")
        if self.expires:
            parts.append(f"exp={self.expires}")
        if self.priority:
            parts.append(f"p={self.priority}")
        if self.retries:
            parts.append(f"{self.retries} retries")
        return " ".join(parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and (self.id, self.qualified_name) == (
            other.id,
            other.qualified_name,
        )

    def __hash__(self) -> int:
        return hash((self.id, self.qualified_name))

    # -- pipelines -----------------------------------------------------------------------------
    def then(self, task: TaskWrapper | Task, *args: Any, **kwargs: Any) -> Task:
        """Run ``task`` with this pipeline's last result; returns the head of the pipeline.

        ``task`` is a task function or a ``Task``; ``args`` and ``kwargs`` are added to its own.
        """
        tail = self._tail()
        _refuse_loop(task, tail, "on_complete")
        tail.on_complete = _as_task(task, args, kwargs)
        return self

    def error(self, task: TaskWrapper | Task, *args: Any, **kwargs: Any) -> Task:
        """Run ``task`` with the exception whenever this task (not its children) fails.

        Called again, it chains: the next handler runs when the previous handler fails.
        """
        handler = self
        while handler.on_error is not None:
            handler = handler.on_error
        _refuse_loop(task, handler, "on_error")
        handler.on_error = _as_task(task, args, kwargs)
        return self

    def _tail(self) -> Task:
        task = self
        while task.on_complete is not None:
            task = task.on_complete
        return task

    def pipeline(self) -> list[Task]:
        """This task followed by every task chained after it with ``then``."""
        tasks, task = [], self
        while task is not None:
            tasks.append(task)
            task = task.on_complete  # type: ignore[assignment]
        return tasks

    # -- cooperative timeouts ------------------------------------------------------------------
    @property
    def time_remaining(self) -> float:
        """Seconds left before ``timeout`` (never below 0); the whole timeout before the task
        starts running, infinity without one."""
        if self._deadline is not None:
            return max(0.0, self._deadline - time.monotonic())
        return float(self.timeout) if self.timeout else float("inf")

    @property
    def is_timed_out(self) -> bool:
        return self.time_remaining <= 0

    def check_timeout(self) -> None:
        if self.is_timed_out:
            # huey 3.5.4's text: it is stored in the error result, which both read.
            raise TaskTimeout(f"timeout {self.timeout}s")


class PeriodicTask(Task):
    """A task the consumer enqueues whenever ``validate_datetime(now)`` is true."""

    @staticmethod
    def validate_datetime(timestamp: dt.datetime) -> bool:
        return False


def _as_task(task: TaskWrapper | Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Task:
    """The task of a ``then()``/``error()`` call: a Task instance gets the arguments added, in
    place (so that it stays the task its caller holds), as huey 3.5.4 does."""
    if isinstance(task, TaskWrapper):
        return task.s(*args, **kwargs)
    if isinstance(task, Task):
        extend_data(task, args)
        extend_data(task, kwargs)
        return task
    raise TypeError(f"expected a task function or a Task, got {task!r}")


def _refuse_loop(task: TaskWrapper | Task, end: Task, link: str) -> None:
    """Refuse to link ``end`` to a Task instance that leads back to it through ``link``: the
    chain would never end (when walked, serialized or run)."""
    node = task if isinstance(task, Task) else None
    while node is not None:
        if node is end:
            raise ValueError(f"{task!r} is already in this chain: it would loop")
        node = getattr(node, link)


def extend_data(task: Task, value: Any) -> None:
    """Add ``value`` to ``task``'s arguments, as a pipeline passes a parent's value on.

    A tuple extends the arguments; a dict fills in the keyword arguments not already given (as
    huey 3.5.4's documentation says and does, so that either consumer makes the same call); None
    adds nothing; anything else is one more argument.
    """
    if value is None:
        return
    if isinstance(value, tuple):
        task.args = (*task.args, *value)
    elif isinstance(value, dict):
        task.kwargs = {**value, **task.kwargs}
    else:
        task.args = (*task.args, value)


class TaskWrapper:
    """What ``@huey.task()`` returns: calling it enqueues the function call."""

    def __init__(
        self,
        huey: Huey,
        func: Callable[..., Any],
        retries: int | None = None,
        retry_delay: float | None = None,
        context: bool = False,
        name: str | None = None,
        task_base: type[Task] | None = None,
        **settings: Any,
    ) -> None:
        if isinstance(func, TaskWrapper):  # Decorated again by another Huey: the same function.
            func = func.func
        self.huey = huey
        self.func: Callable[..., Any] = func
        # As in huey 3.5.4, an explicit name is used as given, and messages carry it after the
        # function's module, as they do the default name.
        self.name = name or func.__name__
        self.qualified_name = f"{func.__module__}.{self.name}"
        self.task_class = self._make_task_class(
            task_base or Task, retries, retry_delay, context, settings
        )
        functools.update_wrapper(self, func)
        huey._registry.register(self.task_class)

    def _make_task_class(
        self,
        base: type[Task],
        retries: int | None,
        retry_delay: float | None,
        context: bool,
        settings: dict[str, Any],
    ) -> type[Task]:
        func = self.func

        def call(task: Task) -> Any:
            if context:
                return func(*task.args, **task.kwargs, task=task)
            return func(*task.args, **task.kwargs)

        def coroutine(task: Task) -> Coroutine[Any, Any, Any]:
            from huey._coroutines import bounded

            return bounded(task, call(task))

        def execute_async(task: Task) -> Any:
            from huey._coroutines import run_coroutine

            return run_coroutine(task.coroutine())

        def execute(task: Task) -> Any:
            value = call(task)
            if inspect.iscoroutine(value):  # A plain function that wraps an async one.
                from huey._coroutines import bounded, run_coroutine

                return run_coroutine(bounded(task, value))
            return value

        attrs: dict[str, Any] = {
            "name": self.name,
            "qualified_name": self.qualified_name,
            "execute": execute,
            "__module__": func.__module__,
            "__doc__": func.__doc__,
        }
        if inspect.iscoroutinefunction(func):
            attrs.update(is_async=True, coroutine=coroutine, execute=execute_async)
        if retries is not None:
            attrs["default_retries"] = retries
        if retry_delay is not None:
            attrs["default_retry_delay"] = retry_delay
        for option in ("priority", "expires", "timeout", "retry_backoff"):
            if settings.get(option) is not None:
                attrs[f"default_{option}"] = settings.pop(option)
            else:
                settings.pop(option, None)
        attrs.update(settings)  # e.g. validate_datetime for periodic tasks
        return type(self.name, (base,), attrs)

    # -- enqueueing ----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Result | ResultGroup | None:
        return self.huey.enqueue(self.s(*args, **kwargs))

    def s(self, *args: Any, **kwargs: Any) -> Task:
        """A ``Task`` for this call, not enqueued; reserved keywords become task options."""
        if not kwargs:
            return self._create_task(args, kwargs)
        options = {key: kwargs.pop(key) for key in RESERVED_OPTIONS if key in kwargs}
        return self._create_task(args, kwargs, **options)

    def schedule(
        self,
        args: Any = None,
        kwargs: dict[str, Any] | None = None,
        eta: dt.datetime | None = None,
        delay: float | dt.timedelta | None = None,
        priority: float | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
        expires: Any = None,
        timeout: float | None = None,
        id: str | None = None,
        retry_backoff: float | None = None,
    ) -> Result | ResultGroup | None:
        """Enqueue a call to run at ``eta`` or after ``delay`` (one of them is required).

        As in huey 3.5.4, without either ``args`` may be the delay (seconds or a timedelta) or
        the eta (a datetime): ``task.schedule(60)`` runs ``task()`` in a minute. An ``args``
        that is not iterable is the one argument.
        """
        if eta is None and delay is None:
            if isinstance(args, dt.datetime):
                eta, args = args, None
            elif isinstance(args, (int, float, dt.timedelta)):
                delay, args = args, None
            else:
                raise ValueError("schedule() needs eta= or delay=; call the task to run it now")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise ValueError(f"schedule() takes kwargs as a dict, not {type(kwargs).__name__}")
        if args is not None and not isinstance(args, Iterable):
            args = (args,)
        task = self._create_task(
            tuple(args or ()),
            dict(kwargs or {}),
            eta=eta,
            delay=delay,
            priority=priority,
            retries=retries,
            retry_delay=retry_delay,
            expires=expires,
            timeout=timeout,
            id=id,
            retry_backoff=retry_backoff,
        )
        return self.huey.enqueue(task)

    def map(self, it: Iterable[Any]) -> ResultGroup | None:
        """Enqueue one call per item (a tuple of arguments, or a single argument)."""
        from huey._canvas import group

        calls = [item if isinstance(item, tuple) else (item,) for item in it]
        return self.huey.enqueue(group([self.s(*call) for call in calls]))

    def _create_task(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        eta: dt.datetime | None = None,
        delay: float | dt.timedelta | None = None,
        **options: Any,
    ) -> Task:
        if eta is not None or delay is not None:
            eta = normalize_time(eta, delay, self.huey.utc)
        return self.task_class(args=args, kwargs=kwargs, eta=eta, **options)

    # -- revocation ----------------------------------------------------------------------------
    def revoke(self, revoke_until: dt.datetime | None = None, revoke_once: bool = False) -> None:
        self.huey.revoke_all(self.task_class, revoke_until, revoke_once)

    def is_revoked(self, timestamp: dt.datetime | None = None, peek: bool = True) -> bool:
        """Whether calls of this task are revoked (at ``timestamp``, default now).

        ``peek=False`` is a worker's check: it uses up a ``revoke_once`` revocation and clears
        a lapsed ``revoke_until`` one.
        """
        return self.huey.is_revoked(self.task_class, timestamp, peek)

    def restore(self) -> bool:
        return self.huey.restore_all(self.task_class)

    # -- other ---------------------------------------------------------------------------------
    @property
    def retries(self) -> int:
        """The retries the task was declared with."""
        return self.task_class.default_retries

    @property
    def retry_delay(self) -> float:
        """The retry delay the task was declared with."""
        return self.task_class.default_retry_delay

    def call_local(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def unregister(self) -> bool:
        return self.huey._registry.unregister(self.task_class)

    def __repr__(self) -> str:
        return f"<TaskWrapper {self.qualified_name}>"
