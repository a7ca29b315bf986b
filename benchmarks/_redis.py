"""Private ``redis-server`` processes and a small Redis client for the harness.

Every server here is started by the benchmark on a free loopback port (never the shared server
on 6379), keeps nothing on disk (``--save '' --appendonly no``) and is stopped with its run.
The harness talks to it with ``Resp``, a few lines of RESP over a socket, so it needs neither
``huey`` nor ``redis-py`` (those run only in the implementations' environments). ``Monitor``
records what ``MONITOR`` reports: the command name and the client address of every command.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# A redis-server to use instead of the one on the PATH.
SERVER_VARIABLE = "HUEY_BENCH_REDIS_SERVER"
SHARED_PORT = 6379  # The shared server: never used by the benchmarks.

# The key names of huey 3.5.4's Redis layout, which this project keeps, for a queue "bench".
QUEUE_KEY = "huey.redis.bench"
RESULTS_KEY = "huey.results.bench"


class RedisUnavailable(Exception):
    """No usable ``redis-server``; the message says why."""


def server_binary() -> str:
    """The ``redis-server`` to start: ``$HUEY_BENCH_REDIS_SERVER`` or the PATH's."""
    chosen = os.environ.get(SERVER_VARIABLE) or shutil.which("redis-server")
    if not chosen or not os.access(chosen, os.X_OK):
        raise RedisUnavailable(
            f"redis-server not found (install it, or set ${SERVER_VARIABLE} to one)"
        )
    return chosen


def server_version() -> str:
    binary = server_binary()
    try:
        proc = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RedisUnavailable(f"{binary} --version: {exc}") from exc
    found = re.search(r"v=(\S+)", proc.stdout)
    if proc.returncode != 0 or not found:
        raise RedisUnavailable(f"{binary} --version: {proc.stdout}{proc.stderr}")
    return found.group(1)


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != SHARED_PORT:
            return port


class RedisServer:
    """One private ``redis-server`` on a free loopback port, its files in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = server_binary()
        self._log = open(self.directory / "redis-server.log", "ab")  # noqa: SIM115 - see stop()
        for _attempt in range(3):  # The free port may be taken before the server binds it.
            self.port = _free_port()
            command = [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ]  # fmt: skip
            self.process = subprocess.Popen(
                command, cwd=self.directory, stdout=self._log, stderr=subprocess.STDOUT
            )
            deadline = time.monotonic() + timeout
            while self.process.poll() is None and time.monotonic() < deadline:
                if _answers(self.port):
                    return self
                time.sleep(0.01)
            self._terminate()
        log = (self.directory / "redis-server.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RedisUnavailable(f"redis-server did not start:\n{log}")

    def _terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        self._terminate()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _answers(port: int) -> bool:
    try:
        with Resp(port, timeout=0.5) as client:
            return client.command("PING") == "PONG"
    except (OSError, RespError):
        return False


# -- RESP ------------------------------------------------------------------------------------
class RespError(Exception):
    """An error reply, or a reply this client cannot read."""


class Resp:
    """A blocking RESP2 client on one connection: ``command`` and ``pipeline``."""

    def __init__(self, port: int, timeout: float | None = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._file = self.sock.makefile("rb")
        host, local_port = self.sock.getsockname()[:2]
        self.address = f"{host}:{local_port}"  # As the server (CLIENT LIST, MONITOR) names it.

    @staticmethod
    def encode(*args: Any) -> bytes:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(parts)

    def read(self) -> Any:
        line = self._file.readline()
        if not line.endswith(b"\r\n"):
            raise RespError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self.read() for _ in range(count)]
        raise RespError(f"unexpected reply {line[:80]!r}")

    def command(self, *args: Any) -> Any:
        self.sock.sendall(self.encode(*args))
        return self.read()

    def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in one round trip; their replies in order."""
        self.sock.sendall(b"".join(self.encode(*command) for command in commands))
        return [self.read() for _ in commands]

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self.sock.close()

    def __enter__(self) -> Resp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- MONITOR ---------------------------------------------------------------------------------
# +1700000000.123456 [0 127.0.0.1:54321] "BRPOP" "huey.redis.bench" "1"   (a client)
# +1700000000.123457 [0 lua] "HSET" "huey.results.bench" ...              (inside a script)
_MONITOR_LINE = re.compile(r"^(\d+\.\d+) \[\d+ ([^\]]+)\] (.*)$", re.DOTALL)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
LUA = "lua"  # The client address MONITOR gives commands run by a script.


@dataclass(frozen=True)
class Seen:
    """One command as MONITOR reports it: server time, client address, name, first argument."""

    time: float
    client: str
    name: str  # Lower case; "client|setinfo" for a subcommand of CLIENT, CONFIG, SCRIPT...
    arg: str


_WITH_SUBCOMMAND = {"client", "config", "script", "function", "cluster", "object", "command"}


def parse_monitor_line(line: str) -> Seen | None:
    found = _MONITOR_LINE.match(line)
    if not found:
        return None
    stamp, client, rest = found.groups()
    tokens = _QUOTED.findall(rest)
    if not tokens:
        return None
    name = tokens[0].lower()
    arg = tokens[1] if len(tokens) > 1 else ""
    if name in _WITH_SUBCOMMAND and arg:
        name = f"{name}|{arg.lower()}"
    return Seen(float(stamp), client, name, arg)


class Monitor:
    """``MONITOR`` on a connection of its own, read by a thread into ``seen``."""

    def __init__(self, port: int) -> None:
        self._client = Resp(port, timeout=None)
        self.address = self._client.address
        if self._client.command("MONITOR") != "OK":
            raise RespError("MONITOR refused")
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="redis-monitor", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                reply = self._client.read()
            except (OSError, ValueError, RespError):
                return
            if isinstance(reply, str):
                seen = parse_monitor_line(reply)
                if seen is not None:
                    with self._lock:
                        self.seen.append(seen)

    def wait_for(self, client: str, name: str, arg: str, timeout: float = 10.0) -> None:
        """Until MONITOR has reported ``name arg`` from ``client`` (a marker the harness sent)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any(s.client == client and s.name == name and s.arg == arg for s in self.seen):
                    return
            time.sleep(0.01)
        raise RespError(f"MONITOR did not report {name} {arg} within {timeout:g}s")

    def stop(self) -> list[Seen]:
        """Close the connection (again: a no-op) and return everything seen."""
        if self._thread.is_alive():
            try:
                self._client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._thread.join(10)
        self._client.close()
        with self._lock:
            return list(self.seen)


# -- which process owns a connection (Linux) ---------------------------------------------------
def local_addresses_of(pid: int) -> set[str] | None:
    """The local ``host:port`` of every IPv4 TCP socket process ``pid`` holds; None without
    ``/proc``. A client's local address is how the server (and MONITOR) names it."""
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        inodes = set()
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        table = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    addresses = set()
    for row in table:
        fields = row.split()
        if len(fields) > 9 and fields[9] in inodes:
            host_hex, port_hex = fields[1].split(":")
            octets = bytes.fromhex(host_hex)[::-1]  # Little-endian on the hosts /proc runs on.
            addresses.add(f"{'.'.join(str(b) for b in octets)}:{int(port_hex, 16)}")
    return addresses
