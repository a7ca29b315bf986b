"""SqliteStorage's own parameters and wake-ups; the generic contract is in test_conformance."""

from __future__ import annotations

import multiprocessing
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from huey import SqliteHuey
from huey.backends.sqlite._wakeup import WakeChannel, channel_directory
from huey.storage import SqliteStorage


def pragma(filename: str, name: str) -> object:
    return sqlite3.connect(filename).execute(f"pragma {name}").fetchone()[0]


def test_documented_paths_resolve_to_the_package() -> None:
    import huey
    import huey.storage

    assert huey.SqliteHuey is SqliteHuey
    assert huey.storage.SqliteStorage is SqliteStorage
    assert SqliteHuey.storage_class is SqliteStorage
    backend = next(b for b in huey.list_backends() if b.name == "sqlite")
    assert backend.storage_class is SqliteStorage
    assert backend.distribution == "huey-sqlite"


def test_defaults_use_wal_and_huey_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = SqliteStorage("q")
    storage.enqueue(b"x")
    assert (tmp_path / "huey.db").exists()
    assert pragma(str(tmp_path / "huey.db"), "journal_mode") == "wal"


def test_journal_mode_fsync_and_cache_are_applied(tmp_path: Path) -> None:
    storage = SqliteStorage("q", filename=str(tmp_path / "a.db"), journal_mode="delete")
    assert pragma(storage.filename, "journal_mode") == "delete"
    durable = SqliteStorage("q", filename=str(tmp_path / "b.db"), fsync=True, cache_mb=16)
    assert durable.conn.execute("pragma synchronous").fetchone()[0] == 2  # FULL
    assert durable.conn.execute("pragma cache_size").fetchone()[0] == -16000
    relaxed = SqliteStorage("q", filename=str(tmp_path / "c.db"))
    assert relaxed.conn.execute("pragma synchronous").fetchone()[0] == 1  # NORMAL
    # timeout (seconds) is sqlite3's busy timeout, as in huey 3.5.4.
    patient = SqliteHuey(filename=str(tmp_path / "d.db"), timeout=3).storage
    assert patient.timeout == 3
    assert patient.conn.execute("pragma busy_timeout").fetchone() == (3000,)


def test_invalid_journal_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="journal_mode"):
        SqliteStorage("q", filename=str(tmp_path / "a.db"), journal_mode="sideways")


def test_extra_keyword_arguments_reach_sqlite3_connect(tmp_path: Path) -> None:
    uri = f"file:{tmp_path / 'uri.db'}?mode=rwc"
    storage = SqliteStorage("q", filename=uri, uri=True)
    storage.put_data("k", b"v")
    assert (tmp_path / "uri.db").exists()
    with pytest.raises(TypeError, match="bogus"):
        SqliteHuey("q", filename=str(tmp_path / "b.db"), bogus=1)


@pytest.mark.parametrize("storage_class", ["SqliteStorage", "CySqliteStorage"])
def test_a_file_that_cannot_be_opened_is_named_in_the_error(
    tmp_path: Path, storage_class: str
) -> None:
    import huey.storage

    cls = getattr(huey.storage, storage_class)
    missing = tmp_path / "no-such-dir" / "app.db"
    with pytest.raises(Exception, match="unable to open database file") as info:
        cls("named", filename=str(missing))
    assert f"{missing} (no such directory: {missing.parent})" in str(info.value)
    assert type(info.value).__name__ == "OperationalError"  # The driver's own error type.
    with pytest.raises(Exception, match="unable to open database file") as info:
        cls("named", filename=str(tmp_path))
    assert f"{tmp_path} (a directory, not a file)" in str(info.value)


