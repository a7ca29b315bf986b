"""The ``Huey`` object: task decorators, enqueueing, execution, results and the result store."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import importlib
import inspect
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, ClassVar, overload

from huey import _canvas, _tasklog
from huey._canvas import chord, group
from huey._crontab import crontab
from huey._delivery import (
    AT_LEAST_ONCE,
    AT_MOST_ONCE,
    DeadLetter,
    LeaseKeeper,
    check_delivery,
    check_lease_options,
    letter_identity,
)
from huey._locks import RateLimit, TaskLock
from huey._plugins import resolve_export
from huey._result import ChordResult, Handle, Result, ResultGroup
from huey._storage_base import BaseStorage
from huey._task import PeriodicTask, Task, TaskWrapper, extend_data
from huey.constants import EmptyData
from huey.exceptions import (
    CancelExecution,
    ConfigurationError,
    MessageError,
    RateLimitExceeded,
    RetryTask,
    SerializationError,
    TaskException,
    TaskLockedException,
    TaskTimeout,
)
from huey.registry import TaskRegistry
from huey.serializer import Serializer
from huey.signals import (
    SIGNAL_CANCELED,
    SIGNAL_COMPLETE,
    SIGNAL_DEAD_LETTERED,
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
from huey.utils import SKIPPED, Error, normalize_expires, normalize_time
from huey.utils import now as clock_now

logger = logging.getLogger("huey")

Hook = Callable[..., Any]


class Huey:
    """A named task queue on one storage. Subclasses pick the storage (``MemoryHuey``, ...).

    Keyword arguments that are not Huey options go to the storage, which refuses unknown ones.
    ``store_intermediate_errors=False`` stores a failure only once no retry is left (huey 3.5.4
    accepts it too); ``always_eager`` is the old spelling of ``immediate``.

    ``delivery='at-least-once'`` leases each message instead of taking it off the queue and
    acknowledges it once the task's outcome is recorded: a task whose worker dies is delivered
    again after ``visibility_timeout`` seconds, up to ``max_deliveries`` times, then dead-lettered
    (see ``huey._delivery``). It needs a storage with ``supports_leases``.
    """

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
        store_intermediate_errors: bool = True,
        delivery: str = AT_MOST_ONCE,
        visibility_timeout: float = 30,
        max_deliveries: int = 5,
        **storage_kwargs: Any,
    ) -> None:
        if always_eager is not None:
            immediate = always_eager
        self.delivery = check_delivery(delivery)
        self.visibility_timeout, self.max_deliveries = check_lease_options(
            visibility_timeout, max_deliveries
        )
        self.name = name
        self.results = results
        self.store_none = store_none
        self.utc = utc
        self.immediate_use_memory = immediate_use_memory
        self.store_intermediate_errors = store_intermediate_errors
        self.serializer = serializer or Serializer(compression=compression, use_zlib=use_zlib)
        self._storage_class = storage_class or self.storage_class
        self.storage_kwargs = storage_kwargs
        try:
            self.storage = self.create_storage()
        except TypeError as exc:  # Most often an unknown keyword argument: say where it went.
            if isinstance(exc, ConfigurationError):  # Already says what to change.
                raise
            raise TypeError(f"{type(self).__name__}(): {exc}") from exc
        if self.delivery == AT_LEAST_ONCE and not self.storage.supports_leases:
            raise ConfigurationError(
                f"delivery={AT_LEAST_ONCE!r} needs a storage that supports leases; "
                f"{type(self.storage).__name__} does not (supports_leases is False)"
            )
        self._lease_keeper = LeaseKeeper(self)
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
        return self.get_storage(**self.storage_kwargs)

    def get_storage(self, **storage_kwargs: Any) -> BaseStorage:
        """The storage of this instance, made with the keyword arguments Huey does not take.

        A subclass may override it to make its storage another way, as in huey 3.5.4.
        """
        if self._storage_class is None:
            raise ConfigurationError(
                "Huey needs a storage: use MemoryHuey, FileHuey, SqliteHuey, RedisHuey, ... "
                "or pass storage_class="
            )
        return self._storage_class(self.name, **storage_kwargs)

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
            # A fresh memory storage each time, so that tests never write to a live backend;
            # the configured storage comes back when immediate mode is switched off.
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
        delivery: str | None = None,
        **kwargs: Any,
    ) -> Callable[[Callable[..., Any]], TaskWrapper]:
        if delivery is not None:
            kwargs["delivery"] = self._check_task_delivery(delivery)

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

    def _check_task_delivery(self, delivery: str) -> str:
        delivery = check_delivery(delivery)
        if delivery == AT_LEAST_ONCE and self.delivery != AT_LEAST_ONCE:
            # Messages are taken off the queue before their task is known: opting one task in
            # would mean leasing every message. The queue decides; a task may only opt out.
            raise ConfigurationError(
                f"a task cannot opt in to {AT_LEAST_ONCE!r} delivery on an {self.delivery!r} "
                f"queue: pass delivery={AT_LEAST_ONCE!r} to the Huey instead"
            )
        return delivery

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

            async def ainner(*args: Any, **kw: Any) -> Any:  # The context spans the awaiting.
                with obj as ctx:
                    return await (func(ctx, *args, **kw) if as_argument else func(*args, **kw))

            if inspect.iscoroutinefunction(func):
                inner = ainner
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

    def _emit(self, signal: str, task: Task | None, *args: Any) -> None:
        self._signal.send(signal, task, *args)

    def notify_interrupted_tasks(self) -> None:
        with self._in_flight_lock:
            tasks, self._tasks_in_flight = self._tasks_in_flight, set()
        for task in tasks:
            self._abandon(task)
            self._emit(SIGNAL_INTERRUPTED, task)

    # -- serialization -------------------------------------------------------------------------
    def serialize_task(self, task: Task) -> bytes:
        message = self._registry.create_message(task)
        try:
            return self.serializer.serialize(message)
        except Exception as exc:
            raise SerializationError(f"cannot serialize task {task.name} {task.id}: {exc}") from exc

    def deserialize_task(self, data: bytes) -> Task:
        """The task of a queued message; ``MessageError`` (with ``.data``) for anything else."""
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
    @overload
    def enqueue(self, task: Task) -> Result | ResultGroup | None: ...
    @overload
    def enqueue(self, task: chord) -> ChordResult | None: ...
    @overload
    def enqueue(self, task: group) -> ResultGroup | None: ...
    def enqueue(self, task: Task | group | chord) -> Handle | None:
        """Enqueue a task (or pipeline), group or chord; returns its result handle.

        Every message is serialized before any is written: an argument that cannot be
        serialized raises ``SerializationError`` and nothing is enqueued.
        """
        plan: list[tuple[Task, bytes]] = []
        handle = self._plan(task, plan)
        if self._immediate or len(plan) == 1:
            for item, data in plan:
                self._write(item, data)
        else:  # A group, map or chord: one batch, one round trip where the storage can.
            self.storage.enqueue_many([(data, item.priority) for item, data in plan])
            for item, _ in plan:
                self._emit(SIGNAL_ENQUEUED, item)
        return handle if self.results else None

    def _plan(self, item: Task | group | chord, plan: list[tuple[Task, bytes]]) -> Handle:
        if isinstance(item, chord):
            return self._plan_chord(item, plan)
        if isinstance(item, group):
            return ResultGroup([self._plan(member, plan) for member in item.tasks])
        if not isinstance(item, Task):
            raise TypeError(f"enqueue() takes a Task, group or chord, not {item!r}")
        plan.append((item, self._prepare(item)))
        if item.on_complete is not None:
            return ResultGroup([Result(self, t) for t in item.pipeline()])
        return Result(self, item)

    def _plan_chord(self, spec: chord, plan: list[tuple[Task, bytes]]) -> ChordResult:
        chord_id = _canvas.new_chord_id()
        size = len(spec.tasks)
        for index, member in enumerate(spec.tasks):
            _canvas.sync_point(member).chord_config = (chord_id, size, index, spec.callback)
        members = [_sync_result(self._plan(member, plan)) for member in spec.tasks]
        if not spec.tasks:  # Nothing will complete it: the callback runs now, with [].
            self._plan(_canvas.callback_without_members(spec), plan)
        callback, *chained = spec.callback.pipeline()
        handle = Result(self, callback)  # One handle: a value read through either is cached.
        pipeline = ResultGroup([handle, *(Result(self, t) for t in chained)]) if chained else None
        return ChordResult(ResultGroup(members), handle, pipeline)

    def _prepare(self, task: Task, check_priority: bool = True) -> bytes:
        """Resolve the expiry, check the priority and serialize: everything that can fail.

        A relative expiry counts from each enqueue, a retry's included (as in huey 3.5.4).
        """
        if task.expires is not None:
            task.expires_resolved = normalize_expires(task.expires, self._now(), self.utc)
        if check_priority:
            self.storage.check_priority(task.priority)
        return self.serialize_task(task)

    def _write(self, task: Task, data: bytes) -> None:
        if self._immediate:
            self._emit(SIGNAL_ENQUEUED, task)
            # The round trip through the serializer is the one a consumer would make.
            self.execute(self.deserialize_task(data))
            return
        self.storage.enqueue(data, task.priority)
        self._emit(SIGNAL_ENQUEUED, task)

    def _enqueue_task(self, task: Task) -> None:
        """Enqueue from the worker's side (retries, pipeline steps, chord callbacks).

        The priority is not checked here: a task that already ran was accepted once, and a
        message written by huey 3.5.4's RedisHuey carries a priority that storage ignores.
        """
        self._write(task, self._prepare(task, check_priority=False))

    # -- the consumer's side -------------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return clock_now(self.utc)

    def dequeue(self) -> Task | None:
        """The next queued task, None when the queue is empty.

        A message that cannot become a task is dead-lettered, then raised as ``MessageError``.
        With at-least-once delivery the task is leased: ``execute()`` acknowledges it once its
        outcome is recorded, and until then this process keeps the lease alive.
        """
        if self.delivery == AT_MOST_ONCE:
            popped = self.storage.dequeue_with_revocations()
            if popped is None:
                return None
            data, revocations = popped
            return self._read_message(data, revocations=revocations)
        while True:
            lease = self.storage.lease(self.visibility_timeout)
            if lease is None:
                return None
            if lease.deliveries <= self.max_deliveries:
                break
            times = lease.deliveries - 1
            self._bury(
                lease.data,
                f"delivered {times} times without an outcome "
                f"(max_deliveries={self.max_deliveries})",
                times,
                lease.id,
            )
        task = self._read_message(lease.data, lease.deliveries, lease.id, lease.revocations)
        if task.delivery == AT_MOST_ONCE:  # Opted out: gone from the queue before it runs.
            self._ack(lease.id, task)
        else:
            task._lease_id = lease.id
            self._lease_keeper.hold(lease.id, task)
        return task

    def _read_message(
        self,
        data: bytes,
        deliveries: int = 1,
        lease_id: str | None = None,
        revocations: dict[str, Any] | None = None,
    ) -> Task:
        """The task of ``data``, with the ``revocations`` its storage read along with it."""
        try:
            task = self.deserialize_task(data)
        except MessageError as exc:
            self._bury(data, str(exc), deliveries, lease_id)
            raise
        if revocations:
            task._revocations = revocations
        return task

    def _ack(self, lease_id: str, task: Task) -> None:
        self._lease_keeper.release(lease_id)
        try:
            acked = self.storage.ack(lease_id)
        except Exception as exc:
            logger.warning("cannot acknowledge %s; it will be delivered again: %r", task, exc)
            return
        if not acked:
            logger.warning("the lease of %s lapsed before it was acknowledged", task)

    def _settle(self, task: Task) -> None:
        """Its outcome is recorded: acknowledge a leased task."""
        lease_id = task.__dict__.pop("_lease_id", None)
        if lease_id is not None:
            self._ack(lease_id, task)

    def _abandon(self, task: Task, redeliver: bool = True) -> None:
        """No outcome will be recorded: stop renewing the lease, and unless ``redeliver`` is
        off (it then lapses after the visibility timeout), deliver the task again now."""
        lease_id = task.__dict__.pop("_lease_id", None)
        if lease_id is None:
            return
        self._lease_keeper.release(lease_id)
        if not redeliver:
            return
        try:
            self.storage.extend_lease(lease_id, 0)
        except Exception as exc:
            logger.warning("cannot release %s; it is delivered again later: %r", task, exc)

    def _bury(
        self, data: bytes, reason: str, deliveries: int = 1, lease_id: str | None = None
    ) -> None:
        """Put a message that will never run in the dead letters (then drop its lease)."""
        if not self.storage.supports_leases:
            logger.error("dropped an unusable message (%d bytes): %s", len(data), reason)
            return
        try:
            task: Task | None = self.deserialize_task(data)
        except MessageError:
            task = None
        key, name = letter_identity(data, self.serializer)
        letter = DeadLetter(key, data, reason, self._now(), deliveries, name, task)
        self.storage.add_dead_letter(letter.id, self.serializer.serialize(letter.record()))
        if lease_id is not None:
            self.storage.ack(lease_id)
        logger.error("dead-lettered %s: %s", task or f"a message of {len(data)} bytes", reason)
        self._emit(SIGNAL_DEAD_LETTERED, task, letter)

    # -- dead letters --------------------------------------------------------------------------
    def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The dead letters, oldest first (with ``task`` set where it can be read)."""
        letters = []
        for key, blob in self.storage.dead_letter_items().items():
            try:
                letter = DeadLetter.from_record(key, self.serializer.deserialize(blob))
            except Exception as exc:
                logger.error("unreadable dead-letter record %r: %r", key, exc)
                continue
            try:
                letter = dataclasses.replace(letter, task=self.deserialize_task(letter.data))
            except MessageError:
                pass
            letters.append(letter)
        letters.sort(key=lambda letter: (letter.time, letter.id))
        return letters[:limit]

    def dead_letter_count(self) -> int:
        return self.storage.dead_letter_count()

    def requeue_dead_letters(self, ids: list[str] | None = None) -> int:
        """Queue the dead letters (all, or those with ``ids``) again; how many were queued.

        Each is queued before its letter is deleted: a crash in between duplicates, never loses.
        """
        wanted = None if ids is None else set(ids)
        count = 0
        for letter in self.dead_letters():
            if wanted is not None and letter.id not in wanted:
                continue
            priority = letter.task.priority if letter.task is not None else None
            if not self.storage.supports_priority:
                priority = None
            self.storage.enqueue(letter.data, priority)
            self.storage.delete_dead_letter(letter.id)
            count += 1
        return count

    def flush_dead_letters(self) -> None:
        self.storage.flush_dead_letters()

    def add_schedule(self, task: Task) -> None:
        if task.eta is None:
            raise ValueError(f"task {task} has no eta to be scheduled at")
        self.storage.add_to_schedule(self.serialize_task(task), task.eta)
        self._emit(SIGNAL_SCHEDULED, task)

    def read_schedule(self, timestamp: dt.datetime | None = None) -> list[Task]:
        """Remove and return the scheduled tasks due at ``timestamp`` (default: now).

        A message that cannot be read is dead-lettered and left out, so that it does not take
        the due tasks read with it down.
        """
        tasks = []
        for data in self.storage.read_schedule(timestamp or self._now()):
            try:
                tasks.append(self._read_message(data))
            except MessageError:
                pass  # Dead-lettered.
        return tasks

    def read_periodic(self, timestamp: dt.datetime | None = None) -> list[Task]:
        """A new task for every periodic task whose schedule matches ``timestamp`` (now)."""
        timestamp = timestamp or self._now()
        return [
            task_class()
            for task_class in self._registry.periodic_tasks
            if task_class.validate_datetime(timestamp)
        ]

    def ready_to_run(self, task: Task, timestamp: dt.datetime | None = None) -> bool:
        return task.eta is None or task.eta <= (timestamp or self._now())

    def execute(self, task: Task, timestamp: dt.datetime | None = None) -> Any:
        """Run ``task`` as a consumer's worker does and return its value.

        A task not yet due goes to the schedule; a revoked or expired one is skipped. A
        failure is recorded, signalled, retried or passed to ``on_error``, not raised.

        It is ``begin_execution()``, the body (``task.execute()``), then ``finish_execution()``
        with the outcome: a worker that runs bodies elsewhere (an event loop) calls the two.
        """
        if not self.begin_execution(task, timestamp):
            return None
        try:
            value, exception = task.execute(), None
        except Exception as exc:
            value, exception = None, exc
        except BaseException:
            # A worker interrupted (or SystemExit): the task stays in flight for
            # notify_interrupted_tasks() to report, and a leased one is delivered again now.
            self._abandon(task)
            raise
        return self.finish_execution(task, value, exception)

    def begin_execution(self, task: Task, timestamp: dt.datetime | None = None) -> bool:
        """What comes before a task's body; True when the body is to run now.

        A task not yet due goes to the schedule; a revoked, expired or canceled one is skipped.
        Otherwise the task is in flight, ``SIGNAL_EXECUTING`` and pre-execute hooks have run and
        its timeout counts from now: run the body, then call ``finish_execution()``.
        """
        try:
            started = self._begin(task, timestamp or self._now())
        except Exception:
            self._abandon(task, redeliver=False)
            raise
        except BaseException:
            self._abandon(task)
            raise
        if not started:
            self._settle(task)
        return started

    def _begin(self, task: Task, timestamp: dt.datetime) -> bool:
        if not self.ready_to_run(task, timestamp):
            self.add_schedule(task)
            return False
        if self.is_revoked(task, timestamp, peek=False):
            logger.warning("Task %s was revoked, not executing", task)
            self._emit(SIGNAL_REVOKED, task)
        elif task.expires_resolved is not None and task.expires_resolved < timestamp:
            logger.info("Task %s expired, not executing.", task)
            self._emit(SIGNAL_EXPIRED, task)
        else:
            with self._in_flight_lock:
                self._tasks_in_flight.add(task)
            try:
                started = self._start(task)
            except Exception:
                self._leave_flight(task)
                raise
            if not started:
                self._leave_flight(task)
            return started
        self._skip_chord_member(task)
        return False

    def finish_execution(self, task: Task, value: Any, exception: Exception | None = None) -> Any:
        """What follows a body started by ``begin_execution()`` that returned ``value`` or
        raised ``exception``: the result is stored, signals and post-execute hooks run, and the
        pipeline, a retry or the error handler follows. Returns the value (None on failure)."""
        try:
            value = self._finish(task, value, exception)
        except Exception:
            # The outcome could not be recorded (a storage error): let the lease lapse, so the
            # task runs again once the storage is back rather than in a tight loop now.
            self._leave_flight(task)
            self._abandon(task, redeliver=False)
            raise
        except BaseException:
            self._leave_flight(task)
            self._abandon(task)
            raise
        self._leave_flight(task)
        self._settle(task)
        return value

    def _leave_flight(self, task: Task) -> None:
        with self._in_flight_lock:
            self._tasks_in_flight.discard(task)

    def _start(self, task: Task) -> bool:
        logger.info("Executing %s", task)  # huey 3.5.4's words, as log searches expect.
        self._emit(SIGNAL_EXECUTING, task)
        try:
            self._run_pre_execute(task)
        except CancelExecution:
            self._emit(SIGNAL_CANCELED, task)
            self._skip_chord_member(task)
            return False
        task._started = time.monotonic()
        task._deadline = task._started + task.timeout if task.timeout else None
        return True

    def _finish(self, task: Task, value: Any, exception: Exception | None) -> Any:
        if exception is None:
            logger.info("%s executed in %0.3fs", task, time.monotonic() - task._started)
        stored = value is not None or self.store_none
        if exception is None and stored and self._stores_results(task):
            try:
                data = self._serialize_value(value)
            except SerializationError as exc:  # A value that cannot be stored fails it.
                exception = exc
            else:
                # A storage error is no failure of the task: it propagates, and a leased task
                # runs again once the storage is back.
                self.storage.put_data(task.id, data, is_result=True)
        if exception is not None:
            value = None
        # Outcomes are handled outside any except block: retries in immediate mode run
        # synchronously and must not chain onto this exception. Post-execute hooks run between
        # the outcome being recorded and what follows from it, as in huey 3.5.4.
        if exception is None:
            self._run_post_execute(task, value, None)
            self._emit(SIGNAL_COMPLETE, task)
            if task.on_complete is not None:
                self._enqueue_task(_pipe_into(task.on_complete, value))
            self._finish_chord_member(task, value)
        else:
            failure = self._record_failure(task, exception)
            self._run_post_execute(task, None, exception)
            self._follow_failure(task, exception, failure)
        return value

    def _run_pre_execute(self, task: Task) -> None:
        for name, hook in list(self._pre_execute.items()):
            try:
                hook(task)
            except CancelExecution:
                logger.warning("Task %s cancelled by %s (pre-execute).", task, name)
                raise
            except Exception:
                logger.exception("pre-execute hook %r failed", name)

    def _run_post_execute(self, task: Task, value: Any, exception: Exception | None) -> None:
        for name, hook in list(self._post_execute.items()):
            try:
                hook(task, value, exception)
            except Exception:
                logger.exception("post-execute hook %r failed", name)

    def _stores_results(self, task: Task) -> bool:
        # Periodic tasks have no result handle to read a result with, so nothing is stored.
        return self.results and not isinstance(task, PeriodicTask)

    def _record_failure(self, task: Task, exc: Exception) -> _Failure:
        """Signal and store a failed run, with huey 3.5.4's rules for each kind of exception."""
        if isinstance(exc, RetryTask):
            # A forced retry: it uses none of the task's retries and is not an error.
            logger.info("Task %s raised RetryTask, retrying.", _tasklog.label(task))
            eta = None
            if exc.eta is not None or exc.delay is not None:
                eta = normalize_time(exc.eta, exc.delay, self.utc)
            return _Failure(retry=True, uses_a_retry=False, recorded=False, eta=eta)

        failure = _Failure(retry=task.retries > 0)
        if isinstance(exc, RateLimitExceeded):
            self._emit(SIGNAL_RATE_LIMITED, task)
            failure.uses_a_retry = not exc.retry
            failure.retry = failure.retry or exc.retry
            failure.recorded = not failure.retry
            if not task.retry_delay:  # The next window, unless the task sets its own delay.
                failure.eta = self._now() + dt.timedelta(seconds=exc.delay)
            retrying = f", retrying in {_tasklog.seconds(self._delay_of(task, failure))}"
            logger.info(
                'Task %s rate-limited on "%s"%s',
                _tasklog.label(task),
                exc.key,
                retrying if failure.retry else "",
            )
        elif isinstance(exc, TaskLockedException):
            self._emit(SIGNAL_LOCKED, task)
            failure.recorded = not failure.retry  # A lock tried again is no failure yet.
            logger.warning(
                "Task %s not run, %s%s", _tasklog.label(task), exc, self._outlook(task, failure)
            )
        elif isinstance(exc, CancelExecution):
            self._emit(SIGNAL_CANCELED, task)
            if exc.retry is not None:
                task.retries = max(task.retries, 1) if exc.retry else 0
                failure.retry = exc.retry
            logger.warning(
                "Task %s raised CancelExecution %s.",
                _tasklog.label(task),
                "(task will be retried)" if failure.retry else "(aborted, will not be retried)",
            )
        elif isinstance(exc, TaskTimeout):
            timeout = f" after {_tasklog.seconds(task.timeout)}" if task.timeout else ""
            logger.error(
                "Task %s timed out%s%s", _tasklog.label(task), timeout, self._outlook(task, failure)
            )
            self._emit(SIGNAL_TIMEOUT, task)
        else:
            # The traceback from the task's own code: the worker's frames above it are noise.
            logger.error(
                "Unhandled exception in task %s%s",
                _tasklog.label(task),
                self._outlook(task, failure) or ".",
                exc_info=(type(exc), exc, _tasklog.user_traceback(exc)),
            )
            self._emit(SIGNAL_ERROR, task, exc)

        # Surfaced (its error stored and passed to the error handler): a final failure, and by
        # default (store_intermediate_errors) every recorded one. The error shows the retries
        # left before this failure's retry is taken.
        failure.surfaced = failure.recorded and (
            self.store_intermediate_errors or not failure.retry
        )
        if failure.surfaced:
            failure.error = Error(self.build_error_result(task, exc))
            if self._stores_results(task):
                self.put_result(task.id, failure.error)
        return failure

    def _delay_of(self, task: Task, failure: _Failure) -> float:
        """Seconds until the retry of ``failure`` runs (what ``_retry()`` will schedule)."""
        if failure.eta is not None:
            return max(0.0, (failure.eta - self._now()).total_seconds())
        return task.retry_delay or 0.0

    def _outlook(self, task: Task, failure: _Failure) -> str:
        """``; attempt 1 of 3 failed, retrying in 5s`` for a log line, or ``""``."""
        text = _tasklog.outlook(task, failure.retry, self._delay_of(task, failure))
        return f"; {text}" if text else ""

    def _follow_failure(self, task: Task, exc: Exception, failure: _Failure) -> None:
        """What follows a failure: the error handler, then a retry or the end of the pipeline."""
        if failure.surfaced and task.on_error is not None:
            self._enqueue_task(_pipe_into(task.on_error, exc))
        if failure.retry:
            self._retry(task, failure.eta, failure.uses_a_retry)
            return
        # Final failure: the rest of the pipeline will not run; its results read as this error,
        # and a chord waiting on the pipeline gets the error as the member's result.
        if task.on_complete is not None and self._stores_results(task):
            for child in task.on_complete.pipeline():
                self.put_result(child.id, failure.error)
        self._finish_chord_member(task._tail(), failure.error)

    def _retry(self, task: Task, eta: dt.datetime | None, uses_a_retry: bool) -> None:
        # Signalled with the task as it failed; what is queued again is a copy for the next run.
        self._emit(SIGNAL_RETRYING, task)
        task = copy.copy(task)
        if uses_a_retry:
            task.retries -= 1
        if eta is None and task.retry_delay:
            eta = self._now() + dt.timedelta(seconds=task.retry_delay)
            if task.retry_backoff:
                task.retry_delay *= task.retry_backoff
        task.eta = eta
        if eta is None:
            self._enqueue_task(task)
        else:
            self.add_schedule(task)

    def _skip_chord_member(self, task: Task) -> None:
        # A chord member that never ran counts as SKIPPED, so the chord still completes.
        self._finish_chord_member(task._tail(), SKIPPED)

    def _finish_chord_member(self, task: Task, value: Any) -> None:
        if task.chord_config is None:
            return
        callback = _canvas.record_member(self, task, value)
        if callback is not None:
            self._enqueue_task(callback)

    def build_error_result(self, task: Task, exception: BaseException) -> dict[str, Any]:
        """The metadata stored for a failed task; override to add fields.

        A task that let a subtask's ``TaskException`` (from reading its result) propagate keeps
        the root error's text, not ``TaskException(...)``.
        """
        error = exception.metadata.get("error") if isinstance(exception, TaskException) else None
        return {
            "error": error or repr(exception),
            "retries": task.retries,
            "traceback": "".join(traceback.format_exception(exception)),
            "task_id": task.id,
        }

    # -- revocation ----------------------------------------------------------------------------
    def _revoke_key(self, task: Task | type[Task] | str) -> str:
        if isinstance(task, str):
            return f"r:{task}"
        if isinstance(task, type):
            return f"rt:{task.qualified_name}"
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

    def _check_revocation(self, key: str, data: Any, timestamp: dt.datetime, peek: bool) -> bool:
        if data is EmptyData:
            return False
        until, once = self.serializer.deserialize(data)
        # As in huey 3.5.4: a once-revocation holds whatever its time, and only the worker's
        # check uses it up; any other revocation stays until restored or lapsed, so a task
        # enqueued again with a revoked id is skipped again.
        if once:
            if not peek:
                self.storage.delete_data(key)
            return True
        if until is not None and timestamp >= until:
            if not peek:  # Lapsed for the worker; a look at another time changes nothing.
                self.storage.delete_data(key)
            return False
        return True

    def is_revoked(
        self,
        task: Task | type[Task] | Result | TaskWrapper | str,
        timestamp: dt.datetime | None = None,
        peek: bool = True,
    ) -> bool:
        """Whether ``task`` (a task, its id, its ``Result``, or a task class) is revoked.

        For a task instance, a revocation of its whole class counts too. ``peek=False`` is the
        worker's check: it uses up a ``revoke_once`` revocation.
        """
        if isinstance(task, Result):
            task = task.task
        elif isinstance(task, TaskWrapper):
            task = task.task_class
        timestamp = timestamp or self._now()
        read: dict[str, Any] = {}
        if isinstance(task, Task):
            # The instance first: when both are revoked once, one run uses up only the instance's.
            keys = [self._revoke_key(task), self._revoke_key(type(task))]
            if not peek:  # The worker's check: the keys may have been read with the message.
                read = task.__dict__.pop("_revocations", None) or {}
        else:
            keys = [self._revoke_key(task)]
        if all(key in read for key in keys):
            values = [read[key] for key in keys]
        else:
            values = self.storage.peek_data_many(keys)  # One round trip where the storage can.
        return any(
            self._check_revocation(key, data, timestamp, peek)
            for key, data in zip(keys, values, strict=True)
        )

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
    def lock_task(self, lock_name: str, ttl: float | None = None) -> TaskLock:
        # Every lock made here is known to flush_locks(): decorator locks from import time,
        # context-manager locks once their task has run in this process (as in huey 3.5.4).
        lock = TaskLock(self, lock_name, ttl)
        self._locks.add(lock_name)
        return lock

    def is_locked(self, lock_name: str) -> bool:
        return TaskLock(self, lock_name).locked()

    def flush_locks(self, *names: str) -> set[str]:
        """Clear the decorator locks and ``names``; the names of those that were held."""
        return {name for name in self._locks.union(names) if TaskLock(self, name).clear()}

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

    def put_if_empty(self, key: str, value: Any, ttl: float | None = None) -> bool:
        data = self._serialize_value(value)
        if ttl is None:  # Storages written before ttl existed still work without one.
            return self.storage.put_if_empty(key, data)
        return self.storage.put_if_empty(key, data, ttl)

    # -- introspection -------------------------------------------------------------------------
    def _readable_tasks(self, messages: list[bytes]) -> list[Task]:
        """The tasks of ``messages``, leaving out (and logging) those that cannot be read, such
        as the messages of an unregistered task (as huey 3.5.4 does)."""
        tasks = []
        for data in messages:
            try:
                tasks.append(self.deserialize_task(data))
            except MessageError as exc:
                logger.error("left out a task message that cannot be read: %s", exc)
        return tasks

    def pending(self, limit: int | None = None) -> list[Task]:
        return self._readable_tasks(self.storage.enqueued_items(limit))

    def pending_count(self) -> int:
        return self.storage.queue_size()

    def scheduled(self, limit: int | None = None) -> list[Task]:
        return self._readable_tasks(self.storage.scheduled_items(limit))

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

    def __bool__(self) -> bool:
        # Without it, a Huey whose queue is empty would be false (``__len__``).
        return True

    # -- consumer ------------------------------------------------------------------------------
    def create_consumer(self, **options: Any) -> Any:
        # Imported on use: the consumer imports this module, and most programs never need it.
        return importlib.import_module("huey.consumer").Consumer(self, **options)


@dataclasses.dataclass
class _Failure:
    """How a failed run goes on: retried (when, and whether it uses one of the task's retries),
    recorded (a failure, not a rejection that will be tried again), surfaced (stored and passed
    to the error handler now; always when final), and its error (set when surfaced)."""

    retry: bool
    uses_a_retry: bool = True
    recorded: bool = True
    surfaced: bool = False
    eta: dt.datetime | None = None
    error: Error | None = None


def _pipe_into(child: Task, value: Any) -> Task:
    """A copy of a pipeline child (or error handler) given its parent's value (or exception).

    See ``extend_data`` for how the value joins the child's own arguments. A copy, because an
    error handler is enqueued again on every failure.
    """
    child = copy.copy(child)
    extend_data(child, value)
    return child


def _sync_result(handle: Handle) -> Result:
    """The result that completes a chord member: the end of its pipeline or callback chain."""
    if isinstance(handle, ChordResult):
        return _sync_result(handle.pipeline_results or handle.callback)
    if isinstance(handle, ResultGroup):
        return _sync_result(list(handle)[-1])
    return handle


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
