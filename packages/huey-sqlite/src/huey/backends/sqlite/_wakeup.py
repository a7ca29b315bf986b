"""Wake waiters in other processes of this machine, so SQLite readers need not poll.

Each waiting thread binds a Unix datagram socket in a directory shared by everyone using the
same database file and queue; a writer sends one byte to every socket there. A socket is
bound before its owner checks the database, and datagrams queue while nobody listens, so a
write that lands between the check and the wait still wakes the waiter. Sockets left behind
by dead processes are removed by the next writer that finds nobody listening on them, and a
directory is removed once nobody listens in it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import select
import socket
import tempfile
import threading
import uuid

# A socket path must fit in sun_path (104 bytes on macOS and the BSDs, 108 on Linux); below
# the base directory a channel's socket paths take up to this many bytes.
_SOCKET_PATH_MAX = 100
_BELOW_BASE = len("/huey-sqlite-4294967295/") + 20 + len("/results/") + 16 + len(".sock")


def channel_directory(filename: str, queue: str, topic: str) -> str:
    """A short per-user path (socket paths are limited to ~100 bytes) for one database queue.

    Under the temporary directory, unless that is too long for the socket paths to fit (a
    deep ``TMPDIR``, as macOS gives each user): then under ``/tmp``.
    """
    identity = f"{os.path.realpath(filename)}\0{queue}".encode()
    digest = hashlib.sha1(identity).hexdigest()[:20]
    base = tempfile.gettempdir()
    if len(os.fsencode(base)) + _BELOW_BASE > _SOCKET_PATH_MAX:
        base = "/tmp"
    return os.path.join(base, f"huey-sqlite-{os.getuid()}", digest, topic)


class WakeChannel:
    """Datagram wake-ups between the writers and waiters of one topic."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._local = threading.local()

    def _sender(self) -> socket.socket:
        sender: socket.socket | None = getattr(self._local, "sender", None)
        if sender is None or self._local.sender_pid != os.getpid():
            sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sender.setblocking(False)
            self._local.sender, self._local.sender_pid = sender, os.getpid()
        return sender

    def arm(self) -> socket.socket:
        """This thread's listening socket, bound on first use; arm before checking for work."""
        receiver: socket.socket | None = getattr(self._local, "receiver", None)
        if receiver is None or self._local.receiver_pid != os.getpid():
            path = os.path.join(self.directory, f"{uuid.uuid4().hex[:16]}.sock")
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            for _ in range(5):  # A writer may remove the directory between these two calls.
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                try:
                    receiver.bind(path)
                    break
                except FileNotFoundError:
                    continue
            receiver.setblocking(False)
            self._local.receiver, self._local.receiver_pid = receiver, os.getpid()
            self._local.path = path
        return receiver

    def wait(self, timeout: float) -> bool:
        """Block until woken or ``timeout`` passes; True when woken. Drains pending wake-ups."""
        receiver = self.arm()
        ready, _, _ = select.select([receiver], [], [], max(timeout, 0))
        if not ready:
            return False
        while True:
            try:
                receiver.recv(64)
            except (BlockingIOError, InterruptedError):
                return True

    def notify(self) -> None:
        """Wake every armed waiter; never blocks and never fails the write it follows."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return
        sender = self._sender()
        listeners = len(names)
        for name in names:
            path = os.path.join(self.directory, name)
            try:
                sender.sendto(b"!", path)
            except (BlockingIOError, InterruptedError):
                pass  # Its buffer is full: it has wake-ups pending already.
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
                    _unlink_quietly(path)  # Nobody listens there any more.
                    listeners -= 1
        if not listeners:
            self._remove_directory()

    def close(self) -> None:
        receiver = getattr(self._local, "receiver", None)
        if receiver is not None and self._local.receiver_pid == os.getpid():
            receiver.close()
            _unlink_quietly(self._local.path)
            del self._local.receiver
            self._remove_directory()

    def _remove_directory(self) -> None:
        """Remove the channel's directory and its per-file parent when they are empty."""
        for directory in (self.directory, os.path.dirname(self.directory)):
            try:
                os.rmdir(directory)
            except OSError:
                return  # Not empty (someone listens), or already gone.


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
