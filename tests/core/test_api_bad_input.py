"""Bad input fails loudly and early: unserializable arguments, unknown tasks, garbage messages."""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import threading
from typing import Any

import pytest

from huey import MemoryHuey, chord, group
from huey.api import TaskWrapper
from huey.exceptions import (
    HueyException,
    MessageError,
    SerializationError,
    UnknownTaskError,
)
from huey.registry import Message


@pytest.fixture
def echo(huey: MemoryHuey) -> TaskWrapper:
    @huey.task()
    def echo(*args: Any, **kwargs: Any) -> Any:
        return args

    return echo


@pytest.mark.parametrize("bad", [lambda: None, threading.Lock()], ids=["lambda", "lock"])
def test_unserializable_arguments_enqueue_nothing(
    huey: MemoryHuey, echo: TaskWrapper, signals: Any, bad: Any
) -> None:
    echo(1)
    signals.clear()
    with pytest.raises(SerializationError) as info:
        echo(bad)
    assert echo.name in str(info.value)
    assert isinstance(info.value, HueyException) and isinstance(info.value, TypeError)
    with pytest.raises(SerializationError):
        echo(key=bad)
    with pytest.raises(SerializationError):
        echo.schedule((bad,), delay=10)
    with pytest.raises(SerializationError):
        huey.enqueue(echo.s(1).then(echo, bad))  # A bad step anywhere in the pipeline.
    with pytest.raises(SerializationError):
        huey.enqueue(group([echo.s(1), echo.s(bad)]))  # Not even the good member.
    with pytest.raises(SerializationError):
        huey.enqueue(chord([echo.s(1), echo.s(2)], echo.s(bad)))
    with pytest.raises(SerializationError):
        echo.map([(1,), (bad,)])
    assert huey.pending_count() == 1 and huey.scheduled_count() == 0
    assert signals.names() == []  # Nothing reported as enqueued either.


def test_unserializable_arguments_in_immediate_mode(echo: TaskWrapper) -> None:
    huey = echo.huey
    huey.immediate = True
    ran: list[int] = []
    huey.pre_execute()(lambda task: ran.append(1))
    with pytest.raises(SerializationError):
        echo(lambda: None)
    assert ran == []


def test_unknown_task_name(huey: MemoryHuey, echo: TaskWrapper) -> None:
    other = MemoryHuey("other")
    data = pickle.dumps(Message("id-1", "somewhere.not_registered", None, 0, 0, None, (), {}))
    huey.storage.enqueue(data)
    with pytest.raises(UnknownTaskError, match=r"somewhere\.not_registered") as info:
        huey.dequeue()
    assert isinstance(info.value, MessageError) and info.value.data == data
    echo(1)
    with pytest.raises(UnknownTaskError):  # Registered with another instance only.
        other.deserialize_task(huey.storage.dequeue())


def test_unregistered_task_cannot_be_read(huey: MemoryHuey, echo: TaskWrapper) -> None:
    echo(1)
    echo.unregister()
    with pytest.raises(UnknownTaskError):
        huey.dequeue()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01garbage",
        b"",
        pickle.dumps(12345),
        pickle.dumps(("too", "short")),
        pickle.dumps(("id", "name", None, 0, 0, None, 5, {})),  # args not iterable
    ],
    ids=["bytes", "empty", "not-a-tuple", "short-tuple", "bad-field"],
)
def test_garbage_in_the_queue_is_a_message_error(
    huey: MemoryHuey, echo: TaskWrapper, garbage: bytes
) -> None:
    huey.storage.enqueue(garbage)
    echo("after")
    with pytest.raises(MessageError) as info:
        huey.dequeue()
    assert info.value.data == garbage
    task = huey.dequeue()  # The next message is still there and readable.
    assert task is not None and huey.execute(task) == ("after",)
    assert huey.dequeue() is None


def test_bad_field_type_is_a_message_error(huey: MemoryHuey, echo: TaskWrapper) -> None:
    data = pickle.dumps(Message("id", echo.name, None, 0, 0, None, 5, {}))
    with pytest.raises(MessageError) as info:
        huey.deserialize_task(data)
    assert info.value.data == data


def test_garbage_in_introspection_is_logged_and_left_out(
    huey: MemoryHuey, echo: TaskWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    huey.storage.enqueue(b"garbage")
    echo(1)
    with caplog.at_level(logging.ERROR, logger="huey"):
        assert [t.args for t in huey.pending()] == [(1,)]
    assert "left out a task message that cannot be read" in caplog.text
    assert huey.pending_count() == 2  # Only read: nothing is taken off the queue.


def test_garbage_in_the_schedule_is_logged_and_the_rest_is_read(
    huey: MemoryHuey, echo: TaskWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    when = dt.datetime(2030, 1, 1)
    huey.storage.add_to_schedule(b"garbage", when)
    huey.add_schedule(echo.s(1, eta=when))
    with caplog.at_level(logging.ERROR, logger="huey"):
        tasks = huey.read_schedule(when)
    assert [t.args for t in tasks] == [(1,)]
    assert "dead-lettered a message of 7 bytes: cannot deserialize" in caplog.text
    [letter] = huey.dead_letters()
    assert (letter.data, letter.deliveries, letter.task) == (b"garbage", 1, None)


def test_bad_eta_and_expires(huey: MemoryHuey, echo: TaskWrapper) -> None:
    with pytest.raises(ValueError, match="eta must be a datetime"):  # As huey 3.5.4.
        echo.schedule((1,), eta="tomorrow")
    with pytest.raises(TypeError):
        huey.enqueue(echo.s(1, expires="soon"))
    assert huey.pending_count() == 0


def test_enqueue_needs_a_task(huey: MemoryHuey, echo: TaskWrapper) -> None:
    with pytest.raises(TypeError):
        huey.enqueue(echo)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        echo.s(1).then("not a task")  # type: ignore[arg-type]
