"""FileStorage specifics: on-disk layout, ordering encoded in file names, crash leftovers,
sharding, and locking across real processes and threads."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import shutil
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from huey import FileHuey
from huey.constants import EmptyData
from huey.storage import FileStorage

if not hasattr(os, "fork"):  # pragma: no cover
    pytest.skip("the cross-process tests fork", allow_module_level=True)

FORK = multiprocessing.get_context("fork")
AWKWARD_KEYS = [
    "plain",
    "a/b/c",
    "/absolute",
    "../../escape",
    "..",
    ".",
    ".hidden",
    "",
    "colon:separated:key",
    "spaces and\ttabs\nand newlines",
    "caf\u00e9 \u65e5\u672c \U0001f600",
    "Key",
    "key",
    "nul\x00byte",
    "lone \udcff surrogate",
    "x" * 5000,
]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def run_processes(target: Any, args_list: list[tuple[Any, ...]], timeout: float = 60) -> None:
    procs = [FORK.Process(target=target, args=args) for args in args_list]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout)
    for proc in procs:
        if proc.is_alive():  # pragma: no cover - only on a hang
            proc.kill()
    assert [proc.exitcode for proc in procs] == [0] * len(procs)


@pytest.fixture
def storage(tmp_path: Path) -> FileStorage:
    return FileStorage("test", path=tmp_path / "data")


# -- construction ------------------------------------------------------------------------------
def test_signature_and_directories(tmp_path: Path) -> None:
    root = tmp_path / "does" / "not" / "exist"
    storage = FileStorage("q", str(root), 3, False)  # The documented positional order.
    assert (storage.name, storage.levels, storage.use_thread_lock) == ("q", 3, False)
    assert {p.name for p in root.iterdir() if p.is_dir()} == {
        "queue",
        "schedule",
        "results",
        "counters",
    }
    storage.enqueue(b"m")
    assert FileStorage(path=root).dequeue() == b"m"  # name defaults; path is the identity.


def test_unknown_kwargs_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="bogus, colour"):
        FileStorage("q", path=tmp_path, colour="red", bogus=1)
    with pytest.raises(TypeError, match="path"):
        FileStorage("q")
    with pytest.raises(ValueError, match="levels"):
        FileStorage("q", path=tmp_path, levels=-1)
    with pytest.raises(TypeError, match="levels"):
        FileStorage("q", path=tmp_path, levels="2")  # type: ignore[arg-type]


def test_directories_removed_while_running_are_recreated(storage: FileStorage) -> None:
    storage.enqueue(b"first")
    storage.put_data("k", b"v")
    shutil.rmtree(storage.path)
    assert storage.dequeue() is None
    storage.enqueue(b"again")
    storage.put_data("k", b"v2")
    assert storage.incr("c", 3) == 3
    assert (storage.dequeue(), storage.peek_data("k")) == (b"again", b"v2")


# -- queue -------------------------------------------------------------------------------------
def test_fifo_for_many_quick_enqueues_and_across_instances(tmp_path: Path) -> None:
    first = FileStorage(path=tmp_path)
    second = FileStorage(path=tmp_path)
    messages = [b"m%03d" % i for i in range(300)]
    for i, message in enumerate(messages):  # Alternate writers: order is global, not per object.
        (first if i % 2 else second).enqueue(message)
    assert first.queue_size() == second.queue_size() == 300
    assert second.enqueued_items(5) == messages[:5]
    assert [first.dequeue() for _ in messages] == messages
    assert first.dequeue() is None


def test_priority_order_fifo_within_priority(storage: FileStorage) -> None:
    entries = [
        (b"none-1", None),
        (b"neg-big", -1e9),
        (b"p10-1", 10),
        (b"half", 0.5),
        (b"zero", 0),
        (b"neg-1", -1),
        (b"p10-2", 10),
        (b"huge", 2**60),
        (b"neg-half", -0.5),
        (b"none-2", None),
        (b"neg-zero", -0.0),
        (b"p10-3", 10.0),
    ]
    for data, priority in entries:
        storage.enqueue(data, priority)
    expected = [
        b"huge",
        b"p10-1",
        b"p10-2",
        b"p10-3",
        b"half",
        b"none-1",
        b"zero",
        b"none-2",
        b"neg-zero",
        b"neg-half",
        b"neg-1",
        b"neg-big",
    ]
    assert storage.enqueued_items() == expected
    assert storage.enqueued_items(limit=3) == expected[:3]
    assert [storage.dequeue() for _ in entries] == expected


def test_queue_message_files_and_crash_leftovers(storage: FileStorage) -> None:
    queue_dir = Path(storage.path, "queue")
    storage.enqueue(b"\x00binary\xff" * 1000)
    storage.enqueue(b"")
    assert len(list(queue_dir.iterdir())) == 2
    # A temporary file left by a writer that died before os.replace must never be delivered.
    (queue_dir / ".tmp-deadbeef").write_bytes(b"half a mess")
    assert storage.queue_size() == 2
    assert storage.enqueued_items() == [b"\x00binary\xff" * 1000, b""]
    assert storage.dequeue() == b"\x00binary\xff" * 1000
    assert storage.dequeue() == b""  # An empty message is still a message.
    assert storage.dequeue() is None
    storage.enqueue(b"x")
    storage.flush_queue()
    assert list(queue_dir.iterdir()) == []  # Flushing also clears crash leftovers.


def test_queue_size_does_not_read_messages(storage: FileStorage) -> None:
    for i in range(3):
        storage.enqueue(b"m%d" % i)
    # Swap each message for a directory of the same name: opening one to read it would raise
    # IsADirectoryError (even as root), listing does not.
    for message in list(Path(storage.path, "queue").iterdir()):
        message.unlink()
        message.mkdir()
    assert storage.queue_size() == 3
    with pytest.raises(IsADirectoryError):
        storage.enqueued_items()


# -- schedule ----------------------------------------------------------------------------------
def test_schedule_ordering_and_cutoff(storage: FileStorage) -> None:
    base = dt.datetime(2024, 3, 1, 12, 0, 0)
    entries = [
        (b"+1h", base + dt.timedelta(hours=1)),
        (b"pre-epoch", dt.datetime(1960, 1, 1)),
        (b"+1us", base + dt.timedelta(microseconds=1)),
        (b"base-a", base),
        (b"-1s", base - dt.timedelta(seconds=1)),
        (b"base-b", base),
        (b"far", dt.datetime(2200, 1, 1)),
    ]
    for data, ts in entries:
        storage.add_to_schedule(data, ts)
    soonest_first = [b"pre-epoch", b"-1s", b"base-a", b"base-b", b"+1us", b"+1h", b"far"]
    assert storage.scheduled_items() == soonest_first
    assert storage.scheduled_items(2) == soonest_first[:2]
    assert storage.read_schedule(base - dt.timedelta(microseconds=1)) == [b"pre-epoch", b"-1s"]
    assert storage.read_schedule(base) == [b"base-a", b"base-b"]  # Due exactly at the cutoff.
    assert storage.read_schedule(base) == []
    assert storage.schedule_size() == 3
    assert storage.read_schedule(dt.datetime(2100, 1, 1)) == [b"+1us", b"+1h"]
    assert storage.scheduled_items() == [b"far"]


def test_schedule_is_shared_between_instances(tmp_path: Path) -> None:
    FileStorage(path=tmp_path).add_to_schedule(b"later", dt.datetime(2030, 1, 1))
    other = FileStorage(path=tmp_path)
    assert other.read_schedule(dt.datetime(2029, 12, 31, 23, 59, 59)) == []
    assert other.read_schedule(dt.datetime(2030, 1, 1)) == [b"later"]
    assert FileStorage(path=tmp_path).schedule_size() == 0


# -- key/value store ---------------------------------------------------------------------------
def test_awkward_keys_round_trip_and_stay_inside_results(tmp_path: Path) -> None:
    root = tmp_path / "inner" / "data"
    storage = FileStorage(path=root)
    values = {key: b"value of %d" % i for i, key in enumerate(AWKWARD_KEYS)}
    for key, value in values.items():
        storage.put_data(key, value)
    assert storage.result_store_size() == len(AWKWARD_KEYS)
    # Keys never become paths: every file lives under results/, nothing escapes the root.
    outside = [p for p in files_under(tmp_path) if root / "results" not in p.parents]
    assert outside == [root / ".lock"]
    reopened = FileStorage(path=root)
    assert reopened.result_items() == values  # Original keys are recovered from the files.
    for key, value in values.items():
        assert reopened.has_data_for_key(key)
        assert reopened.peek_data(key) == value
    assert reopened.pop_data("a/b/c") == values["a/b/c"]
    assert reopened.pop_data("a/b/c") is EmptyData
    assert reopened.delete_data("..") is True
    assert reopened.delete_data("..") is False
    assert reopened.peek_data("key") == values["key"]  # Case-distinct keys stay distinct.
    assert reopened.peek_data("Key") == values["Key"]
    assert reopened.result_store_size() == len(AWKWARD_KEYS) - 2
    reopened.flush_results()
    assert reopened.result_items() == {}
    assert [p for p in (root / "results").rglob("*")] == []


def test_values_overwrite_and_binary_values(storage: FileStorage) -> None:
    storage.put_data("k", b"\x00\x01" * 10_000, is_result=True)
    storage.put_data("k", b"")
    assert storage.peek_data("k") == b""  # Empty bytes is a value, not EmptyData.
    assert storage.has_data_for_key("k")
    assert storage.put_if_empty("k", b"other") is False
    assert storage.pop_data("k") == b""
    assert storage.has_data_for_key("k") is False
    assert storage.put_if_empty("k", b"other") is True
    assert storage.peek_data("k") == b"other"


def test_a_result_file_cut_short_holds_no_entry(storage: FileStorage, tmp_path: Path) -> None:
    # Damaged outside the storage (files are written whole, then renamed): huey 3.5.4 skips it.
    storage.put_data("k1", b"v1")
    storage.put_data("k2", b"v2")
    results = files_under(tmp_path / "data" / "results")
    [damaged] = [path for path in results if b"k2" in path.read_bytes()]
    damaged.write_bytes(struct.pack(">I", 8) + b"k2")  # The key should be 8 bytes long.
    assert storage.result_items() == {"k1": b"v1"}
    assert storage.peek_data("k2") is EmptyData
    assert storage.pop_data("k2") is EmptyData


@pytest.mark.parametrize("levels", [0, 1, 3])
def test_levels_shard_results_into_nested_directories(tmp_path: Path, levels: int) -> None:
    storage = FileStorage(path=tmp_path, levels=levels)
    for i in range(20):
        storage.put_data(f"key-{i}", b"v")
    results = tmp_path / "results"
    stored = files_under(results)
    assert len(stored) == 20
    for path in stored:
        shards = path.relative_to(results).parts[:-1]
        assert len(shards) == levels
        assert all(len(shard) == 2 and path.name.startswith("".join(shards)) for shard in shards)
    if levels:  # Twenty hashed keys spread over more than one top-level shard.
        assert len([p for p in results.iterdir() if p.is_dir()]) > 1
    assert storage.result_items() == {f"key-{i}": b"v" for i in range(20)}


# -- counters ----------------------------------------------------------------------------------
def test_counters_are_files_per_key(storage: FileStorage) -> None:
    assert storage.incr("a/../b") == 1
    assert storage.incr("a/../b", 5) == 6
    assert storage.incr("a/../b", -2) == 4
    assert storage.incr("a/../b", 0) == 4
    assert storage.incr("other", 0) == 0
    assert len(list(Path(storage.path, "counters").iterdir())) == 1  # A read writes nothing.
    assert FileStorage(path=storage.path).incr("a/../b") == 5
    storage.delete_counter("a/../b")
    assert storage.incr("a/../b") == 1
    storage.flush_counters()
    assert list(Path(storage.path, "counters").iterdir()) == []
    assert storage.incr("a/../b") == 1


# -- processes ---------------------------------------------------------------------------------
def _incr_worker(storage: FileStorage | None, path: str, barrier: Any, times: int) -> None:
    storage = storage or FileStorage(path=path)
    barrier.wait()
    for _ in range(times):
        storage.incr("shared")


@pytest.mark.parametrize("inherited", [True, False], ids=["forked-instance", "own-instance"])
def test_incr_across_processes(tmp_path: Path, inherited: bool) -> None:
    # A forked consumer inherits the parent's storage; the lock must still exclude siblings.
    parent = FileStorage(path=tmp_path)
    parent.incr("shared", 0)
    barrier = FORK.Barrier(4)
    args = [(parent if inherited else None, str(tmp_path), barrier, 200) for _ in range(4)]
    run_processes(_incr_worker, args)
    assert parent.incr("shared", 0) == 800


def _put_if_empty_worker(path: str, barrier: Any, worker: int, keys: int, out: Any) -> None:
    storage = FileStorage(path=path)
    barrier.wait()
    out.put((worker, [storage.put_if_empty(f"lock:{k}", b"%d" % worker) for k in range(keys)]))


def test_put_if_empty_across_processes(tmp_path: Path) -> None:
    barrier, out, keys = FORK.Barrier(4), FORK.Queue(), 60
    run_processes(_put_if_empty_worker, [(str(tmp_path), barrier, w, keys, out) for w in range(4)])
    wins = dict(out.get(timeout=10) for _ in range(4))
    storage = FileStorage(path=tmp_path)
    for k in range(keys):
        winners = [w for w in range(4) if wins[w][k]]
        assert len(winners) == 1, f"key {k} won by {winners}"
        assert storage.peek_data(f"lock:{k}") == b"%d" % winners[0]


def _dequeue_worker(path: str, barrier: Any, done: Any, out: Any) -> None:
    storage = FileStorage(path=path)
    barrier.wait()
    got = []
    while True:
        message = storage.dequeue()
        if message is None:
            if not done.is_set():
                time.sleep(0.001)
                continue
            message = storage.dequeue()  # Producers finished: one more look, then stop.
            if message is None:
                break
        got.append(message)
    out.put(got)


def _enqueue_worker(path: str, barrier: Any, producer: int, count: int) -> None:
    storage = FileStorage(path=path)
    barrier.wait()
    for i in range(count):
        storage.enqueue(b"p%d-%04d" % (producer, i))


def test_concurrent_dequeue_delivers_each_message_once(tmp_path: Path) -> None:
    storage = FileStorage(path=tmp_path)
    messages = [b"m%04d" % i for i in range(400)]
    for message in messages:
        storage.enqueue(message)
    barrier, done, out = FORK.Barrier(4), FORK.Event(), FORK.Queue()
    done.set()
    run_processes(_dequeue_worker, [(str(tmp_path), barrier, done, out) for _ in range(4)])
    batches = [out.get(timeout=10) for _ in range(4)]
    assert sorted(m for batch in batches for m in batch) == messages
    assert all(batch == sorted(batch) for batch in batches)  # Each saw FIFO order.
    assert storage.queue_size() == 0


def test_concurrent_producers_and_consumers(tmp_path: Path) -> None:
    barrier, done, out = FORK.Barrier(5), FORK.Event(), FORK.Queue()
    consumers = [
        FORK.Process(target=_dequeue_worker, args=(str(tmp_path), barrier, done, out))
        for _ in range(3)
    ]
    for proc in consumers:
        proc.start()
    run_processes(_enqueue_worker, [(str(tmp_path), barrier, p, 150) for p in range(2)])
    done.set()
    batches = [out.get(timeout=60) for _ in range(3)]
    for proc in consumers:
        proc.join(30)
    assert [proc.exitcode for proc in consumers] == [0, 0, 0]
    expected = sorted(b"p%d-%04d" % (p, i) for p in range(2) for i in range(150))
    assert sorted(m for batch in batches for m in batch) == expected
    for batch in batches:  # Per producer, every consumer received messages in enqueue order.
        for p in range(2):
            mine = [m for m in batch if m.startswith(b"p%d-" % p)]
            assert mine == sorted(mine)


# -- threads -----------------------------------------------------------------------------------
def _hammer(storages: list[FileStorage], threads: int, times: int) -> None:
    barrier = threading.Barrier(threads)

    def work(storage: FileStorage) -> None:
        barrier.wait()
        for _ in range(times):
            storage.incr("n")

    workers = [
        threading.Thread(target=work, args=(storages[i % len(storages)],)) for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_use_thread_lock_with_threads(tmp_path: Path) -> None:
    # Two instances on one path (like Huey.get_storage() copies) must share the thread lock.
    storages = [FileStorage(path=tmp_path, use_thread_lock=True) for _ in range(2)]
    _hammer(storages, threads=8, times=150)
    assert storages[0].incr("n", 0) == 1200
    assert not (tmp_path / ".lock").exists()  # No lock file: the threading.Lock did the work.

    for i in range(200):
        storages[0].enqueue(b"%04d" % i)
    got: list[bytes] = []

    def drain(storage: FileStorage) -> None:
        while (message := storage.dequeue()) is not None:
            got.append(message)

    workers = [threading.Thread(target=drain, args=(storages[i % 2],)) for i in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(got) == [b"%04d" % i for i in range(200)]


def test_file_lock_also_excludes_threads_of_one_process(tmp_path: Path) -> None:
    storage = FileStorage(path=tmp_path)
    _hammer([storage], threads=8, times=100)
    assert storage.incr("n", 0) == 800
    assert (tmp_path / ".lock").exists()


# -- FileHuey ----------------------------------------------------------------------------------
def test_file_huey_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "huey"
    producer = FileHuey("app", path=str(root), levels=1)
    consumer = FileHuey("app", path=str(root), levels=1)  # As a separate consumer would.
    assert isinstance(producer.storage, FileStorage)
    assert producer.storage.levels == 1

    def add(a: int, b: int) -> int:
        return a + b

    add_p = producer.task(name="add")(add)
    consumer.task(name="add")(add)

    plain = add_p(1, 2)
    urgent = add_p(40, 2, priority=5)
    later = add_p.schedule((2, 3), delay=3600)
    assert plain is not None and urgent is not None and later is not None
    assert consumer.storage.queue_size() == 3
    assert len(list((root / "queue").iterdir())) == 3

    first = consumer.dequeue()
    assert first is not None and first.args == (40, 2)  # Priority beats arrival order.
    consumer.execute(first)
    while (task := consumer.dequeue()) is not None:
        consumer.execute(task)  # The delayed task goes to the schedule instead of running.
    assert consumer.storage.schedule_size() == 1
    assert len(list((root / "schedule").iterdir())) == 1
    stored = [p.relative_to(root).parts for p in files_under(root / "results")]
    assert len(stored) == 2 and all(len(parts) == 3 for parts in stored)  # results/<aa>/<hash>
    assert urgent.get() == 42
    assert plain.get() == 3
    assert producer.storage.result_store_size() == 0  # get() consumed the results.

    due = consumer.read_schedule(
        dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=2)
    )
    assert [t.args for t in due] == [(2, 3)]
    consumer.execute(due[0], dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=2))
    assert later.get() == 5
