"""Database connections around a task body, and tasks enqueued when a transaction commits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction

from huey._result import Result
from huey._task import TaskWrapper
from huey.utils import normalize_time

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable

    from huey.api import Huey


def _closable() -> list[Any]:
    # Never a connection inside an atomic block: that is the caller's transaction (immediate
    # mode inside a request or a TestCase).
    return [conn for conn in connections.all(initialized_only=True) if not conn.in_atomic_block]


def close_db(fn: Callable[..., Any], huey: Huey | None = None) -> Callable[..., Any]:
    """Wrap a task body: stale connections are dropped before it runs (as Django does before a
    request) and this thread's connections are closed once it finishes, so a long-running
    consumer never holds a broken or idle connection. Nothing is closed in immediate mode,
    where the body runs in the caller's thread and on its connection."""

    def immediate() -> bool:
        if huey is not None:
            return huey.immediate
        from huey.contrib.djhuey import HUEY

        return HUEY.immediate

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        if immediate():
            return fn(*args, **kwargs)
        for conn in _closable():
            conn.close_if_unusable_or_obsolete()
        try:
            return fn(*args, **kwargs)
        finally:
            for conn in _closable():
                conn.close()

    return inner


class OnCommitTaskWrapper(TaskWrapper):
    """A task whose calls are enqueued when the current transaction commits (at once outside
    a transaction, never if it rolls back). A call returns the result handle right away."""

    using: str | None = None

    def _on_commit(self, task: Any) -> Result | None:
        transaction.on_commit(functools.partial(self.huey.enqueue, task), using=self.using)
        return Result(self.huey, task) if self.huey.results else None

    def __call__(self, *args: Any, **kwargs: Any) -> Result | None:  # type: ignore[override]
        return self._on_commit(self.s(*args, **kwargs))

    def schedule(  # type: ignore[override]
        self,
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        eta: dt.datetime | None = None,
        delay: float | dt.timedelta | None = None,
        **options: Any,
    ) -> Result | None:
        if eta is None and delay is None:
            raise ValueError("schedule() needs eta= or delay=; call the task to run it now")
        # The delay counts from the call, not from the commit.
        eta = normalize_time(eta, delay, self.huey.utc)
        task = self.task_class(
            args=tuple(args or ()), kwargs=dict(kwargs or {}), eta=eta, **options
        )
        return self._on_commit(task)
