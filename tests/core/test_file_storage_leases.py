"""FileStorage leases and dead letters: the on-disk layout, real processes sharing one
directory, and what a crash leaves behind."""

from __future__ import annotations

import multiprocessing
import os
import signal
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from huey.storage import FileStorage

if not hasattr(os, "fork"):  # pragma: no cover
    pytest.skip("the cross-process tests fork", allow_module_level=True)

FORK = multiprocessing.get_context("fork")
LONG = 60.0
HEADER = struct.Struct(">dI")  # The lease file header: deadline (time.time()), deliveries.


def visible(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


@pytest.fixture
def storage(tmp_path: Path) -> FileStorage:
    return FileStorage(path=tmp_path / "files")


def test_lease_file_layout(storage: FileStorage, tmp_path: Path) -> None:
    leases = tmp_path / "files" / "leases"
    storage.enqueue(b"payload\x00\xff")
    before = time.time()
    lease = storage.lease(30)
    assert lease is not None
    assert visible(leases) == [lease.id]
    assert visible(tmp_path / "files" / "queue") == []
    blob = (leases / lease.id).read_bytes()
    deadline, deliveries = HEADER.unpack_from(blob)
    assert before + 30 <= deadline <= time.time() + 30
    assert deliveries == 1
    assert blob[HEADER.size :] == b"payload\x00\xff"

    assert storage.extend_lease(lease.id, 120) is True
    deadline, deliveries = HEADER.unpack_from((leases / lease.id).read_bytes())
    assert deadline >= before + 120 and deliveries == 1
    assert storage.ack(lease.id) is True
    assert visible(leases) == []


def test_lease_ids_never_name_files_outside_leases(storage: FileStorage, tmp_path: Path) -> None:
    storage.enqueue(b"queued")
    (queued,) = visible(tmp_path / "files" / "queue")
    for lease_id in (f"../queue/{queued}", queued, "", ".", "..", "A" * 32, "g" * 32, 42):
        assert storage.ack(lease_id) is False  # type: ignore[arg-type]
        assert storage.extend_lease(lease_id, 0) is False  # type: ignore[arg-type]
    assert storage.queue_size() == 1


def test_leases_and_dead_letters_are_shared_by_instances_on_one_path(tmp_path: Path) -> None:
    one, two = FileStorage(path=tmp_path), FileStorage("other", path=tmp_path)
    one.enqueue(b"m")
    lease = one.lease(LONG)
    assert lease is not None
    assert two.lease_count() == 1
    assert two.ack(lease.id) is True
    one.add_dead_letter("task-id", b"record")
    assert two.dead_letter_items() == {"task-id": b"record"}


def test_dead_letter_files_store_their_keys(storage: FileStorage, tmp_path: Path) -> None:
    keys = ["plain", "../../escape", ".hidden", "", "nul\x00byte", "lone \udcff surrogate"]
    for index, key in enumerate(keys):
        storage.add_dead_letter(key, b"record %d" % index)
    assert len(visible(tmp_path / "files" / "dead_letters")) == len(keys)
    assert storage.dead_letter_items() == {key: b"record %d" % i for i, key in enumerate(keys)}
    assert storage.result_items() == {}
    fresh = FileStorage(path=tmp_path / "files")
    assert fresh.dead_letter_count() == len(keys)
    assert fresh.delete_dead_letter("../../escape") is True
    assert fresh.dead_letter_count() == len(keys) - 1


def test_thread_lock_mode_leases(tmp_path: Path) -> None:
    storage = FileStorage(path=tmp_path, use_thread_lock=True)
    storage.enqueue(b"m")
    lease = storage.lease(LONG)
    assert lease is not None and storage.lease(LONG) is None
    assert storage.ack(lease.id) is True


# -- crash leftovers ---------------------------------------------------------------------------
def test_crash_left_temp_files_are_ignored(storage: FileStorage, tmp_path: Path) -> None:
    root = tmp_path / "files"
    for directory in ("leases", "dead_letters"):  # Created on first use, so by the crashed run.
        (root / directory).mkdir(exist_ok=True)
    # A crash inside _write leaves a dot-prefixed temporary file, complete or not.
    (root / "leases" / ".tmp-0123456789abcdef").write_bytes(HEADER.pack(0.0, 1) + b"ghost")
    (root / "leases" / ".tmp-fedcba9876543210").write_bytes(b"\x00\x01")  # Torn header.
    (root / "dead_letters" / ".tmp-0123456789abcdef").write_bytes(b"\x00\x00")
    assert storage.lease_count() == 0
    assert storage.lease(0) is None
    assert storage.dead_letter_count() == 0
    assert storage.dead_letter_items() == {}

    storage.enqueue(b"real")
    lease = storage.lease(LONG)
    assert lease is not None and (lease.data, lease.deliveries) == (b"real", 1)
    assert storage.lease_count() == 1
    assert storage.ack(lease.id) is True
    storage.flush_queue()
    storage.flush_dead_letters()
    assert os.listdir(root / "leases") == []  # Flushing clears leftovers too.
    assert os.listdir(root / "dead_letters") == []


def test_crash_between_lease_write_and_queue_unlink_duplicates(
    storage: FileStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.enqueue(b"m")

    def crash(filename: str) -> bool:
        raise KeyboardInterrupt("killed after the lease file was written")

    monkeypatch.setattr(FileStorage, "_unlink", staticmethod(crash))
    with pytest.raises(KeyboardInterrupt):
        storage.lease(LONG)
    monkeypatch.undo()
    # Both copies survive: the message is delivered twice, never lost.
    assert storage.lease_count() == 1
    assert storage.queue_size() == 1


def _lease_then_hang(path: str, visibility: float, ready: Any) -> None:
    storage = FileStorage(path=path)
    lease = storage.lease(visibility)
    ready.send(lease)
    ready.close()
    time.sleep(LONG)  # Killed long before.
    os._exit(3)  # pragma: no cover


def test_lease_of_a_killed_process_is_delivered_again(tmp_path: Path) -> None:
    path = str(tmp_path / "files")
    storage = FileStorage(path=path)
    storage.enqueue(b"crashy")
    storage.enqueue(b"next")
    receiver, sender = FORK.Pipe(duplex=False)
    visibility = 1.0
    proc = FORK.Process(target=_lease_then_hang, args=(path, visibility, sender))
    proc.start()
    try:
        assert receiver.poll(30), "the child never leased"
        first = receiver.recv()
        assert (first.data, first.deliveries) == (b"crashy", 1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
        assert proc.exitcode == -signal.SIGKILL
        assert os.listdir(tmp_path / "files" / "leases") == [first.id]

        # Before the timeout the killed process still holds it: the queue comes next.
        following = storage.lease(LONG)
        assert following is not None and following.data == b"next"
        assert storage.ack(following.id) is True
        assert storage.lease(LONG) is None

        deadline = time.monotonic() + 30
        again = None
        while again is None:
            assert time.monotonic() < deadline, "the dead process's lease never lapsed"
            time.sleep(0.05)
            again = storage.lease(LONG)
        assert (again.data, again.deliveries) == (b"crashy", 2)
        assert again.id != first.id
        assert storage.ack(first.id) is False
        assert storage.ack(again.id) is True
        assert storage.lease_count() == 0
    finally:
        if proc.is_alive():  # pragma: no cover - only on a failure above
            proc.kill()
            proc.join()


# -- processes ---------------------------------------------------------------------------------
def _lease_and_ack(path: str, out: str, start: Any) -> None:
    storage = FileStorage(path=path)
    taken = []
    start.wait(30)  # Both processes begin together, so they contend for the lock.
    while True:
        lease = storage.lease(LONG)
        if lease is None:
            if storage.queue_size() == 0:
                break
            continue
        if not storage.ack(lease.id):
            os._exit(2)
        taken.append(lease.data)
    Path(out).write_bytes(b"\n".join(taken))


def test_two_processes_lease_each_message_exactly_once(tmp_path: Path) -> None:
    path = str(tmp_path / "files")
    storage = FileStorage(path=path)
    messages = [b"m-%03d" % index for index in range(500)]
    for message in messages:
        storage.enqueue(message)
    outs = [str(tmp_path / f"taken-{index}") for index in range(2)]
    start = FORK.Barrier(2)
    procs = [FORK.Process(target=_lease_and_ack, args=(path, out, start)) for out in outs]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    for proc in procs:
        if proc.is_alive():  # pragma: no cover - only on a hang
            proc.kill()
    assert [proc.exitcode for proc in procs] == [0, 0]
    per_process = [[m for m in Path(out).read_bytes().split(b"\n") if m] for out in outs]
    assert sorted(per_process[0] + per_process[1]) == messages, "leased twice, or lost"
    assert all(per_process), "one process took every message: nothing was contended"
    assert storage.lease_count() == 0
    assert storage.queue_size() == 0
