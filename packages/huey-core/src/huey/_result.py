"""Handles for reading task results: ``Result``, ``ResultGroup`` and ``ChordResult``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

from huey._storage_base import FIRST_RESULT_POLL
from huey.constants import EmptyData
from huey.exceptions import ResultTimeout, TaskException
from huey.utils import Error

if TYPE_CHECKING:
    from huey._task import Task
    from huey.api import Huey


class Result:
    """The result of one enqueued task. Reads are destructive unless ``preserve=True``."""

    def __init__(self, huey: Huey, task: Task) -> None:
        self.huey = huey
        self.task = task
        self._result: Any = EmptyData

    @property
    def id(self) -> str:
        return self.task.id

    def __repr__(self) -> str:
        return f"<Result: task {self.task.id}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.get(*args, **kwargs)

    def is_ready(self) -> bool:
        """Whether the result is available. It is read into this handle (and, results being
        read once, out of the result store), so a ready result can always be read with it."""
        return self._get() is not EmptyData

    def _get(self, preserve: bool = False) -> Any:
        """The value, read into this handle once it is stored (kept in the store with
        ``preserve``); ``EmptyData`` while there is none. As huey 3.5.4 names it."""
        if self._result is EmptyData:
            self._result = self.huey._get_result(self.task.id, preserve)
        return self._result

    def get_raw_result(
        self,
        blocking: bool = False,
        timeout: float | None = None,
        backoff: float = 1.15,
        max_delay: float = 1.0,
        revoke_on_timeout: bool = False,
        preserve: bool = False,
    ) -> Any:
        """``get()`` that returns a stored failure (an ``Error``) instead of raising it."""
        value = self._get(preserve)
        if value is EmptyData and blocking:
            if self.huey.storage.wait_result(self.task.id, timeout, backoff, max_delay):
                value = self._get(preserve)
            if value is EmptyData:
                if revoke_on_timeout:
                    self.revoke()
                raise ResultTimeout(f"{self.task.name} {self.task.id} not ready in {timeout}s")
        return None if value is EmptyData else value

    def get(
        self,
        blocking: bool = False,
        timeout: float | None = None,
        backoff: float = 1.15,
        max_delay: float = 1.0,
        revoke_on_timeout: bool = False,
        preserve: bool = False,
    ) -> Any:
        value = self.get_raw_result(
            blocking, timeout, backoff, max_delay, revoke_on_timeout, preserve
        )
        if isinstance(value, Error):
            raise TaskException(value.metadata)
        return value

    def reset(self) -> None:
        """Forget the cached value, so the next ``get`` reads the store again (after a retry)."""
        self._result = EmptyData

    def revoke(self, revoke_once: bool = True) -> None:
        self.huey.revoke(self.task, revoke_once=revoke_once)

    def restore(self) -> bool:
        return self.huey.restore(self.task)

    def is_revoked(self) -> bool:
        return self.huey.is_revoked(self.task, peek=True)

    def reschedule(
        self,
        eta: dt.datetime | None = None,
        delay: float | dt.timedelta | None = None,
        expires: Any = None,
        priority: float | None = None,
        preserve_pipeline: bool = True,
    ) -> Result | ResultGroup | None:
        """Revoke this task and enqueue a copy with a new id (and a new ``eta``/``delay``)."""
        from huey.utils import normalize_time

        old = self.task
        self.revoke(revoke_once=True)
        if eta is not None or delay is not None:  # Neither: the copy runs now.
            eta = normalize_time(eta, delay, self.huey.utc)
        task = type(old)(
            args=old.args,
            kwargs=old.kwargs,
            eta=eta,
            retries=old.retries,
            retry_delay=old.retry_delay,
            priority=old.priority if priority is None else priority,
            expires=old.expires if expires is None else expires,
            timeout=old.timeout,
            on_complete=old.on_complete if preserve_pipeline else None,
            on_error=old.on_error if preserve_pipeline else None,
            retry_backoff=old.retry_backoff,
        )
        return self.huey.enqueue(task)


class ResultGroup:
    """Results of several tasks: a pipeline, a group or ``TaskWrapper.map``.

    A group member that is itself a pipeline or a chord is held as its own handle.
    """

    def __init__(self, results: Iterable[Handle]) -> None:
        self._results = list(results)

    def get(self, *args: Any, **kwargs: Any) -> list[Any]:
        return [result.get(*args, **kwargs) for result in self._results]

    __call__ = get

    def as_completed(self, backoff: float = 1.15, max_delay: float = 1.0) -> Iterator[Any]:
        """Yield values as their tasks finish, polling the pending ones in turn."""
        pending = list(self._results)
        delay = FIRST_RESULT_POLL
        while pending:
            still_pending = []
            for result in pending:
                if result.is_ready():
                    yield result.get()
                else:
                    still_pending.append(result)
            if len(still_pending) == len(pending):
                time.sleep(delay)
                delay = min(delay * backoff, max_delay)
            else:
                delay = FIRST_RESULT_POLL
            pending = still_pending

    def is_ready(self) -> bool:
        return all(result.is_ready() for result in self._results)

    def reset(self) -> None:
        for result in self._results:
            result.reset()

    def __getitem__(self, idx: int) -> Any:
        """The value at ``idx``, blocking until it is ready."""
        return self._results[idx].get(blocking=True)

    def __iter__(self) -> Iterator[Handle]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __repr__(self) -> str:
        return f"<ResultGroup: {len(self._results)} results>"


class ChordResult:
    """What enqueueing a chord returns: member results, the callback and its pipeline."""

    def __init__(
        self,
        results: ResultGroup,
        callback_result: Result,
        pipeline: ResultGroup | None = None,
    ) -> None:
        self.results = results
        self.callback = callback_result
        self.pipeline_results = pipeline

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.callback.get(*args, **kwargs)

    __call__ = get

    def is_ready(self) -> bool:
        return self.callback.is_ready()

    def reset(self) -> None:
        self.callback.reset()

    def __repr__(self) -> str:
        return f"<ChordResult: {len(self.results)} members, callback {self.callback.id}>"


# What enqueueing returns: one task's result, a pipeline's or group's results, or a chord's.
Handle: TypeAlias = "Result | ResultGroup | ChordResult"
