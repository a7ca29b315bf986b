"""Groups and chords: several tasks run in parallel, optionally followed by a callback."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from huey._task import Task, TaskWrapper, _as_task, new_task_id
from huey.exceptions import SerializationError
from huey.utils import Error

if TYPE_CHECKING:
    from huey.api import Huey


class group:
    """Tasks to run in parallel; enqueueing it returns a ``ResultGroup``."""

    def __init__(self, tasks: Iterable[Task | chord]) -> None:
        self.tasks = list(tasks)

    def then(self, task: TaskWrapper | Task, *args: Any, **kwargs: Any) -> chord:
        """A chord calling ``task`` with the member results once every member has finished."""
        return chord(self.tasks, _as_task(task, args, kwargs))

    def error(self, task: TaskWrapper | Task, *args: Any, **kwargs: Any) -> group:
        """Run ``task`` with the exception whenever a member fails (a chord member: its callback).

        A task function gives each member a handler task of its own; a ``Task`` is shared by
        every member, as huey 3.5.4 documents.
        """
        if isinstance(task, Task):
            task, args, kwargs = _as_task(task, args, kwargs), (), {}  # Arguments added once.
        for member in self.tasks:
            member.error(task, *args, **kwargs)
        return self

    def __len__(self) -> int:
        return len(self.tasks)


class chord:
    """Members run in parallel, then ``callback`` gets their results as a list, in member order."""

    def __init__(self, tasks: Iterable[Task | chord], callback: TaskWrapper | Task) -> None:
        self.tasks = list(tasks)
        for member in self.tasks:
            if not isinstance(member, Task | chord):
                raise TypeError(f"chord members are tasks or chords, not {member!r}")
        self.callback = callback.s() if isinstance(callback, TaskWrapper) else callback
        if not isinstance(self.callback, Task):
            raise TypeError(f"a chord callback must be a task function or a Task: {callback!r}")

    def then(self, task: TaskWrapper | Task, *args: Any, **kwargs: Any) -> chord:
        """Chain ``task`` after the callback: it gets the callback's result."""
        self.callback.then(task, *args, **kwargs)
        return self

    def error(self, task: TaskWrapper | Task, *args: Any, **kwargs: Any) -> chord:
        """Run ``task`` with the exception if the callback fails (members: ``group.error``)."""
        self.callback.error(task, *args, **kwargs)
        return self

    def sync_point(self) -> Task:
        """The task whose completion completes this chord: the end of the callback pipeline."""
        return self.callback._tail()

    def __len__(self) -> int:
        return len(self.tasks)


def callback_without_members(spec: chord) -> Task:
    """The callback of a chord with no members, to enqueue at once: it gets an empty list.

    A copy, so that enqueueing the same chord again does not add a second list.
    """
    callback = copy.copy(spec.callback)
    callback.args = (*callback.args, [])
    return callback


def sync_point(member: Task | chord) -> Task:
    """The task whose completion counts as a chord member finishing."""
    return member.sync_point() if isinstance(member, chord) else member._tail()


def new_chord_id() -> str:
    return new_task_id()


# Keys of the chord bookkeeping, as huey 3.5.4 names them so that chords in flight survive a
# switch between the two: one value per finished member and one counter of finished members.
def member_key(chord_id: str, index: int) -> str:
    return f"chord:{chord_id}:{index}"


def counter_key(chord_id: str) -> str:
    return f"chord:{chord_id}"


def record_member(huey: Huey, task: Task, value: Any) -> Task | None:
    """Store a finished member's value; the callback to enqueue when it was the last one.

    The value is what the member returned, ``Error(metadata)`` for a member that failed for
    good and ``SKIPPED`` for one that never ran, as huey 3.5.4 records them: in a mixed fleet
    the callback gets the same list whichever consumer ran each member.
    """
    chord_id, size, index, callback = task.chord_config  # type: ignore[misc]
    # Stored as results, as huey 3.5.4 does: expire storages give them a TTL.
    try:
        huey.put_result(member_key(chord_id, index), value)
    except SerializationError:
        # Only a value never stored as the member's own result can fail here (on a queue
        # without results): it still completes the chord, as an error describing it.
        error = Error({"error": repr(value), "task_id": task.id})
        huey.put_result(member_key(chord_id, index), error)
    if huey.storage.incr(counter_key(chord_id)) < size:
        return None
    values = [huey.get(member_key(chord_id, i)) for i in range(size)]
    huey.storage.delete_counter(counter_key(chord_id))
    # After the callback's own arguments, as a pipeline passes a parent's value and as huey
    # 3.5.4 does: a chord finished by either gets the same call. With no arguments of its own,
    # the list is the first argument, as the reference says.
    callback.args = (*callback.args, values)
    return callback  # type: ignore[no-any-return]
