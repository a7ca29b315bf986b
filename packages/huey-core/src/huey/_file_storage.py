"""``FileStorage``: queue, leases, schedule, results, counters and dead letters as files under
one directory.

Layout under ``path``::

    .lock                 flock()ed around every operation (absent with use_thread_lock)
    .sequence             last message sequence number, shared by all processes
    queue/<prio>-<seq>-<rand>       one file per message; names sort in dequeue order
    leases/<token>                  one file per leased (in-flight) message, named by its lease
                                    id (uuid4 hex): deadline (time.time() float) and deliveries
                                    as a fixed big-endian header, then the message
    schedule/<ts>-<seq>-<rand>      one file per scheduled message; names sort by due time
    results/<aa>/<bb>/<sha256>      key/value store, ``levels`` directories deep: the key's
                                    UTF-8 length as a big-endian 32-bit word, then the key,
                                    then the value; with the word's top bit set, an expiry
                                    (``time.time()`` double) sits between the word and the key
    counters/<sha256>               a counter's value as ASCII digits
    dead_letters/<sha256>           dead-letter records, stored like results (key, then value)

Every file is written to a dot-prefixed temporary name in its final directory and then
``os.replace``d, so readers only ever see complete files; dot-prefixed names are never read.

``leases/`` and ``dead_letters/`` are created on first use. Lease deadlines are wall-clock
times, as several processes compare them: a clock stepped forward lets leases lapse early (a
duplicate delivery), one stepped back holds them longer. A lapsed lease is taken again before
the queue by moving its message to a new lease file (new id, one more delivery).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
import shutil
import struct
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from huey._storage_base import BaseStorage, Key, Lease, check_ttl, key_text
from huey.constants import EmptyData
from huey.exceptions import ConfigurationError
from huey.utils import to_timestamp

if sys.platform != "win32":
    import fcntl

_QUEUE = "queue"
_SCHEDULE = "schedule"
_RESULTS = "results"
_COUNTERS = "counters"
_LEASES = "leases"
_DEAD_LETTERS = "dead_letters"
_LOCK_FILE = ".lock"
_SEQUENCE_FILE = ".sequence"
_TMP_PREFIX = ".tmp-"
_KEY_HEADER = struct.Struct(">I")  # Length of the UTF-8 key that opens each result file.
_EXPIRES_FLAG = 1 << 31  # Set in that length: an expiry follows it (put_if_empty with a ttl).
_EXPIRY = struct.Struct(">d")
_LEASE_HEADER = struct.Struct(">dI")  # Deadline (time.time()) and deliveries, then the message.
_LEASE_ID_CHARS = frozenset("0123456789abcdef")
_MAX_LEVELS = 32  # Each level consumes two hex digits of a 64-digit SHA-256.

# With use_thread_lock, every FileStorage of this process on one directory must share a lock,
# or two Huey instances (or get_storage() copies) on the same path would not exclude each other.
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock_for(path: str) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(path, threading.Lock())


def _sortable(value: float) -> str:
    """16 hex digits whose string order is the numeric order of ``value``."""
    value = float(value) + 0.0  # Folds -0.0 into 0.0 so equal values encode equally.
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    # IEEE-754: flip every bit of negatives, only the sign bit of positives.
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def _encode_key(key: str) -> bytes:
    # surrogatepass: any Python str is a valid key, even one with lone surrogates.
    return key.encode("utf-8", "surrogatepass")


def _visible(names: list[str]) -> list[str]:
    return [name for name in names if not name.startswith(".")]


def _is_lease_id(lease_id: object) -> bool:
    """True for a string shaped like the ids ``lease()`` hands out (uuid4 hex).

    Checked before a lease id is used as a file name, so no id can reach outside ``leases/``.
    """
    return isinstance(lease_id, str) and len(lease_id) == 32 and set(lease_id) <= _LEASE_ID_CHARS


class FileStorage(BaseStorage):
    """File-system storage, safe for several processes sharing ``path``.

    Every operation holds an exclusive ``flock`` on ``path/.lock`` (or, with
    ``use_thread_lock=True``, a ``threading.Lock`` shared by this process's instances on
    ``path``: only for thread or greenlet workers of a single process). ``name`` is unused:
    one directory holds one queue.
    """

    supports_priority = True
    supports_leases = True

    def __init__(
        self,
        name: str = "huey",
        path: str | os.PathLike[str] | None = None,
        levels: int = 2,
        use_thread_lock: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        if path is None:
            raise TypeError(f"{type(self).__name__}() missing required argument: 'path'")
        if isinstance(levels, bool) or not isinstance(levels, int):
            raise TypeError(f"levels must be an int, not {type(levels).__name__}")
        if not 0 <= levels <= _MAX_LEVELS:
            raise ValueError(f"levels must be between 0 and {_MAX_LEVELS}, not {levels}")
        if not use_thread_lock and sys.platform == "win32":
            raise ConfigurationError(
                "FileStorage needs fcntl.flock for its cross-process lock, which Windows lacks; "
                "pass use_thread_lock=True (a single process with thread or greenlet workers)"
            )
        self.path = os.path.abspath(os.fspath(path))
        self.levels = levels
        self.use_thread_lock = use_thread_lock
        self._queue_dir = os.path.join(self.path, _QUEUE)
        self._schedule_dir = os.path.join(self.path, _SCHEDULE)
        self._results_dir = os.path.join(self.path, _RESULTS)
        self._counters_dir = os.path.join(self.path, _COUNTERS)
        self._leases_dir = os.path.join(self.path, _LEASES)
        self._dead_letters_dir = os.path.join(self.path, _DEAD_LETTERS)
        self._lock_path = os.path.join(self.path, _LOCK_FILE)
        self._sequence_path = os.path.join(self.path, _SEQUENCE_FILE)
        self._thread_lock = (
            _thread_lock_for(os.path.realpath(self.path)) if use_thread_lock else None
        )
        self._make_dirs()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self.path!r}>"

    # -- plumbing ------------------------------------------------------------------------------
    def _make_dirs(self) -> None:
        for directory in (
            self._queue_dir,
            self._schedule_dir,
            self._results_dir,
            self._counters_dir,
        ):
            os.makedirs(directory, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._thread_lock is not None:
            with self._thread_lock:
                yield
            return
        if sys.platform == "win32":  # Refused in __init__; keeps the type checker precise.
            raise ConfigurationError("FileStorage on Windows needs use_thread_lock=True")
        # A fresh descriptor per operation: flock() belongs to the open file description, so a
        # descriptor kept open would be shared with forked children (and between threads) and
        # would then exclude nothing.
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:  # The directory was removed under us: rebuild it.
            self._make_dirs()
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # Closing the only descriptor releases the lock.

    def _listdir(self, directory: str) -> list[str]:
        try:
            return _visible(os.listdir(directory))
        except FileNotFoundError:
            return []

    @staticmethod
    def _read(filename: str) -> bytes | None:
        try:
            with open(filename, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    @staticmethod
    def _unlink(filename: str) -> bool:
        try:
            os.unlink(filename)
        except FileNotFoundError:
            return False
        return True

    def _write(self, directory: str, name: str, payload: bytes) -> None:
        """Write ``directory/name`` atomically: readers see the old file or the whole new one."""
        tmp = os.path.join(directory, f"{_TMP_PREFIX}{secrets.token_hex(8)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:  # Directory removed (or a fresh shard): create and retry.
            os.makedirs(directory, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, os.path.join(directory, name))
        except BaseException:
            self._unlink(tmp)
            raise

    def _next_sequence(self) -> int:
        """A number larger than any handed out before on this directory, by any process.

        Call with the lock held. Wall-clock nanoseconds are the floor, so order survives a
        lost or damaged ``.sequence`` file; the stored value keeps it when the clock steps back.
        """
        fd = os.open(self._sequence_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            try:
                last = int(os.pread(fd, 32, 0).strip(b"\0 \n") or b"0")
            except ValueError:
                last = 0
            seq = max(last + 1, time.time_ns())
            os.pwrite(fd, b"%020d" % seq, 0)  # Fixed width: no stale trailing digits.
        finally:
            os.close(fd)
        return seq

    def _message_name(self, order: float) -> str:
        return f"{_sortable(order)}-{self._next_sequence():016x}-{secrets.token_hex(4)}"

    def _read_in_order(self, directory: str, limit: int | None) -> list[bytes]:
        items = []
        for name in sorted(self._listdir(directory))[:limit]:
            data = self._read(os.path.join(directory, name))
            if data is not None:
                items.append(data)
        return items

    def _clear_dir(self, directory: str) -> None:
        for name in self._listdir_all(directory):
            self._unlink(os.path.join(directory, name))

    def _listdir_all(self, directory: str) -> list[str]:
        try:
            return os.listdir(directory)  # Includes temporary files left by a crash.
        except FileNotFoundError:
            return []

    def _result_dir(self, digest: str) -> str:
        shards = [digest[2 * level : 2 * level + 2] for level in range(self.levels)]
        return os.path.join(self._results_dir, *shards)

    def _result_file(self, key: Key) -> tuple[str, str]:
        digest = hashlib.sha256(_encode_key(key_text(key))).hexdigest()
        return self._result_dir(digest), digest

    def _result_path(self, key: Key) -> str:
        return os.path.join(*self._result_file(key))

    @staticmethod
    def _keyed(key: str, value: bytes, expires: float | None = None) -> bytes:
        """A result or dead-letter file: the key is stored, as the file's name is its hash."""
        raw_key = _encode_key(key)
        if expires is None:
            return _KEY_HEADER.pack(len(raw_key)) + raw_key + bytes(value)
        header = _KEY_HEADER.pack(len(raw_key) | _EXPIRES_FLAG) + _EXPIRY.pack(expires)
        return header + raw_key + bytes(value)

    @staticmethod
    def _key_span(blob: bytes) -> tuple[int, int]:
        """Where the key of a result or dead-letter file starts and ends."""
        (word,) = _KEY_HEADER.unpack_from(blob)
        start = _KEY_HEADER.size + (_EXPIRY.size if word & _EXPIRES_FLAG else 0)
        return start, start + (word & ~_EXPIRES_FLAG)

    @classmethod
    def _result_value(cls, blob: bytes) -> bytes:
        return blob[cls._key_span(blob)[1] :]

    @classmethod
    def _result_key(cls, blob: bytes) -> str:
        start, end = cls._key_span(blob)
        return blob[start:end].decode("utf-8", "surrogatepass")

    @staticmethod
    def _expired(head: bytes, now: float) -> bool:
        """Whether the file opening with ``head`` holds an entry whose ttl has passed."""
        if len(head) < _KEY_HEADER.size:  # Damaged (written without the lock): not ours to drop.
            return False
        (word,) = _KEY_HEADER.unpack_from(head)
        if not word & _EXPIRES_FLAG:
            return False
        if len(head) < _KEY_HEADER.size + _EXPIRY.size:
            return True  # Cut short inside its expiry: no entry can be read from it.
        return bool(_EXPIRY.unpack_from(head, _KEY_HEADER.size)[0] <= now)

    def _read_live(self, filename: str) -> bytes | None:
        """A result file's contents, or None when it is missing, cut short (damaged outside
        the lock: no entry can be read from it) or expired (then removed); lock held."""
        blob = self._read(filename)
        if blob is None or len(blob) < _KEY_HEADER.size or self._key_span(blob)[1] > len(blob):
            return None
        if self._expired(blob, time.time()):
            self._unlink(filename)
            return None
        return blob

    def _exists_live(self, filename: str) -> bool:
        """Whether a result file holds an entry: only its header is read; lock held."""
        try:
            with open(filename, "rb") as fh:
                head = fh.read(_KEY_HEADER.size + _EXPIRY.size)
        except FileNotFoundError:
            return False
        if self._expired(head, time.time()):
            self._unlink(filename)
            return False
        return True

    def _iter_result_files(self) -> Iterator[str]:
        for root, dirs, files in os.walk(self._results_dir):
            dirs[:] = _visible(dirs)
            for name in _visible(files):
                yield os.path.join(root, name)

    def _counter_file(self, key: Key) -> str:
        digest = hashlib.sha256(_encode_key(key_text(key))).hexdigest()
        return os.path.join(self._counters_dir, digest)

    def _read_counter(self, filename: str) -> int:
        raw = self._read(filename)
        try:
            return int(raw) if raw else 0
        except ValueError:
            return 0

    # -- queue ---------------------------------------------------------------------------------
    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        with self._locked():
            # Negated so that higher priorities get smaller, earlier-sorting names.
            self._write(self._queue_dir, self._message_name(-(priority or 0)), data)

    def dequeue(self) -> bytes | None:
        with self._locked():
            names = self._listdir(self._queue_dir)
            while names:
                name = min(names)
                filename = os.path.join(self._queue_dir, name)
                data = self._read(filename)
                if data is not None:
                    self._unlink(filename)
                    return data
                names.remove(name)  # Removed by someone not using the lock; skip it.
            return None

    def queue_size(self) -> int:
        with self._locked():
            return len(self._listdir(self._queue_dir))

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        with self._locked():
            return self._read_in_order(self._queue_dir, limit)

    def flush_queue(self) -> None:
        with self._locked():
            self._clear_dir(self._queue_dir)
            self._clear_dir(self._leases_dir)

    # -- leases --------------------------------------------------------------------------------
    def _lease_file(self, lease_id: str) -> str:
        return os.path.join(self._leases_dir, lease_id)

    @staticmethod
    def _read_lease_header(filename: str) -> tuple[float, int] | None:
        """(deadline, deliveries) of a lease file; None when it is gone or damaged."""
        try:
            with open(filename, "rb") as fh:
                header = fh.read(_LEASE_HEADER.size)
        except FileNotFoundError:
            return None
        if len(header) < _LEASE_HEADER.size:
            return None
        deadline, deliveries = _LEASE_HEADER.unpack(header)
        return deadline, deliveries

    def _write_lease(self, deadline: float, deliveries: int, data: bytes) -> str:
        lease_id = uuid.uuid4().hex
        self._write(self._leases_dir, lease_id, _LEASE_HEADER.pack(deadline, deliveries) + data)
        return lease_id

    def _take_lapsed(self, now: float) -> tuple[int, bytes, str] | None:
        """The lapsed lease with the earliest deadline: (deliveries, message, file); lock held.

        A scan of ``leases/``, which holds only in-flight messages.
        """
        earliest: tuple[float, int, str] | None = None
        for name in self._listdir(self._leases_dir):
            filename = self._lease_file(name)
            header = self._read_lease_header(filename)
            if header is None or header[0] > now:
                continue
            if earliest is None or header[0] < earliest[0]:
                earliest = (header[0], header[1], filename)
        if earliest is None:
            return None
        blob = self._read(earliest[2])
        if blob is None or len(blob) < _LEASE_HEADER.size:  # pragma: no cover - lock bypassed
            return None
        return earliest[1], blob[_LEASE_HEADER.size :], earliest[2]

    def lease(self, visibility_timeout: float) -> Lease | None:
        with self._locked():
            now = time.time()
            deadline = now + visibility_timeout
            lapsed = self._take_lapsed(now)
            if lapsed is not None:
                deliveries, data, old = lapsed
                # The message moves to a fresh lease id, so the lapsed id no longer owns it.
                # New file first: a crash in between leaves two leases (a duplicate), not none.
                lease_id = self._write_lease(deadline, deliveries + 1, data)
                self._unlink(old)
                return Lease(lease_id, data, deliveries + 1)
            names = self._listdir(self._queue_dir)
            while names:
                name = min(names)
                filename = os.path.join(self._queue_dir, name)
                message = self._read(filename)
                if message is not None:
                    # Lease file first, then the queue file goes: a crash between the two
                    # leaves the message both leased and queued (delivered twice), never lost.
                    lease_id = self._write_lease(deadline, 1, message)
                    self._unlink(filename)
                    return Lease(lease_id, message, 1)
                names.remove(name)  # Removed by someone not using the lock; skip it.
            return None

    def ack(self, lease_id: str) -> bool:
        if not _is_lease_id(lease_id):
            return False
        with self._locked():
            # Like MemoryStorage: a lapsed lease not yet taken again still acknowledges.
            return self._unlink(self._lease_file(lease_id))

    def extend_lease(self, lease_id: str, visibility_timeout: float) -> bool:
        if not _is_lease_id(lease_id):
            return False
        filename = self._lease_file(lease_id)
        with self._locked():
            now = time.time()
            blob = self._read(filename)
            if blob is None or len(blob) < _LEASE_HEADER.size:
                return False
            deadline, deliveries = _LEASE_HEADER.unpack_from(blob)
            if deadline <= now:
                return False
            header = _LEASE_HEADER.pack(now + visibility_timeout, deliveries)
            self._write(self._leases_dir, lease_id, header + blob[_LEASE_HEADER.size :])
            return True

    def lease_count(self) -> int:
        with self._locked():
            return len(self._listdir(self._leases_dir))

    # -- dead letters --------------------------------------------------------------------------
    def _dead_letter_name(self, key: str) -> str:
        return hashlib.sha256(_encode_key(key)).hexdigest()

    def add_dead_letter(self, key: str, data: bytes) -> None:
        with self._locked():
            self._write(self._dead_letters_dir, self._dead_letter_name(key), self._keyed(key, data))

    def dead_letter_items(self) -> dict[str, bytes]:
        items = {}
        with self._locked():
            for name in self._listdir(self._dead_letters_dir):
                blob = self._read(os.path.join(self._dead_letters_dir, name))
                if blob is not None:
                    items[self._result_key(blob)] = self._result_value(blob)
        return items

    def dead_letter_count(self) -> int:
        with self._locked():
            return len(self._listdir(self._dead_letters_dir))

    def delete_dead_letter(self, key: str) -> bool:
        filename = os.path.join(self._dead_letters_dir, self._dead_letter_name(key))
        with self._locked():
            return self._unlink(filename)

    def flush_dead_letters(self) -> None:
        with self._locked():
            self._clear_dir(self._dead_letters_dir)

    # -- schedule ------------------------------------------------------------------------------
    def add_to_schedule(self, data: bytes, ts: dt.datetime) -> None:
        with self._locked():
            self._write(self._schedule_dir, self._message_name(to_timestamp(ts)), data)

    def read_schedule(self, ts: dt.datetime) -> list[bytes]:
        cutoff = _sortable(to_timestamp(ts))
        due = []
        with self._locked():
            for name in sorted(self._listdir(self._schedule_dir)):
                if name[:16] > cutoff:  # Names lead with the encoded due time.
                    break
                filename = os.path.join(self._schedule_dir, name)
                data = self._read(filename)
                if data is not None:
                    self._unlink(filename)
                    due.append(data)
        return due

    def schedule_size(self) -> int:
        with self._locked():
            return len(self._listdir(self._schedule_dir))

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        with self._locked():
            return self._read_in_order(self._schedule_dir, limit)

    def flush_schedule(self) -> None:
        with self._locked():
            self._clear_dir(self._schedule_dir)

    # -- key/value result store ----------------------------------------------------------------
    def _put(self, key: Key, value: bytes, expires: float | None = None) -> None:
        directory, name = self._result_file(key)
        # Keyed for result_items().
        self._write(directory, name, self._keyed(key_text(key), value, expires))

    def put_data(self, key: Key, value: bytes, is_result: bool = False) -> None:
        with self._locked():
            self._put(key, value)

    def peek_data(self, key: Key) -> Any:
        filename = self._result_path(key)
        with self._locked():
            blob = self._read_live(filename)
        return EmptyData if blob is None else self._result_value(blob)

    def pop_data(self, key: Key) -> Any:
        filename = self._result_path(key)
        with self._locked():
            blob = self._read_live(filename)
            if blob is None:
                return EmptyData
            self._unlink(filename)
        return self._result_value(blob)

    def delete_data(self, key: Key) -> bool:
        filename = self._result_path(key)
        with self._locked():
            return self._exists_live(filename) and self._unlink(filename)

    def has_data_for_key(self, key: Key) -> bool:
        filename = self._result_path(key)
        with self._locked():
            return self._exists_live(filename)

    def put_if_empty(self, key: Key, value: bytes, ttl: float | None = None) -> bool:
        ttl = check_ttl(ttl)
        filename = self._result_path(key)
        with self._locked():
            if self._exists_live(filename):
                return False
            self._put(key, value, None if ttl is None else time.time() + ttl)
            return True

    def result_store_size(self) -> int:
        with self._locked():
            return sum(1 for filename in self._iter_result_files() if self._exists_live(filename))

    def result_items(self) -> dict[str, bytes]:
        with self._locked():
            blobs = [self._read_live(filename) for filename in self._iter_result_files()]
        return {
            self._result_key(blob): self._result_value(blob) for blob in blobs if blob is not None
        }

    def flush_results(self) -> None:
        with self._locked():
            shutil.rmtree(self._results_dir, ignore_errors=True)
            os.makedirs(self._results_dir, exist_ok=True)

    # -- counters ------------------------------------------------------------------------------
    def incr(self, key: Key, amount: int = 1) -> int:
        filename = self._counter_file(key)
        with self._locked():
            value = self._read_counter(filename) + amount
            if amount:  # incr(key, 0) is how callers read a counter: nothing to write.
                self._write(self._counters_dir, os.path.basename(filename), b"%d" % value)
        return value

    def delete_counter(self, key: Key) -> None:
        with self._locked():
            self._unlink(self._counter_file(key))

    def flush_counters(self) -> None:
        with self._locked():
            self._clear_dir(self._counters_dir)


__all__ = ["FileStorage"]
