"""huey.utils: eta/delay and expiry normalisation, FileLock between processes and threads."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from huey.utils import FileLock, normalize_expire_time, normalize_time, utcnow


@pytest.fixture
def pacific() -> Iterator[None]:
    """Local time 8 hours behind UTC (in January), whatever the machine's zone is."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_normalize_time_needs_exactly_one_of_eta_and_delay() -> None:
    with pytest.raises(ValueError, match="either eta"):
        normalize_time()
    with pytest.raises(ValueError, match="either eta"):
        normalize_time(eta=dt.datetime(2030, 1, 1), delay=5)
    with pytest.raises(ValueError, match="eta must be a datetime"):
        normalize_time(eta="2030-01-01")  # type: ignore[arg-type]


@pytest.mark.parametrize("utc", [True, False])
@pytest.mark.parametrize("zero", [0, 0.0, dt.timedelta(0)])
def test_zero_delay_and_zero_expiry_mean_now(utc: bool, zero: float | dt.timedelta) -> None:
    before = utcnow() if utc else dt.datetime.now()
    eta = normalize_time(delay=zero, utc=utc)
    expires = normalize_expire_time(zero, utc=utc)
    after = utcnow() if utc else dt.datetime.now()
    assert before <= eta <= after
    assert before <= expires <= after


def test_normalize_time_converts_to_the_instance_clock(pacific: None) -> None:
    local_noon = dt.datetime(2000, 1, 1, 12)
    utc_noon = dt.datetime(2000, 1, 1, 12, tzinfo=dt.UTC)
    # Naive etas are local time.
    assert normalize_time(local_noon, utc=False) == local_noon
    assert normalize_time(local_noon, utc=True) == dt.datetime(2000, 1, 1, 20)
    # Aware etas are converted to the naive local or UTC clock.
    assert normalize_time(utc_noon, utc=True) == dt.datetime(2000, 1, 1, 12)
    assert normalize_time(utc_noon, utc=False) == dt.datetime(2000, 1, 1, 4)
    assert normalize_expire_time(utc_noon, utc=False) == dt.datetime(2000, 1, 1, 4)


def locked_elsewhere(path: Path) -> bool:
    """Whether another process finds ``path`` flocked (a non-blocking attempt fails)."""
    code = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n    print('locked')\nelse:\n    print('free')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "locked"


def test_file_lock_excludes_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / ".lock"
    lock = FileLock(str(path))  # Creates the missing directories.
    with lock as held:
        assert held is lock
        assert locked_elsewhere(path)
    assert not locked_elsewhere(path)
    lock.release()  # Releasing a lock not held is a no-op.


def test_constructing_another_lock_keeps_the_held_file(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    first = FileLock(str(path))
    first.acquire()
    try:
        inode = path.stat().st_ino
        FileLock(str(path))
        assert path.stat().st_ino == inode
        assert locked_elsewhere(path)
    finally:
        first.release()


def test_file_lock_excludes_other_threads_of_the_process(tmp_path: Path) -> None:
    lock = FileLock(str(tmp_path / ".lock"))
    order: list[str] = []
    first_holds, second_tried = threading.Event(), threading.Event()

    def first() -> None:
        with lock:
            order.append("first in")
            first_holds.set()
            second_tried.wait(10)
            # The second thread is blocked in acquire() (or about to be): it cannot be in yet.
            order.append("first out")

    def second() -> None:
        first_holds.wait(10)
        second_tried.set()
        with lock:
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["first in", "first out", "second in"]
