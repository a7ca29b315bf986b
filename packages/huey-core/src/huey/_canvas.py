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
        """Run ``task`` with the exception whenever a member fails."""
        handler = _as_task(task, args, kwargs)
        for member in self.tasks:
            if isinstance(member, Task):
                member.error(_fresh_copy(handler))
        return self

    def __len__(self) -> int:
        return len(self.tasks)


class chord:
    """Members run in parallel, then ``callback`` gets their results as a list, in member order."""

    def __init__(self, tasks: Iterable[Task | chord], callback: TaskWrapper | Task) -> None:
        self.tasks = list(tasks)
        if not self.tasks:  # Nothing would ever complete it.
            raise ValueError("a chord needs at least one member")
        for member in self.tasks:
            if not isinstance(member, Task | chord):
                raise TypeError(f"chord members are tasks or chords, not {member!r}")
        self.callback = callback.s() if isinstance(callback, TaskWrapper) else callback
        if not isinstance(self.callback, Task):
            raise TypeError(f"a chord callback must be a task function or a Task: {callback!r}")

    def then(self, task: TaskWrapper | Task, *args: Any, **kwargs: Any) -> chord:
        self.callback.then(task, *args, **kwargs)
        return self

    def error(self, task: TaskWrapper | Task, *args: Any, **kwargs: Any) -> chord:
        self.callback.error(task, *args, **kwargs)
        return self

    def sync_point(self) -> Task:
        """The task whose completion completes this chord: the end of the callback pipeline."""
        return self.callback._tail()

    def __len__(self) -> int:
        return len(self.tasks)


def _fresh_copy(task: Task) -> Task:
    clone = copy.copy(task)
    clone.id = new_task_id()
    return clone


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
    """Store a finished member's value; the callback to enqueue when it was the last one."""
    chord_id, size, index, callback = task.chord_config  # type: ignore[misc]
    # Stored as results, as huey 3.5.4 does: expire storages give them a TTL.
    try:
        huey.put_result(member_key(chord_id, index), value)
    except SerializationError:
        # An exception that cannot be pickled still completes the chord, as its description.
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
