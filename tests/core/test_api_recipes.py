"""The recipes of the reference that need no consumer, run as written there."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import threading
import time
from typing import Any

import pytest

from huey import CancelExecution, MemoryHuey, chord, crontab
from huey.api import Task
from huey.exceptions import MessageError, TaskException
from huey.serializer import SignedSerializer
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR, SIGNAL_EXECUTING, SIGNAL_INTERRUPTED
from huey.utils import utcnow


def test_key_value_storage(huey: MemoryHuey, drain: Any) -> None:
    @huey.task()
    def calculate_something(new: list[int]) -> list[int]:
        prev_results = huey.get("calculate-something.result", peek=True)
        data = new if prev_results is None else prev_results + new
        huey.put("calculate-something.result", data)
        return data

    calculate_something([1])
    calculate_something([2, 3])
    assert drain() == [[1], [1, 2, 3]]
    assert huey.get("calculate-something.result", peek=True) == [1, 2, 3]


def test_exponential_backoff_with_context(huey: MemoryHuey) -> None:
    def exp_backoff_task(retries: int = 10, retry_backoff: float = 1.15) -> Any:
        def deco(fn: Any) -> Any:
            @functools.wraps(fn)
            def inner(*args: Any, **kwargs: Any) -> Any:
                task = kwargs.pop("task")
                try:
                    return fn(*args, **kwargs)
                except Exception:
                    task.retry_delay *= retry_backoff
                    raise

            return huey.task(retries=retries, retry_delay=1, context=True)(inner)

        return deco

    @exp_backoff_task(retries=5, retry_backoff=2)
    def call_external_api(endpoint: str) -> None:
        raise ConnectionError(endpoint)

    call_external_api("/x")
    task = huey.dequeue()
    delays = []
    while task is not None:
        huey.execute(task, task.eta)
        due = huey.read_schedule(utcnow() + dt.timedelta(days=1))
        if due:
            delays.append(round((due[0].eta - utcnow()).total_seconds()))
        task = due[0] if due else None
    assert delays == [2, 4, 8, 16, 32]  # As in the recipe's retry schedule.


def test_deterministic_ids(huey: MemoryHuey, drain: Any, later: Any) -> None:
    @huey.task()
    def sync_user(user_id: int) -> str:
        return f"synced {user_id}"

    for _ in range(2):
        sync_user.schedule(args=(7,), delay=5, id="sync-user-7")
    # Not de-duplicated in the queue: both messages exist...
    assert [t.id for t in huey.pending()] == ["sync-user-7", "sync-user-7"]
    drain(timestamp=later(6))
    # ...but the result store tracks one result for the id.
    assert huey.result_count() == 1
    assert huey.result("sync-user-7") == "synced 7"


def test_progress_tracking(huey: MemoryHuey) -> None:
    progress_seen: list[Any] = []

    @huey.task(context=True)
    def process_large_file(lines: list[str], task: Task) -> list[str]:
        total = len(lines)
        results = []
        for i, line in enumerate(lines):
            results.append(line.upper())
            if i % 100 == 0:
                huey.put(
                    f"progress:{task.id}", {"current": i, "total": total, "pct": 100 * i // total}
                )
                progress_seen.append(huey.get(f"progress:{task.id}", peek=True))
        huey.put(f"progress:{task.id}", {"current": total, "total": total, "pct": 100})
        return results

    result = process_large_file([f"line {i}" for i in range(250)])
    huey.execute(huey.dequeue())
    assert [p["pct"] for p in progress_seen] == [0, 40, 80]
    progress = huey.get(f"progress:{result.id}", peek=True)
    assert progress == {"current": 250, "total": 250, "pct": 100}
    assert huey.delete(f"progress:{result.id}") is True
    assert len(result.get()) == 250


def test_custom_error_metadata(drain: Any) -> None:
    class MyHuey(MemoryHuey):
        def build_error_result(self, task: Any, exception: BaseException) -> dict[str, Any]:
            err = super().build_error_result(task, exception)
            err["task_name"] = task.name
            err["task_args"] = task.args
            err["task_kwargs"] = task.kwargs
            return err

    huey = MyHuey("my-app")

    @huey.task()
    def failing_task(arg: str) -> None:
        raise ValueError(arg)

    result = failing_task("some-arg")
    drain(huey)
    with pytest.raises(TaskException) as info:
        result.get(blocking=True, timeout=10)
    assert info.value.metadata["task_name"] == failing_task.name
    assert info.value.metadata["task_args"] == ("some-arg",)
    assert info.value.metadata["task_kwargs"] == {}
    assert "Traceback" in info.value.metadata["traceback"]


def test_task_deduplication(huey: MemoryHuey, signals: Any) -> None:
    def dedup_key(task: Task) -> str:
        digest = hashlib.md5(repr(task.data).encode()).hexdigest()
        return f"dedup:{task.name}:{digest}"

    @huey.pre_execute()
    def deduplicate(task: Task) -> None:
        if not huey.put_if_empty(dedup_key(task), "1"):
            raise CancelExecution("Duplicate task, skipping")

    @huey.post_execute()
    def clear_dedup(task: Task, task_value: Any, exc: BaseException | None) -> None:
        huey.delete(dedup_key(task))

    runs: list[int] = []
    inner_results: list[Any] = []

    @huey.task()
    def work(n: int) -> int:
        # A duplicate arriving while this one runs is canceled.
        duplicate = huey.deserialize_task(huey.serialize_task(work.s(n)))
        inner_results.append(huey.execute(duplicate))
        runs.append(n)
        return n

    work(1)
    signals.clear()
    assert huey.execute(huey.dequeue()) == 1
    assert runs == [1] and inner_results == [None]
    assert signals.names() == ["executing", "executing", "canceled", "complete"]
    assert huey.result_count() == 1  # Only the result: the dedup key was cleared.
    work(1)
    assert huey.execute(huey.dequeue()) == 1  # Same arguments run again later.


def test_signed_serializer_rejects_a_tampered_message(drain: Any) -> None:
    huey = MemoryHuey("signed", serializer=SignedSerializer(secret="my-secret-key"))

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    add(1, 2)
    add(3, 4)
    good = huey.storage.dequeue()
    tampered = good.replace(b"\x4b\x01", b"\x4b\x09", 1)  # The pickled 1 becomes a 9.
    assert tampered != good
    huey.storage.enqueue(tampered)
    second = huey.dequeue()
    assert second is not None and second.args == (3, 4)
    with pytest.raises(MessageError, match=r"(?i)signature|tamper|hmac") as info:
        huey.dequeue()  # Clear error, not a hang; the message is in the error.
    assert info.value.data == tampered
    assert huey.dequeue() is None
    huey.storage.enqueue(good)  # Nothing was lost: the untampered message still runs.
    assert drain(huey) == [3]
    other = MemoryHuey("signed", serializer=SignedSerializer(secret="other-secret"))
    other.storage = huey.storage
    other.task(name=add.name)(lambda a, b: a + b)
    add(5, 6)
    with pytest.raises(MessageError):
        other.dequeue()


def test_monitoring_queue_depth(huey: MemoryHuey, later: Any) -> None:
    @huey.task()
    def job(n: int) -> int:
        return n

    def get_queue_stats() -> dict[str, int]:
        return {
            "pending": huey.pending_count(),
            "scheduled": huey.scheduled_count(),
            "results": huey.result_count(),
        }

    job(1)
    job(2)
    job.schedule((3,), delay=60)
    huey.execute(huey.dequeue())
    huey.execute(huey.dequeue())
    huey.execute(huey.dequeue())  # Not due: moved to the schedule.
    assert get_queue_stats() == {"pending": 0, "scheduled": 1, "results": 2}
    job(4)
    assert get_queue_stats()["pending"] == 1
    assert [(t.name, t.args) for t in huey.pending()] == [(job.name, (4,))]
    assert [(t.args, t.eta > utcnow()) for t in huey.scheduled()] == [((3,), True)]


def test_signals_for_task_metrics(huey: MemoryHuey, drain: Any) -> None:
    starts: dict[str, float] = {}
    timings: list[tuple[str, str]] = []

    @huey.signal(SIGNAL_EXECUTING)
    def on_executing(signal: str, task: Task) -> None:
        starts[task.id] = time.monotonic()

    @huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)
    def on_finished(signal: str, task: Task, exc: BaseException | None = None) -> None:
        start = starts.pop(task.id, None)
        if start is not None:
            timings.append((task.name, "error" if signal == "error" else "ok"))

    @huey.task()
    def ok() -> None:
        pass

    @huey.task()
    def bad() -> None:
        raise ValueError

    ok()
    bad()
    drain()
    assert timings == [(ok.name, "ok"), (bad.name, "error")] and starts == {}


def test_reenqueue_interrupted_tasks(huey: MemoryHuey) -> None:
    @huey.signal(SIGNAL_INTERRUPTED)
    def on_interrupted(signal: str, task: Task, *args: Any, **kwargs: Any) -> None:
        huey.enqueue(task)

    started, release = threading.Event(), threading.Event()

    @huey.task()
    def long_job(n: int) -> int:
        started.set()
        release.wait(5)
        return n

    r = long_job(5)
    worker = threading.Thread(target=huey.execute, args=(huey.dequeue(),))
    worker.start()
    started.wait(5)
    huey.notify_interrupted_tasks()  # What the consumer does when stopped with SIGTERM.
    release.set()
    worker.join()
    (again,) = huey.pending()
    assert again.id == r.id and again.args == (5,)


def test_dynamic_fan_out(huey: MemoryHuey, drain: Any) -> None:
    @huey.task()
    def fetch_page(url: str) -> dict[str, int]:
        return {url: len(url)}

    @huey.task()
    def aggregate(results: list[dict[str, int]]) -> dict[str, int]:
        combined: dict[str, int] = {}
        for page_data in results:
            combined.update(page_data)
        return combined

    @huey.task()
    def discover_and_fetch(urls: list[str]) -> None:
        result = huey.enqueue(chord([fetch_page.s(u) for u in urls], aggregate.s()))
        huey.put("fanout-result-id", result.callback.id)

    discover_and_fetch(["/a", "/bb"])
    drain()
    assert huey.result(huey.get("fanout-result-id")) == {"/a": 2, "/bb": 3}


def test_run_arbitrary_functions_as_tasks(huey: MemoryHuey, drain: Any) -> None:
    from importlib import import_module

    @huey.task()
    def path_task(path: str, *args: Any, **kwargs: Any) -> Any:
        module_path, name = path.rsplit(".", 1)
        return getattr(import_module(module_path), name)(*args, **kwargs)

    r = path_task("os.path.join", "a", "b")
    drain()
    assert r.get() == "a/b"


def test_dynamic_periodic_tasks(huey: MemoryHuey, drain: Any) -> None:
    messages: list[str] = []

    @huey.task()
    def schedule_message(message: str, cron_minutes: str, cron_hours: str = "*") -> None:
        def wrapper() -> None:
            messages.append(message)

        huey.periodic_task(crontab(cron_minutes, cron_hours), name=f"dynamic_{message}")(wrapper)

    schedule_message("every five", "*/5")
    drain()
    (task,) = huey.read_periodic(dt.datetime(2030, 1, 1, 10, 5))
    assert task.name == "dynamic_every five"
    assert huey.read_periodic(dt.datetime(2030, 1, 1, 10, 6)) == []
    huey.enqueue(task)
    drain()
    assert messages == ["every five"]
