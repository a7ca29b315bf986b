"""At-least-once delivery and dead letters, through the Huey API on core's storages.

The storages' own lease operations are in the conformance suite; the consumer-level fault
tests (SIGKILL, Redis restarts) are in tests/faults.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from polling import wait_for

from huey import BlackHoleHuey, FileHuey, MemoryHuey
from huey import signals as S
from huey.api import Huey
from huey.exceptions import ConfigurationError, MessageError
from huey.registry import Message
from huey.serializer import SignedSerializer
from huey.storage import BlackHoleStorage

SHORT = 0.3  # A visibility timeout the tests let lapse.


@pytest.fixture(params=["memory", "file"])
def make_huey(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    def make(**options: Any) -> Huey:
        options.setdefault("delivery", "at-least-once")
        if request.param == "memory":
            return MemoryHuey("delivery", **options)
        return FileHuey("delivery", path=str(tmp_path / "queue"), **options)

    yield make


@pytest.fixture
def huey(make_huey: Any) -> Huey:
    return make_huey(visibility_timeout=SHORT, max_deliveries=3)


def dequeue(huey: Huey) -> Any:
    task = huey.dequeue()
    assert task is not None
    return task


def crash(huey: Huey, task: Any) -> None:
    """What a worker dying mid-task does to its lease: nobody renews it any more."""
    huey._lease_keeper.release(task._lease_id)


def dequeue_and_crash(huey: Huey) -> Any:
    task = wait_for(huey.dequeue, timeout=10)
    crash(huey, task)
    return task


# -- configuration ---------------------------------------------------------------------------
def test_at_most_once_is_the_default() -> None:
    huey = MemoryHuey()
    assert (huey.delivery, huey.visibility_timeout, huey.max_deliveries) == ("at-most-once", 30, 5)

    @huey.task()
    def job() -> int:
        return 1

    job()
    assert huey.dequeue() is not None
    assert huey.storage.lease_count() == 0  # Taken off the queue, not leased.


@pytest.mark.parametrize(
    "options, message",
    [
        ({"delivery": "exactly-once"}, "delivery must be"),
        ({"delivery": None}, "delivery must be"),
        ({"visibility_timeout": 0}, "visibility_timeout"),
        ({"visibility_timeout": -1}, "visibility_timeout"),
        ({"visibility_timeout": "30"}, "visibility_timeout"),
        ({"visibility_timeout": True}, "visibility_timeout"),
        ({"max_deliveries": 0}, "max_deliveries must be at least 1"),
        ({"max_deliveries": 2.5}, "max_deliveries must be an int"),
        ({"max_deliveries": True}, "max_deliveries must be an int"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MemoryHuey(**options)


def test_at_least_once_needs_a_storage_with_leases() -> None:
    with pytest.raises(ConfigurationError, match=r"BlackHoleStorage.*supports_leases is False"):
        BlackHoleHuey(delivery="at-least-once")
    assert BlackHoleHuey().delivery == "at-most-once"


def test_a_storage_without_leases_refuses_the_lease_operations() -> None:
    storage = BlackHoleStorage()
    for call in (lambda: storage.lease(1), lambda: storage.ack("x"), storage.dead_letter_count):
        with pytest.raises(NotImplementedError, match="supports_leases is False"):
            call()
    storage.flush_all()  # Does not reach for the dead letters it does not have.


def test_a_task_may_opt_out_but_not_in() -> None:
    huey = MemoryHuey()
    with pytest.raises(ConfigurationError, match="cannot opt in"):
        huey.task(delivery="at-least-once")
    with pytest.raises(ConfigurationError, match="delivery must be"):
        huey.task(delivery="twice")
    assert huey.task(delivery="at-most-once")(lambda: 1).task_class.delivery == "at-most-once"


# -- the lease lifecycle ---------------------------------------------------------------------
def test_a_task_stays_leased_until_its_result_is_stored(huey: Huey) -> None:
    seen: list[tuple[int, int]] = []

    @huey.task()
    def job() -> str:
        seen.append((huey.storage.queue_size(), huey.storage.lease_count()))
        return "done"

    result = job()
    task = dequeue(huey)
    assert huey.storage.queue_size() == 0 and huey.storage.lease_count() == 1
    assert huey.execute(task) == "done"
    assert seen == [(0, 1)]  # Still leased while the body ran.
    assert huey.storage.lease_count() == 0
    assert result.get() == "done"  # type: ignore[union-attr]


def test_a_worker_that_dies_gets_its_task_delivered_again(huey: Huey) -> None:
    @huey.task()
    def job() -> int:
        return 7

    result = job()
    first = dequeue_and_crash(huey)
    assert huey.dequeue() is None
    time.sleep(SHORT)
    again = wait_for(huey.dequeue, timeout=10)
    assert again.id == first.id
    assert huey.execute(again) == 7
    assert result.get() == 7  # type: ignore[union-attr]
    time.sleep(SHORT)
    assert huey.dequeue() is None  # Acknowledged: never delivered again.


def test_max_deliveries_without_an_outcome_dead_letters_the_task(huey: Huey) -> None:
    letters: list[Any] = []
    huey.signal(S.SIGNAL_DEAD_LETTERED)(lambda signal, task, letter: letters.append(letter))

    @huey.task()
    def crashes() -> None:
        pass

    @huey.task()
    def fine() -> int:
        return 1

    doomed = crashes()
    for delivery in range(1, 4):
        task = dequeue_and_crash(huey)
        assert task.id == doomed.id, f"delivery {delivery}"  # type: ignore[union-attr]
        time.sleep(SHORT)
    fine_result = fine()
    task = wait_for(huey.dequeue, timeout=10)
    assert task.name == fine.name  # The fourth delivery went to the dead letters instead.
    assert huey.execute(task) == 1 and fine_result.get() == 1  # type: ignore[union-attr]
    [letter] = huey.dead_letters()
    assert letters == [letter]
    assert (letter.id, letter.deliveries, letter.name) == (doomed.id, 3, crashes.qualified_name)  # type: ignore[union-attr]
    assert letter.reason == "delivered 3 times without an outcome (max_deliveries=3)"
    assert letter.task is not None and letter.task.id == doomed.id  # type: ignore[union-attr]
    assert huey.storage.lease_count() == 0 and huey.dead_letter_count() == 1


def test_a_long_task_keeps_its_lease(huey: Huey) -> None:
    runs: list[int] = []
    release = threading.Event()

    @huey.task()
    def long() -> str:
        runs.append(1)
        release.wait(10)
        return "finished"

    result = long()
    task = dequeue(huey)
    worker = threading.Thread(target=huey.execute, args=(task,))
    worker.start()
    try:
        deadline = time.monotonic() + SHORT * 5
        while time.monotonic() < deadline:  # Well past the visibility timeout.
            assert huey.dequeue() is None, "a running task was delivered again"
            time.sleep(SHORT / 4)
    finally:
        release.set()
        worker.join(10)
    assert runs == [1] and result.get() == "finished"  # type: ignore[union-attr]
    assert huey.storage.lease_count() == 0


def test_an_interrupted_task_is_delivered_again_at_once(make_huey: Any) -> None:
    huey = make_huey(visibility_timeout=60)

    class Interrupt(BaseException):
        pass

    calls: list[int] = []

    @huey.task()
    def job() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise Interrupt
        return 2

    result = job()
    with pytest.raises(Interrupt):
        huey.execute(dequeue(huey))
    again = huey.dequeue()  # Not after the 60 s timeout: released when interrupted.
    assert again is not None and huey.execute(again) == 2
    assert result.get() == 2  # type: ignore[union-attr]


def test_an_outcome_that_cannot_be_stored_leaves_the_lease_to_lapse(make_huey: Any) -> None:
    huey = make_huey(visibility_timeout=SHORT)
    storage = huey.storage
    blips = [1]  # The result write fails once, as when the storage restarts at that moment.

    def put_data(key: str, value: bytes, is_result: bool = False) -> None:
        if is_result and blips[0]:
            blips[0] -= 1
            raise ConnectionError("storage went away")
        type(storage).put_data(storage, key, value, is_result)

    storage.put_data = put_data
    runs: list[int] = []

    @huey.task()
    def job() -> int:
        runs.append(1)
        return 3

    result = job()
    with pytest.raises(ConnectionError):
        huey.execute(dequeue(huey))
    assert huey.result_count() == 0  # Not recorded as the task failing...
    assert huey.dequeue() is None  # ...nor redelivered in a tight loop...
    time.sleep(SHORT)
    again = wait_for(huey.dequeue, timeout=10)  # ...but once the lease lapses.
    assert huey.execute(again) == 3 and result.get() == 3
    assert runs == [1, 1]


@pytest.mark.parametrize("outcome", ["retry", "scheduled", "revoked", "error"])
def test_every_recorded_outcome_acknowledges(huey: Huey, later: Any, outcome: str) -> None:
    @huey.task(retries=1 if outcome == "retry" else 0)
    def job() -> None:
        if outcome in ("retry", "error"):
            raise ValueError("boom")

    if outcome == "scheduled":
        job.schedule(eta=later(3600))
    else:
        result = job()
        if outcome == "revoked":
            result.revoke()  # type: ignore[union-attr]
    task = dequeue(huey)
    huey.execute(task)
    assert huey.storage.lease_count() == 0
    time.sleep(SHORT)
    follow_up = huey.dequeue()
    if outcome == "retry":  # The retry is a new message, not a redelivery.
        assert follow_up is not None and follow_up.retries == 0
    else:
        assert follow_up is None
    assert huey.scheduled_count() == (1 if outcome == "scheduled" else 0)


def test_a_task_that_opts_out_is_acknowledged_before_it_runs(huey: Huey) -> None:
    seen: list[int] = []

    @huey.task(delivery="at-most-once")
    def once() -> None:
        seen.append(huey.storage.lease_count())

    once()
    task = dequeue(huey)
    assert huey.storage.lease_count() == 0 and task._lease_id is None
    time.sleep(SHORT)  # The worker dies here: the task is gone, as at-most-once promises.
    assert huey.dequeue() is None
    huey.execute(task)
    assert seen == [0]


# -- unusable messages -------------------------------------------------------------------------
@pytest.mark.parametrize("delivery", ["at-least-once", "at-most-once"])
def test_unusable_messages_go_to_the_dead_letters(make_huey: Any, delivery: str) -> None:
    huey = make_huey(delivery=delivery)

    @huey.task()
    def ok() -> int:
        return 1

    unknown = huey.serializer.serialize(Message("id-u", "nowhere.task", None, 0, 0, None, (), {}))
    huey.storage.enqueue(b"\x00garbage")
    huey.storage.enqueue(unknown)
    ok()
    with pytest.raises(MessageError, match="cannot deserialize"):
        huey.dequeue()
    with pytest.raises(MessageError, match=r"'nowhere\.task' is not registered"):
        huey.dequeue()
    assert huey.execute(dequeue(huey)) == 1
    letters = huey.dead_letters()
    assert [(letter.data, letter.deliveries, letter.task) for letter in letters] == [
        (b"\x00garbage", 1, None),
        (unknown, 1, None),
    ]
    assert letters[0].id.startswith("sha256:") and letters[1].id == "id-u"
    assert letters[1].name == "nowhere.task"
    assert letters[0].time <= letters[1].time
    if huey.storage.supports_leases:
        assert huey.storage.lease_count() == 0
    assert huey.dead_letters(limit=1) == letters[:1]


def test_a_message_failing_its_signature_is_dead_lettered() -> None:
    huey = MemoryHuey(delivery="at-least-once", serializer=SignedSerializer(secret="s"))
    forged = pickle.dumps(Message("id-f", "x.y", None, 0, 0, None, (), {}))
    huey.storage.enqueue(forged)
    with pytest.raises(MessageError):
        huey.dequeue()
    [letter] = huey.dead_letters()
    assert letter.data == forged and "signature" in letter.reason.lower()


def test_requeue_and_flush_dead_letters(huey: Huey) -> None:
    ran: list[int] = []

    @huey.task()
    def job(n: int) -> None:
        ran.append(n)

    for n in (1, 2):
        job(n)
        for _ in range(3):  # Crash it max_deliveries times.
            dequeue_and_crash(huey)
            time.sleep(SHORT)
    huey.storage.enqueue(b"garbage")
    with pytest.raises(MessageError):
        wait_for(huey.dequeue, timeout=10)
    letters = huey.dead_letters()
    assert [letter.task.args for letter in letters if letter.task] == [(1,), (2,)]
    first = letters[0]
    assert huey.requeue_dead_letters([first.id]) == 1
    assert huey.dead_letter_count() == 2
    task = dequeue(huey)
    assert task.id == first.id and task.args == (1,)  # The same task, counted afresh.
    huey.execute(task)
    assert ran == [1]
    assert huey.requeue_dead_letters(["no-such-letter"]) == 0
    huey.flush_dead_letters()
    assert huey.dead_letters() == [] and huey.dead_letter_count() == 0


def test_requeue_all_and_flush_all(huey: Huey) -> None:
    huey.storage.enqueue(b"garbage one")
    huey.storage.enqueue(b"garbage two")
    for _ in range(2):
        with pytest.raises(MessageError):
            huey.dequeue()
    assert huey.requeue_dead_letters() == 2
    assert huey.dead_letter_count() == 0 and huey.pending_count() == 2
    with pytest.raises(MessageError):
        huey.dequeue()
    huey.flush()
    assert huey.dead_letter_count() == 0 and huey.pending_count() == 0
