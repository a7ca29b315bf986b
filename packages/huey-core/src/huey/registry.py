"""The wire format of a task (``Message``) and the registry mapping task names to classes.

``Message`` keeps this module path, name and field order: queued tasks are pickled messages that
move between this package and the published huey 3.x.
"""

from __future__ import annotations

import copyreg
import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from huey.exceptions import MessageError, UnknownTaskError

if TYPE_CHECKING:
    from huey._task import PeriodicTask, Task


# What pickle turns into its NEWOBJ opcode (typeshed does not list it).
_NEWOBJ = copyreg.__newobj__  # type: ignore[attr-defined]


class Message(NamedTuple):
    """One queued task; pickles exactly like the ``collections.namedtuple`` of huey 3.5.4."""

    id: str | None = None
    name: str | None = None
    eta: dt.datetime | None = None
    retries: int | None = None
    retry_delay: float | None = None
    priority: float | None = None
    args: tuple[Any, ...] | None = None
    kwargs: dict[str, Any] | None = None
    on_complete: Message | None = None
    on_error: Message | None = None
    expires: Any = None
    expires_resolved: dt.datetime | None = None
    timeout: float | None = None
    # (chord id, number of members, index of this member, callback Message)
    chord_config: tuple[str, int, int, Any] | None = None
    retry_backoff: float | None = None

    def __reduce_ex__(self, protocol: Any) -> Any:
        # The reduction pickle would find through __getnewargs__ (the same bytes), without its
        # generic lookups: half the cost of pickling a message.
        if protocol < 2:
            return object.__reduce_ex__(self, protocol)
        return _NEWOBJ, (Message, *self)


class TaskRegistry:
    """Task classes of one Huey instance, by qualified name (``module.name``)."""

    def __init__(self) -> None:
        self._registry: dict[str, type[Task]] = {}

    def register(self, task_class: type[Task]) -> None:
        """Add ``task_class``; ``ValueError`` when its name is taken, as in huey 3.5.4: two
        tasks sharing a name would share their messages and revocations."""
        key = task_class.qualified_name
        if key in self._registry:
            raise ValueError(
                f"a task named {key!r} is already registered with this Huey instance; "
                "pass name= to register this one under another name"
            )
        self._registry[key] = task_class

    def unregister(self, task_class: type[Task]) -> bool:
        return self._registry.pop(task_class.qualified_name, None) is not None

    def __contains__(self, name: str) -> bool:
        return name in self._registry

    def __iter__(self) -> Iterator[type[Task]]:
        return iter(self._registry.values())

    @property
    def periodic_tasks(self) -> list[type[PeriodicTask]]:
        from huey._task import PeriodicTask

        return [cls for cls in self._registry.values() if issubclass(cls, PeriodicTask)]

    def create_message(self, task: Task) -> Message:
        """The message of ``task``; ``UnknownTaskError`` when its task is not registered here
        (no consumer of this instance could run it)."""
        if task.qualified_name not in self._registry:
            raise UnknownTaskError(f"task {task.qualified_name!r} is not registered")
        chord_config = task.chord_config
        if chord_config is not None:
            chord_id, size, index, callback = chord_config
            chord_config = (chord_id, size, index, self.create_message(callback))
        return Message(
            task.id,
            task.qualified_name,
            task.eta,
            task.retries,
            task.retry_delay,
            task.priority,
            task.args,
            task.kwargs,
            self.create_message(task.on_complete) if task.on_complete else None,
            self.create_message(task.on_error) if task.on_error else None,
            task.expires,
            task.expires_resolved,
            task.timeout,
            chord_config,
            task.retry_backoff,
        )

    def create_task(self, message: Any) -> Task:
        if not isinstance(message, tuple) or not 8 <= len(message) <= len(Message._fields):
            raise MessageError(f"not a task message: {message!r:.200}")
        message = Message(*message)
        task_class = self._registry.get(message.name)  # type: ignore[arg-type]
        if task_class is None:
            raise UnknownTaskError(
                f"task {message.name!r} is not registered with this Huey instance "
                "(is the module that defines it imported by the consumer?)"
            )
        chord_config = message.chord_config
        if chord_config is not None:
            chord_id, size, index, callback = chord_config
            chord_config = (chord_id, size, index, self.create_task(callback))
        return task_class(
            args=message.args,
            kwargs=message.kwargs,
            id=message.id,
            eta=message.eta,
            retries=message.retries,
            retry_delay=message.retry_delay,
            priority=message.priority,
            expires=message.expires,
            expires_resolved=message.expires_resolved,
            on_complete=self.create_task(message.on_complete) if message.on_complete else None,
            on_error=self.create_task(message.on_error) if message.on_error else None,
            timeout=message.timeout,
            chord_config=chord_config,
            retry_backoff=message.retry_backoff,
        )
