"""Task locks (lock_task, TaskLock, flush_locks) and fixed-window rate limits (RateLimit)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from huey import MemoryHuey
from huey.api import RateLimit, TaskLock
from huey.exceptions import RateLimitExceeded, TaskException, TaskLockedException
from huey.storage import MemoryStorage

# -- locks --------------------------------------------------------------------------------------


def test_task_lock_api(huey: MemoryHuey) -> None:
    lock = huey.lock_task("db")
    assert isinstance(lock, TaskLock)
    assert not lock.locked() and not huey.is_locked("db")
    assert lock.acquire() is True
    assert lock.locked() and lock.is_locked() and huey.is_locked("db")  # huey 3.5.4's two names.
    assert huey.get("test.lock.db", peek=True) == "1"  # The key and value huey 3.5.4 uses.
    with pytest.raises(TaskLockedException, match="db"):
        huey.lock_task("db").acquire()
    lock.release()
    assert not lock.locked()
    lock.acquire()
    assert lock.clear() is True and lock.clear() is False


def test_lock_as_context_manager(huey: MemoryHuey) -> None:
    with huey.lock_task("cm") as lock:
        assert lock.locked()
        with pytest.raises(TaskLockedException), huey.lock_task("cm"):
            pass
        assert lock.locked()  # A failed acquire does not release the holder's lock.
    assert not huey.is_locked("cm")
    with pytest.raises(ZeroDivisionError), huey.lock_task("cm"):
        1 / 0  # noqa: B018
    assert not huey.is_locked("cm")  # Released on errors too.


def test_locked_task_signals_and_stores_the_error(huey: MemoryHuey, signals: Any) -> None:
    @huey.task()
    @huey.lock_task("report")
    def report() -> str:
        assert huey.is_locked("report")  # Held while the body runs.
        return "done"

    r = report()
    assert huey.execute(huey.dequeue()) == "done"
    assert not huey.is_locked("report")
    huey.lock_task("report").acquire()
    r = report()
    signals.clear()
    assert huey.execute(huey.dequeue()) is None
    assert signals.names() == ["executing", "locked"]
    assert huey.is_locked("report")  # Still the other holder's.
    with pytest.raises(TaskException) as info:
        r.get()
    assert info.value.metadata["error"] == "TaskLockedException('unable to acquire lock report')"


def test_locked_task_with_retries_is_retried(huey: MemoryHuey, signals: Any) -> None:
    @huey.task(retries=1)
    @huey.lock_task("mylock")
    def locked() -> str:
        return "ran"

    lock = huey.lock_task("mylock")
    lock.acquire()
    r = locked()
    signals.clear()
    huey.execute(huey.dequeue())
    assert signals.take() == ["executing", "locked", "retrying", "enqueued"]
    assert huey.result_count() == 1  # Only the lock: a retried lock is not stored as an error.
    assert huey.pending()[0].retries == 0
    lock.release()
    assert huey.execute(huey.dequeue()) == "ran"
    assert r.get() == "ran"


def test_flush_locks(huey: MemoryHuey) -> None:
    @huey.task()
    @huey.lock_task("decorated")
    def job() -> None:
        pass

    @huey.task()
    def backup() -> None:
        with huey.lock_task("in-body"):
            pass

    # The same queue in another process, where the locks are held (by a worker that died).
    other = MemoryHuey("test")
    other.storage = huey.storage
    for name in ("decorated", "in-body", "third"):
        other.lock_task(name).acquire()
    assert huey.flush_locks() == {"decorated"}  # Decorator locks are known at import...
    assert huey.is_locked("in-body")
    assert huey.flush_locks("in-body", "missing") == {"in-body"}  # ...others can be named...
    assert huey.flush_locks() == set()  # (nothing held any more)
    other.lock_task("in-body").acquire()
    backup()
    huey.execute(huey.dequeue())  # Locked: but now the body has made its lock here...
    assert huey.flush_locks() == {"in-body"}  # ...so it is known (as in huey 3.5.4).
    assert huey.flush_locks("third") == {"third"}
    assert not any(huey.is_locked(n) for n in ("decorated", "in-body", "third"))


def _wait_unlocked(huey: MemoryHuey, name: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while huey.is_locked(name):
        assert time.monotonic() < deadline, f"lock {name!r} never expired"
        time.sleep(0.02)


def test_lock_with_ttl_frees_itself_when_never_released(huey: MemoryHuey) -> None:
    lock = huey.lock_task("killed", ttl=0.1)
    assert lock.ttl == 0.1
    lock.acquire()  # Its holder "dies": nobody releases it.
    with pytest.raises(TaskLockedException):
        huey.lock_task("killed", ttl=0.1).acquire()
    _wait_unlocked(huey, "killed")
    with huey.lock_task("killed", ttl=60) as again:
        assert again.is_locked()
    assert not huey.is_locked("killed")


def test_locked_task_with_ttl_runs_once_the_lock_expired(huey: MemoryHuey) -> None:
    @huey.task(retries=1)
    @huey.lock_task("report", ttl=0.1)
    def report() -> str:
        return "done"

    huey.lock_task("report", ttl=0.1).acquire()  # Left held by a dead worker.
    result = report()
    assert huey.execute(huey.dequeue()) is None  # Locked: retried later.
    _wait_unlocked(huey, "report")
    retry = huey.dequeue() or huey.scheduled()[0]
    assert huey.execute(retry) == "done"
    assert result.get() == "done"  # type: ignore[union-attr]


def test_put_if_empty_with_ttl_through_huey(huey: MemoryHuey) -> None:
    assert huey.put_if_empty("dedupe", {"job": 1}, ttl=60) is True
    assert huey.put_if_empty("dedupe", {"job": 2}, ttl=60) is False
    assert huey.get("dedupe", peek=True) == {"job": 1}
    assert huey.put_if_empty("short", 1, ttl=0.05) is True
    deadline = time.monotonic() + 30
    while huey.storage.has_data_for_key("short"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert huey.put_if_empty("short", 2) is True


def test_lock_ttl_is_checked_when_the_lock_is_made(huey: MemoryHuey) -> None:
    for ttl in (0, -5):
        with pytest.raises(ValueError, match="ttl"):
            huey.lock_task("bad", ttl=ttl)
    with pytest.raises(TypeError, match="ttl"):
        huey.lock_task("bad", ttl="soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        huey.put_if_empty("bad", 1, ttl=0)


def test_storage_without_ttl_parameter_still_takes_plain_locks() -> None:
    """A third-party storage written before ttl existed keeps working for locks without one."""

    class OldStorage(MemoryStorage):
        def put_if_empty(self, key, value):  # type: ignore[no-untyped-def, override]
            return super().put_if_empty(key, value)

    huey = MemoryHuey("old", storage_class=OldStorage)
    with huey.lock_task("plain"):
        assert huey.is_locked("plain")
    assert not huey.is_locked("plain")


# -- rate limits --------------------------------------------------------------------------------

PER = 86400  # A day: the tests' calls never straddle two windows (unless run at midnight UTC).


def next_window(huey: MemoryHuey, name: str) -> dt.datetime:
    window = huey.get(f"{huey.name}.rl.{name}.w", peek=True)
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=(window + 1) * PER)


def limited(huey: MemoryHuey, retry: bool, **task_options: Any) -> Any:
    @huey.task(**task_options)
    @huey.rate_limit("sync", limit=1, per=PER, retry=retry)
    def sync(i: int) -> int:
        return i

    return sync


def run_two(huey: MemoryHuey, task: Any, signals: Any) -> Any:
    """Run two calls of ``task``: the second is over the limit. Its result handle."""
    task(0)
    second = task(1)
    assert huey.execute(huey.dequeue()) == 0
    signals.clear()
    assert huey.execute(huey.dequeue()) is None
    return second


@pytest.mark.parametrize("retries", [0, 2])
def test_rate_limited_retry_true_reschedules_at_the_next_window_keeping_retries(
    huey: MemoryHuey, signals: Any, retries: int
) -> None:
    second = run_two(huey, limited(huey, True, retries=retries), signals)
    assert signals.names() == ["executing", "rate-limited", "retrying", "scheduled"]
    assert huey.result_count() == 2 and second.get() is None  # The window, the first value.
    (task,) = huey.scheduled()
    assert task.retries == retries
    assert abs((task.eta - next_window(huey, "sync")).total_seconds()) < 1


def test_rate_limited_retry_true_honours_retry_delay(
    huey: MemoryHuey, signals: Any, later: Any
) -> None:
    run_two(huey, limited(huey, True, retry_delay=120), signals)
    (task,) = huey.scheduled()
    assert later(119) < task.eta < later(121) and task.retries == 0


def test_rate_limited_retry_false_without_retries_fails(huey: MemoryHuey, signals: Any) -> None:
    second = run_two(huey, limited(huey, False), signals)
    assert signals.names() == ["executing", "rate-limited"]
    assert huey.scheduled_count() == 0 and huey.pending_count() == 0
    with pytest.raises(TaskException) as info:
        second.get()
    assert info.value.metadata["error"].startswith("RateLimitExceeded('sync', ")
    assert info.value.metadata["error"].endswith(", False)")


def test_rate_limited_retry_false_uses_the_task_retries(
    huey: MemoryHuey, signals: Any, later: Any
) -> None:
    run_two(huey, limited(huey, False, retries=2), signals)
    assert signals.names() == ["executing", "rate-limited", "retrying", "scheduled"]
    (task,) = huey.scheduled()
    assert task.retries == 1  # Used up like any retry...
    assert abs((task.eta - next_window(huey, "sync")).total_seconds()) < 1
    huey.flush()
    run_two(huey, limited(huey, False, retries=2, retry_delay=120, name="sync2"), signals)
    (task,) = huey.scheduled()
    assert task.retries == 1 and later(119) < task.eta < later(121)  # ...with its retry_delay.


def test_rate_limit_exceeded_reads_as_in_huey_and_pickles() -> None:
    import pickle

    exc = pickle.loads(pickle.dumps(RateLimitExceeded("k", 12.5, False)))
    assert (exc.key, exc.delay, exc.retry) == ("k", 12.5, False)
    assert str(exc) == 'Rate limit exceeded on "k"'
    assert str(RateLimitExceeded("k", 12.53)) == 'Rate limit exceeded on "k", retry in 12.5s'


def test_rate_limit_api(huey: MemoryHuey) -> None:
    rl = huey.rate_limit("api", limit=2, per=PER)
    assert isinstance(rl, RateLimit) and rl.current_usage() == 0
    rl.acquire()
    with rl:
        pass
    assert rl.current_usage() == 2
    assert huey.get("test.rl.api.w", peek=True) == int(time.time()) // PER
    assert huey.storage.incr("test.rl.api", 0) == 2
    with pytest.raises(RateLimitExceeded) as info:
        rl.acquire()
    exc = info.value
    assert (exc.key, exc.retry) == ("api", True)
    assert 0 < exc.delay <= PER
    assert rl.current_usage() == 3  # Every acquisition counts.
    rl.reset()
    assert rl.current_usage() == 0
    rl.acquire()  # A fresh window.
    assert rl.current_usage() == 1
    with pytest.raises(RateLimitExceeded) as info:
        huey.rate_limit("api", limit=1, per=PER, retry=False).acquire()
    assert info.value.retry is False


def test_rate_limit_windows_roll_over(huey: MemoryHuey) -> None:
    rl = huey.rate_limit("short", limit=1, per=1)
    rl.acquire()
    # Pretend the window passed: the stored window is no longer the current one.
    huey.put("test.rl.short.w", int(time.time()) - 10)
    assert rl.current_usage() == 0
    rl.acquire()
    assert rl.current_usage() == 1


def test_rate_limit_arguments(huey: MemoryHuey) -> None:
    with pytest.raises(ValueError):
        huey.rate_limit("x", limit=-1, per=10)
    with pytest.raises(ValueError):
        huey.rate_limit("x", limit=1, per=0)


def test_rate_limit_of_zero_refuses_every_call(huey: MemoryHuey) -> None:
    # huey 3.5.4 accepts limit=0: a switch that turns a task away until the limit is raised.
    with pytest.raises(RateLimitExceeded):
        huey.rate_limit("closed", limit=0, per=PER).acquire()