def test_huey_consumer_reports_an_unopenable_file_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "app.db"
    (tmp_path / "unopenable_app.py").write_text(
        f"from huey import SqliteHuey\nhuey = SqliteHuey('app', filename={str(missing)!r})\n"
    )
    command = [str(Path(sys.executable).parent / "huey_consumer"), "unopenable_app.huey"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("huey_consumer: error: cannot import 'unopenable_app.huey': ")
    assert f"unable to open database file: {missing}" in line
    assert f"(at {tmp_path / 'unopenable_app.py'}:2; -v shows the traceback)" in line
    verbose = subprocess.run(
        [*command, "-v"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr and "unopenable_app.py" in verbose.stderr


def test_create_tables_false_leaves_the_schema_to_the_caller(tmp_path: Path) -> None:
    storage = SqliteStorage("q", filename=str(tmp_path / "bare.db"), create_tables=False)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        storage.enqueue(b"x")
    SqliteStorage("q", filename=storage.filename).enqueue(b"x")  # Creates them.
    assert storage.dequeue() == b"x"


def test_strict_fifo_never_reuses_row_ids(tmp_path: Path) -> None:
    storage = SqliteStorage("q", filename=str(tmp_path / "fifo.db"), strict_fifo=True)
    storage.enqueue(b"first")
    storage.enqueue(b"second")
    assert storage.dequeue() == b"first"
    assert storage.dequeue() == b"second"
    storage.enqueue(b"third")  # Without AUTOINCREMENT this would reuse an old row id.
    row_ids = storage.conn.execute("select id from task").fetchall()
    assert row_ids == [(3,)]
    ddl = storage.conn.execute("select sql from sqlite_master where name = 'task'").fetchone()[0]
    assert "autoincrement" in ddl


def test_queues_share_one_file(tmp_path: Path) -> None:
    filename = str(tmp_path / "shared.db")
    emails = SqliteHuey("emails", filename=filename)
    reports = SqliteHuey("reports", filename=filename)

    @emails.task()
    def send(to: str) -> str:
        return f"sent to {to}"

    @reports.task()
    def build(day: int) -> int:
        return day

    send("a@example.com")
    build(3)
    build(4)
    assert (len(emails), len(reports)) == (1, 2)
    emails.put("k", "emails' value")
    assert reports.get("k") is None
    assert emails.get("k") == "emails' value"


def _dequeue_in_child(filename: str) -> None:
    storage = SqliteStorage("q", filename=filename, blocking=False)
    storage.enqueue(b"from child")
    assert storage.dequeue() == b"from child"


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    filename = str(tmp_path / "fork.db")
    storage = SqliteStorage("q", filename=filename, blocking=False)
    parent_conn = storage.conn
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_dequeue_in_child, args=(filename,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert storage.conn is parent_conn


def test_non_blocking_dequeue_returns_none_at_once(tmp_path: Path) -> None:
    storage = SqliteStorage("q", filename=str(tmp_path / "nb.db"), blocking=False)
    assert storage.supports_blocking_dequeue is False
    assert storage.dequeue() is None


def test_blocking_dequeue_is_woken_by_an_enqueue_in_another_process(tmp_path: Path) -> None:
    """The waiter's read timeout is a minute: returning the message at all means it was woken."""
    filename = str(tmp_path / "wake.db")
    storage = SqliteStorage("q", filename=filename, read_timeout=60)
    producer = textwrap.dedent(
        f"""
        import time
        from huey.storage import SqliteStorage
        time.sleep(0.5)
        SqliteStorage("q", filename={filename!r}).enqueue(b"wake up")
        """
    )
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", producer])
    try:
        assert storage.dequeue() == b"wake up"
        assert time.monotonic() - started < 30, "dequeue waited out its timeout: not woken"
    finally:
        child.wait(30)


def test_blocking_result_read_is_woken_by_the_result_write(tmp_path: Path) -> None:
    filename = str(tmp_path / "result.db")
    storage = SqliteStorage("q", filename=filename)
    writer = textwrap.dedent(
        f"""
        import time
        from huey.storage import SqliteStorage
        time.sleep(0.5)
        SqliteStorage("q", filename={filename!r}).put_data("task-1", b"42", is_result=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", writer])
    try:
        # max_delay of a minute: only a wake-up can end the wait before the timeout.
        assert storage.wait_result("task-1", timeout=60, max_delay=60) is True
        assert storage.peek_data("task-1") == b"42"
    finally:
        child.wait(30)


def test_a_deep_temporary_directory_still_gets_wakeups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """macOS gives each user a TMPDIR of about 49 bytes: socket paths under it would not fit
    in sun_path, so the channels move to /tmp and a result read is still woken at once."""
    deep = tmp_path / ("d" * 60)
    deep.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(deep))
    assert channel_directory("x.db", "q", "results").startswith("/tmp/huey-sqlite-")
    storage = SqliteStorage("q", filename=str(tmp_path / "deep.db"))
    writer = threading.Timer(0.3, storage.put_data, ("task-1", b"42"), {"is_result": True})
    writer.start()
    try:
        start = time.monotonic()
        # max_delay of a minute: only a wake-up can end the wait before the timeout.
        assert storage.wait_result("task-1", timeout=60, max_delay=60) is True
        assert time.monotonic() - start < 30
    finally:
        writer.join()


def test_wait_result_times_out_without_a_write(tmp_path: Path) -> None:
    storage = SqliteStorage("q", filename=str(tmp_path / "t.db"))
    assert storage.wait_result("missing", timeout=0.2) is False


def test_notify_removes_sockets_nobody_listens_on(tmp_path: Path) -> None:
    directory = str(tmp_path / "channel")
    channel = WakeChannel(directory)
    os.makedirs(directory)
    stale = os.path.join(directory, "stale.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(stale)
    dead.close()  # The file stays behind, as after a crash.
    channel.arm()
    channel.notify()
    assert not os.path.exists(stale)
    assert channel.wait(5) is True  # The live listener got its wake-up.
    channel.close()
    assert not os.path.exists(directory)  # Nobody listens any more: nothing is left behind.


def test_channel_directory_is_created_only_by_a_listener(tmp_path: Path) -> None:
    directory = str(tmp_path / "lazy" / "queue")
    channel = WakeChannel(directory)
    channel.notify()  # A writer with nobody listening creates nothing.
    assert not os.path.exists(directory)
    channel.arm()
    assert len(os.listdir(directory)) == 1
    channel.close()
    assert not os.path.exists(tmp_path / "lazy")


def test_channel_directories_are_per_file_and_queue(tmp_path: Path) -> None:
    a = channel_directory(str(tmp_path / "a.db"), "q", "queue")
    assert a != channel_directory(str(tmp_path / "b.db"), "q", "queue")
    assert a != channel_directory(str(tmp_path / "a.db"), "other", "queue")
    assert a != channel_directory(str(tmp_path / "a.db"), "q", "results")
    assert len(os.path.join(a, "0123456789abcdef.sock")) < 100  # AF_UNIX path limit


# -- CySqliteStorage and expiring entries -------------------------------------------------------


def test_cysqlite_huey_applies_its_pragmas(tmp_path: Path) -> None:
    from huey import CySqliteHuey

    pragmas = {"mmap_size": 4096}
    huey = CySqliteHuey(filename=str(tmp_path / "cy.db"), pragmas=pragmas, timeout=3)
    conn = huey.storage.conn
    assert conn.pragma("mmap_size") == 4096
    assert conn.pragma("journal_mode") == "wal"  # The default when pragmas do not say.
    assert conn.pragma("busy_timeout") == 3000
    assert pragmas == {"mmap_size": 4096}, "the caller's mapping is left alone"

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    result = add(1, 2)
    assert huey.execute(huey.dequeue()) == 3
    assert result.get() == 3  # type: ignore[union-attr]
    huey.storage.close()


def test_cysqlite_translates_sqlite_storage_parameters(tmp_path: Path) -> None:
    from huey.storage import CySqliteStorage

    storage = CySqliteStorage(
        filename=str(tmp_path / "cy.db"), cache_mb=4, fsync=True, journal_mode="truncate"
    )
    assert storage.conn.pragma("cache_size") == -4000
    assert storage.conn.pragma("synchronous") == 2
    assert storage.conn.pragma("journal_mode") == "truncate"
    storage.close()


def test_cysqlite_and_sqlite_share_one_file(tmp_path: Path) -> None:
    from huey.storage import CySqliteStorage

    filename = str(tmp_path / "shared.db")
    cy, std = CySqliteStorage("q", filename=filename), SqliteStorage("q", filename=filename)
    cy.enqueue(b"from cysqlite")
    assert std.dequeue() == b"from cysqlite"
    assert std.put_if_empty("lock", b"1", ttl=600) is True
    assert cy.put_if_empty("lock", b"2") is False
    cy.close()
    std.close()


def test_cysqlite_create_tables_false_then_initialize_schema(tmp_path: Path) -> None:
    import cysqlite

    from huey import CySqliteHuey

    huey = CySqliteHuey(filename=str(tmp_path / "late.db"), create_tables=False)
    with pytest.raises(cysqlite.OperationalError):
        huey.pending_count()
    huey.storage.initialize_schema()
    assert huey.pending_count() == 0
    huey.storage.close()


def test_a_plain_write_of_an_expiring_entry_drops_its_expiry(tmp_path: Path) -> None:
    """huey 3.5.4 writes kv rows without knowing kv_expiry: the triggers keep them lasting."""
    filename = str(tmp_path / "huey.db")
    storage = SqliteStorage("q", filename=filename)
    assert storage.put_if_empty("lock", b"mine", ttl=0.1) is True
    conn = sqlite3.connect(filename, isolation_level=None)
    conn.execute(
        "insert or replace into kv (queue, key, value) values (?, ?, ?)", ("q", "lock", b"theirs")
    )
    assert conn.execute("select count(*) from kv_expiry").fetchone() == (0,)
    time.sleep(0.3)
    assert storage.peek_data("lock") == b"theirs"
    assert storage.put_if_empty("gone", b"g", ttl=0.1) is True
    conn.execute("delete from kv where key = 'gone'")
    assert conn.execute("select count(*) from kv_expiry").fetchone() == (0,)
    conn.close()
    storage.close()
