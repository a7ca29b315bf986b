"""The ``Huey`` object: task decorators, enqueueing, execution, results and the result store."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, ClassVar

from huey import _canvas
from huey._canvas import chord, group
from huey._crontab import crontab
from huey._locks import RateLimit, TaskLock
from huey._plugins import resolve_export
from huey._result import ChordResult, Result, ResultGroup
from huey._storage_base import BaseStorage
from huey._task import PeriodicTask, Task, TaskWrapper
from huey.constants import EmptyData
from huey.exceptions import (
    CancelExecution,
    ConfigurationError,
    MessageError,
    RateLimitExceeded,
    RetryTask,
    SerializationError,
    TaskLockedException,
    TaskTimeout,
)
from huey.registry import TaskRegistry
from huey.serializer import Serializer
from huey.signals import (
    SIGNAL_CANCELED,
    SIGNAL_COMPLETE,
    SIGNAL_ENQUEUED,
    SIGNAL_ERROR,
    SIGNAL_EXECUTING,
    SIGNAL_EXPIRED,
    SIGNAL_INTERRUPTED,
    SIGNAL_LOCKED,
    SIGNAL_RATE_LIMITED,
    SIGNAL_RETRYING,
    SIGNAL_REVOKED,
    SIGNAL_SCHEDULED,
    SIGNAL_TIMEOUT,
    Signal,
)
from huey.storage import BlackHoleStorage, FileStorage, MemoryStorage
from huey.utils import Error, normalize_expires, normalize_time
from huey.utils import now as clock_now

logger = logging.getLogger("huey")

Hook = Callable[..., Any]


class Huey:
    """A named task queue on one storage. Subclasses pick the storage (``MemoryHuey``, ...)."""

    storage_class: ClassVar[type[BaseStorage] | None] = None

    def __init__(
        self,
        name: str = "huey",
        results: bool = True,
        store_none: bool = False,
        utc: bool = True,
        immediate: bool = False,
        serializer: Serializer | None = None,
        compression: bool = False,
        use_zlib: bool = False,
        immediate_use_memory: bool = True,
        always_eager: bool | None = None,
        storage_class: type[BaseStorage] | None = None,
        **storage_kwargs: Any,
    ) -> None:
        if always_eager is not None:  # The huey 1.x spelling of immediate.
            immediate = always_eager
        self.name = name
        self.results = results
        self.store_none = store_none
        self.utc = utc
        self.immediate_use_memory = immediate_use_memory
        self.serializer = serializer or Serializer(compression=compression, use_zlib=use_zlib)
        self._storage_class = storage_class or self.storage_class
        if self._storage_class is None:
            raise ConfigurationError(
                "Huey needs a storage: use MemoryHuey, FileHuey, SqliteHuey, RedisHuey, ... "
                "or pass storage_class="
            )
        self.storage_kwargs = storage_kwargs
        self.storage = self.create_storage()
        self._immediate = False
        self._live_storage: BaseStorage | None = None
        self._registry = TaskRegistry()
        self._signal = Signal()
        self._locks: set[str] = set()
        self._pre_execute: dict[str, Hook] = {}
        self._post_execute: dict[str, Hook] = {}
        self._startup: dict[str, Hook] = {}
        self._shutdown: dict[str, Hook] = {}
        self._tasks_in_flight: set[Task] = set()
        self._in_flight_lock = threading.Lock()
        self.immediate = immediate

    def create_storage(self) -> BaseStorage:
        assert self._storage_class is not None
        return self._storage_class(self.name, **self.storage_kwargs)

    def get_storage(self, **kwargs: Any) -> BaseStorage:
        return self.create_storage()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {type(self.storage).__name__}>"

    # -- immediate mode ------------------------------------------------------------------------
    @property
    def immediate(self) -> bool:
        return self._immediate

    @immediate.setter
    def immediate(self, value: bool) -> None:
        value = bool(value)
        if value == self._immediate:
            return
        if self.immediate_use_memory:
            if value:
                self._live_storage, self.storage = self.storage, MemoryStorage(self.name)
            elif self._live_storage is not None:
                self.storage, self._live_storage = self._live_storage, None
        self._immediate = value

    # -- decorators ----------------------------------------------------------------------------
    def task(
        self,
        retries: int = 0,
        retry_delay: float = 0,
        priority: float | None = None,
        context: bool = False,
        name: str | None = None,
        expires: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Callable[[Callable[..., Any]], TaskWrapper]:
        def decorator(func: Callable[..., Any]) -> TaskWrapper:
            return TaskWrapper(
                self,
                func,
                retries=retries,
                retry_delay=retry_delay,
                context=context,
                name=name,
                priority=priority,
                expires=expires,
                timeout=timeout,
                **kwargs,
            )

        return decorator

    def periodic_task(
        self,
        validate_datetime: Callable[[dt.datetime], bool],
        retries: int = 0,
        retry_delay: float = 0,
        priority: float | None = None,
        context: bool = False,
        name: str | None = None,
        expires: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Callable[[Callable[..., Any]], TaskWrapper]:
        if not callable(validate_datetime):
            raise TypeError("periodic_task() needs a callable such as crontab(...)")
        return self.task(
            retries=retries,
            retry_delay=retry_delay,
            priority=priority,
            context=context,
            name=name,
            expires=expires,
            timeout=timeout,
            task_base=PeriodicTask,
            validate_datetime=staticmethod(validate_datetime),
            **kwargs,
        )

    def context_task(
        self, obj: Any, as_argument: bool = False, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], TaskWrapper]:
        def decorator(func: Callable[..., Any]) -> TaskWrapper:
            def inner(*args: Any, **kw: Any) -> Any:
                with obj as ctx:
                    return func(ctx, *args, **kw) if as_argument else func(*args, **kw)

            inner.__name__ = func.__name__
            inner.__qualname__ = func.__qualname__
            inner.__module__ = func.__module__
            inner.__doc__ = func.__doc__
            return self.task(**kwargs)(inner)

        return decorator

    # -- hooks and signals ---------------------------------------------------------------------
    @staticmethod
    def _hook_decorator(registry: dict[str, Hook], name: str | None) -> Callable[[Hook], Hook]:
        def decorator(fn: Hook) -> Hook:
            registry[name or fn.__name__] = fn
            return fn

        return decorator

    @staticmethod
    def _unregister_hook(registry: dict[str, Hook], name_or_fn: str | Hook) -> bool:
        if not isinstance(name_or_fn, str):
            name_or_fn = next((k for k, v in registry.items() if v is name_or_fn), "")
        return registry.pop(name_or_fn, None) is not None

    def pre_execute(self, name: str | None = None) -> Callable[[Hook], Hook]:
        return self._hook_decorator(self._pre_execute, name)

    def unregister_pre_execute(self, name_or_fn: str | Hook) -> bool:
        return self._unregister_hook(self._pre_execute, name_or_fn)

    def post_execute(self, name: str | None = None) -> Callable[[Hook], Hook]:
        return self._hook_decorator(self._post_execute, name)

    def unregister_post_execute(self, name_or_fn: str | Hook) -> bool:
        return self._unregister_hook(self._post_execute, name_or_fn)

    def on_startup(self, name: str | None = None) -> Callable[[Hook], Hook]:
        return self._hook_decorator(self._startup, name)

    def unregister_on_startup(self, name_or_fn: str | Hook) -> bool:
        return self._unregister_hook(self._startup, name_or_fn)

    def on_shutdown(self, name: str | None = None) -> Callable[[Hook], Hook]:
        return self._hook_decorator(self._shutdown, name)

    def unregister_on_shutdown(self, name_or_fn: str | Hook) -> bool:
        return self._unregister_hook(self._shutdown, name_or_fn)

    def _run_hooks(self, hooks: dict[str, Hook], kind: str, *args: Any) -> None:
        for name, hook in list(hooks.items()):
            try:
                hook(*args)
            except Exception:
                logger.exception("%s hook %r failed", kind, name)

    def run_startup_hooks(self) -> None:
        """Run the ``on_startup`` hooks; consumers call it once in each worker."""
        self._run_hooks(self._startup, "startup")

    def run_shutdown_hooks(self) -> None:
        """Run the ``on_shutdown`` hooks; consumers call it once in each worker."""
        self._run_hooks(self._shutdown, "shutdown")

    def signal(self, *signals: str) -> Callable[[Hook], Hook]:
        def decorator(fn: Hook) -> Hook:
            self._signal.connect(fn, *signals)
            return fn

        return decorator

    def disconnect_signal(self, receiver: Hook, *signals: str) -> None:
        self._signal.disconnect(receiver, *signals)

    def _emit(self, signal: str, task: Task, *args: Any, **kwargs: Any) -> None:
        self._signal.send(signal, task, *args, **kwargs)

    def notify_interrupted_tasks(self) -> None:
        with self._in_flight_lock:
            tasks, self._tasks_in_flight = self._tasks_in_flight, set()
        for task in tasks:
            self._emit(SIGNAL_INTERRUPTED, task)

    # -- serialization -------------------------------------------------------------------------
    def serialize_task(self, task: Task) -> bytes:
        message = self._registry.create_message(task)
        try:
            return self.serializer.serialize(message)
        except Exception as exc:
            raise SerializationError(f"cannot serialize task {task.name} {task.id}: {exc}") from exc

    def deserialize_task(self, data: bytes) -> Task:
        try:
            message = self.serializer.deserialize(data)
        except Exception as exc:
            raise MessageError(f"cannot deserialize message: {exc}", data) from exc
        try:
            return self._registry.create_task(message)
        except MessageError as exc:
            exc.data = data
            raise
        except Exception as exc:
            raise MessageError(f"invalid task message: {exc}", data) from exc

    def _serialize_value(self, value: Any) -> bytes:
        try:
            return self.serializer.serialize(value)
        except Exception as exc:
            raise SerializationError(f"cannot serialize value {value!r:.100}: {exc}") from exc

    # -- enqueueing ----------------------------------------------------------------------------
    def enqueue(self, task: Task | group | chord) -> Result | ResultGroup | ChordResult | None:
        if isinstance(task, chord):
            return self._enqueue_chord(task)
        if isinstance(task, group):
            results = [self.enqueue(member) for member in task.tasks]
            return ResultGroup(results) if self.results else None  # type: ignore[arg-type]
        if not isinstance(task, Task):
            raise TypeError(f"enqueue() takes a Task, group or chord, not {task!r}")
        self._enqueue_task(task)
        if not self.results:
            return None
        if task.on_complete is not None:
            return ResultGroup([Result(self, t) for t in task.pipeline()])
        return Result(self, task)

    def _enqueue_task(self, task: Task) -> None:
        if task.expires is not None and task.expires_resolved is None:
            task.expires_resolved = normalize_expires(task.expires, self._now(), self.utc)
        self.storage.check_priority(task.priority)
        data = self.serialize_task(task)  # Fails before anything is written.
        if self._immediate:
            self._emit(SIGNAL_ENQUEUED, task)
            self.execute(self.deserialize_task(data))
            return
        self.storage.enqueue(data, task.priority)
        self._emit(SIGNAL_ENQUEUED, task)

    def _enqueue_chord(self, spec: chord) -> ChordResult | None:
        chord_id = _canvas.new_chord_id()
        size = len(spec.tasks)
        member_results = []
        for index, member in enumerate(spec.tasks):
            _canvas.sync_point(member).chord_config = (chord_id, size, index, spec.callback)
            member_results.append(self.enqueue(member))
        if not self.results:
            return None
        pipeline = spec.callback.pipeline()
        return ChordResult(
            ResultGroup([_sync_result(r) for r in member_results]),
            Result(self, spec.callback),
            ResultGroup([Result(self, t) for t in pipeline]) if len(pipeline) > 1 else None,
        )

    # -- the consumer's side -------------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return clock_now(self.utc)

    def dequeue(self) -> Task | None:
        data = self.storage.dequeue()
        return None if data is None else self.deserialize_task(data)

    def add_schedule(self, task: Task) -> None:
        assert task.eta is not None
        self.storage.add_to_schedule(self.serialize_task(task), task.eta)

    def read_schedule(self, timestamp: dt.datetime | None = None) -> list[Task]:
        due = self.storage.read_schedule(timestamp or self._now())
        return [self.deserialize_task(data) for data in due]

    def read_periodic(self, timestamp: dt.datetime) -> list[Task]:
        return [
            task_class()
            for task_class in self._registry.periodic_tasks
            if task_class.validate_datetime(timestamp)
        ]

    def ready_to_run(self, task: Task, timestamp: dt.datetime | None = None) -> bool:
        return task.eta is None or task.eta <= (timestamp or self._now())

    def execute(self, task: Task, timestamp: dt.datetime | None = None) -> Any:
        """Run ``task`` as a consumer's worker does and return its value.

        A task not yet due goes to the schedule; an expired or revoked one is skipped. A
        failure is recorded, signalled, retried or passed to ``on_error``, not raised.
        """
        timestamp = timestamp or self._now()
        if not self.ready_to_run(task, timestamp):
            self.add_schedule(task)
            self._emit(SIGNAL_SCHEDULED, task)
            return None
        if task.expires_resolved is not None and task.expires_resolved < timestamp:
            self._emit(SIGNAL_EXPIRED, task)
            return None
        if self.is_revoked(task, timestamp, peek=False):
            self._emit(SIGNAL_REVOKED, task)
            return None
        with self._in_flight_lock:
            self._tasks_in_flight.add(task)
        try:
            return self._execute(task)
        finally:
            with self._in_flight_lock:
                self._tasks_in_flight.discard(task)

    def _execute(self, task: Task) -> Any:
        for name, hook in list(self._pre_execute.items()):
            try:
                hook(task)
            except CancelExecution:
                self._emit(SIGNAL_CANCELED, task)
                return None
            except Exception:
                logger.exception("pre-execute hook %r failed", name)

        task._start_time = time.monotonic()
        self._emit(SIGNAL_EXECUTING, task)
        value, exception = None, None
        try:
            value = task.execute()
        except Exception as exc:
            exception = exc
        # Outcomes are handled outside the except block: retries in immediate mode run
        # synchronously and must not chain onto this exception.
        if exception is None:
            self._handle_success(task, value)
        else:
            self._handle_failure(task, exception)

        for name, hook in list(self._post_execute.items()):
            try:
                hook(task, value, exception)
            except Exception:
                logger.exception("post-execute hook %r failed", name)
        return value

    def _handle_success(self, task: Task, value: Any) -> None:
        if self.results and not isinstance(task, PeriodicTask):
            if value is not None or self.store_none:
                self.put_result(task.id, value)
        self._emit(SIGNAL_COMPLETE, task)
        if task.on_complete is not None:
            self._enqueue_task(_pipe_into(task.on_complete, value))
        self._finish_chord_member(task, value)

    def _handle_failure(self, task: Task, exc: Exception) -> None:
        retry_eta = None
        if isinstance(exc, RetryTask):
            logger.info("task %s asked to be retried", task)
            retry_eta = normalize_time(exc.eta, exc.delay, self.utc) if exc.eta or exc.delay else None
            retry = True
            task.retries = max(task.retries - 1, 0)
        elif isinstance(exc, CancelExecution):
            self._emit(SIGNAL_CANCELED, task)
            retry = bool(task.retries) if exc.retry is None else exc.retry
            task.retries = max(task.retries - 1, 0) if retry else task.retries
        elif isinstance(exc, RateLimitExceeded):
            self._emit(SIGNAL_RATE_LIMITED, task)
            retry = exc.retry or task.retries > 0
            if exc.retry:  # The task's own retries are kept.
                if not task.retry_delay:
                    retry_eta = self._now() + dt.timedelta(seconds=exc.delay)
            elif retry:
                task.retries -= 1
            elif self.results and not isinstance(task, PeriodicTask):
                self.put_result(task.id, Error(self.build_error_result(task, exc)))
        else:
            if isinstance(exc, TaskLockedException):
                logger.warning("task %s not run: %s", task, exc)
                self._emit(SIGNAL_LOCKED, task)
            elif isinstance(exc, TaskTimeout):
                logger.error("task %s timed out", task)
                self._emit(SIGNAL_TIMEOUT, task)
            else:
                logger.error("task %s failed", task, exc_info=exc)
                self._emit(SIGNAL_ERROR, task, exc)
            retry = task.retries > 0
            if retry:
                task.retries -= 1
            if self.results and not isinstance(task, PeriodicTask):
                self.put_result(task.id, Error(self.build_error_result(task, exc)))

        if retry:
            self._retry(task, retry_eta)
            return
        if task.on_error is not None:
            self._enqueue_task(_pipe_into(task.on_error, exc, as_exception=True))
        self._finish_chord_member(task, exc)

    def _retry(self, task: Task, eta: dt.datetime | None) -> None:
        if eta is None and task.retry_delay:
            eta = self._now() + dt.timedelta(seconds=task.retry_delay)
            if task.retry_backoff:
                task.retry_delay *= task.retry_backoff
        task.eta = eta
        self._emit(SIGNAL_RETRYING, task)
        if eta is not None and not self._immediate:
            self.add_schedule(task)
        else:
            self._enqueue_task(task)

    def _finish_chord_member(self, task: Task, value: Any) -> None:
        if task.chord_config is None:
            return
        callback = _canvas.record_member(self, task, value)
        if callback is not None:
            self._enqueue_task(callback)

    def build_error_result(self, task: Task, exception: BaseException) -> dict[str, Any]:
        """The metadata stored for a failed task; override to add fields."""
        return {
            "error": repr(exception),
            "retries": task.retries,
            "traceback": "".join(traceback.format_exception(exception)),
            "task_id": task.id,
        }

    # -- revocation ----------------------------------------------------------------------------
    def _revoke_key(self, task: Task | type[Task] | str) -> str:
        if isinstance(task, str):
            return f"r:{task}"
        if isinstance(task, type):
            return f"rt:{task.name}"
        return f"r:{task.id}"

    def _set_revocation(
        self, key: str, revoke_until: dt.datetime | None, revoke_once: bool
    ) -> None:
        until = None if revoke_until is None else normalize_time(revoke_until, None, self.utc)
        self.put(key, (until, revoke_once))

    def revoke(
        self, task: Task, revoke_until: dt.datetime | None = None, revoke_once: bool = False
    ) -> None:
        self._set_revocation(self._revoke_key(task), revoke_until, revoke_once)

    def revoke_by_id(
        self, task_id: str, revoke_until: dt.datetime | None = None, revoke_once: bool = False
    ) -> None:
        self._set_revocation(self._revoke_key(task_id), revoke_until, revoke_once)

    def revoke_all(
        self,
        task_class: type[Task],
        revoke_until: dt.datetime | None = None,
        revoke_once: bool = False,
    ) -> None:
        self._set_revocation(self._revoke_key(task_class), revoke_until, revoke_once)

    def restore(self, task: Task) -> bool:
        return self.storage.delete_data(self._revoke_key(task))

    def restore_by_id(self, task_id: str) -> bool:
        return self.storage.delete_data(self._revoke_key(task_id))

    def restore_all(self, task_class: type[Task]) -> bool:
        return self.storage.delete_data(self._revoke_key(task_class))

    def _check_revocation(self, key: str, timestamp: dt.datetime, peek: bool) -> bool:
        value = self.get(key, peek=True)
        if value is None:
            return False
        until, once = value
        if until is not None and timestamp >= until:
            self.storage.delete_data(key)  # The revocation has lapsed.
            return False
        if once and not peek:
            self.storage.delete_data(key)
        return True

    def is_revoked(
        self,
        task: Task | type[Task] | Result | TaskWrapper | str,
        timestamp: dt.datetime | None = None,
        peek: bool = True,
    ) -> bool:
        if isinstance(task, Result):
            task = task.task
        elif isinstance(task, TaskWrapper):
            task = task.task_class
        timestamp = timestamp or self._now()
        if isinstance(task, Task):
            return self._check_revocation(
                self._revoke_key(type(task)), timestamp, peek
            ) or self._check_revocation(self._revoke_key(task), timestamp, peek)
        return self._check_revocation(self._revoke_key(task), timestamp, peek)

    # -- results -------------------------------------------------------------------------------
    def put_result(self, key: str, value: Any) -> None:
        self.storage.put_data(key, self._serialize_value(value), is_result=True)

    def _get_result(self, key: str, preserve: bool) -> Any:
        data = self.storage.peek_data(key) if preserve else self.storage.pop_data(key)
        return data if data is EmptyData else self.serializer.deserialize(data)

    def result(
        self,
        task_id: str,
        blocking: bool = False,
        timeout: float | None = None,
        backoff: float = 1.15,
        max_delay: float = 1.0,
        revoke_on_timeout: bool = False,
        preserve: bool = False,
    ) -> Any:
        return Result(self, Task(id=task_id)).get(
            blocking, timeout, backoff, max_delay, revoke_on_timeout, preserve
        )

    # -- locks and rate limits -----------------------------------------------------------------
    def lock_task(self, lock_name: str) -> TaskLock:
        return TaskLock(self, lock_name)

    def is_locked(self, lock_name: str) -> bool:
        return TaskLock(self, lock_name).locked()

    def flush_locks(self, *names: str) -> set[str]:
        flushed = set()
        for lock_name in self._locks.union(names):
            if TaskLock(self, lock_name).clear():
                flushed.add(lock_name)
        return flushed

    def rate_limit(self, name: str, limit: int, per: float, retry: bool = True) -> RateLimit:
        return RateLimit(self, name, limit, per, retry)

    # -- key/value store -----------------------------------------------------------------------
    def put(self, key: str, value: Any) -> None:
        self.storage.put_data(key, self._serialize_value(value))

    def get(self, key: str, peek: bool = False) -> Any:
        data = self.storage.peek_data(key) if peek else self.storage.pop_data(key)
        return None if data is EmptyData else self.serializer.deserialize(data)

    def delete(self, key: str) -> bool:
        return self.storage.delete_data(key)

    def put_if_empty(self, key: str, value: Any) -> bool:
        return self.storage.put_if_empty(key, self._serialize_value(value))

    # -- introspection -------------------------------------------------------------------------
    def pending(self, limit: int | None = None) -> list[Task]:
        return [self.deserialize_task(data) for data in self.storage.enqueued_items(limit)]

    def pending_count(self) -> int:
        return self.storage.queue_size()

    def scheduled(self, limit: int | None = None) -> list[Task]:
        return [self.deserialize_task(data) for data in self.storage.scheduled_items(limit)]

    def scheduled_count(self) -> int:
        return self.storage.schedule_size()

    def all_results(self) -> dict[str, bytes]:
        return self.storage.result_items()

    def result_count(self) -> int:
        return self.storage.result_store_size()

    def flush(self) -> None:
        self.storage.flush_all()

    def __len__(self) -> int:
        return self.pending_count()

    # -- consumer ------------------------------------------------------------------------------
    def create_consumer(self, **options: Any) -> Any:
        from huey.consumer import Consumer

        return Consumer(self, **options)


def _pipe_into(child: Task, value: Any, as_exception: bool = False) -> Task:
    """Pass a parent's outcome to a pipeline child: tuples extend args, dicts update kwargs."""
    if not as_exception and isinstance(value, tuple):
        child.args = (*value, *child.args)
    elif not as_exception and isinstance(value, dict):
        child.kwargs = {**child.kwargs, **value}
    else:
        child.args = (value, *child.args)
    return child


def _sync_result(result: Any) -> Result:
    if isinstance(result, ChordResult):
        return result.pipeline_results[-1] if result.pipeline_results else result.callback  # type: ignore[index]
    if isinstance(result, ResultGroup):
        return list(result)[-1]
    return result  # type: ignore[no-any-return]


class MemoryHuey(Huey):
    storage_class = MemoryStorage


class FileHuey(Huey):
    storage_class = FileStorage


class BlackHoleHuey(Huey):
    storage_class = BlackHoleStorage


def __getattr__(name: str) -> Any:
    return resolve_export(name, __name__)


__all__ = [
    "BlackHoleHuey",
    "ChordResult",
    "FileHuey",
    "Huey",
    "MemoryHuey",
    "PeriodicTask",
    "RateLimit",
    "Result",
    "ResultGroup",
    "Task",
    "TaskLock",
    "TaskWrapper",
    "chord",
    "crontab",
    "group",
]
