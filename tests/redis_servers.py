"""Private ``redis-server`` processes for the tests, on free loopback ports.

Never the shared server at 127.0.0.1:6379: every server here is started by the tests, holds
nothing on disk, and is stopped by them. In CI a missing ``redis-server`` fails the run (see
``conftest.service_unavailable``); ``.ci/run`` installs it when absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` (or sentinel) process; ``restart`` keeps its port."""

    def __init__(self, *extra: str, port: int | None = None, sentinel: bool = False) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed")
        self.port = port or free_port()
        self.extra = extra
        self.sentinel = sentinel
        self.directory = Path(tempfile.mkdtemp(prefix=f"huey-redis-{self.port}-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        config = self.directory / ("sentinel.conf" if self.sentinel else "redis.conf")
        lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {self.directory}"]
        if not self.sentinel:
            lines += ['save ""', "appendonly no"]
        config.write_text("\n".join(lines + list(self.extra)) + "\n")
        command = [REDIS_SERVER, str(config)]
        return [*command, "--sentinel"] if self.sentinel else command

    def start(self, timeout: float = 10) -> RedisServer:
        self._log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self._command(), stdout=self._log, stderr=subprocess.STDOUT, cwd=self.directory
        )
        deadline = time.monotonic() + timeout
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server on port {self.port} did not start: "
                    f"{(self.directory / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.02)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.directory, ignore_errors=True)
