"""A real ``huey_consumer`` subprocess for the backend tests (Redis Cluster, valkey-glide).

A uniquely named top-level module, as ``polling`` is, so any test directory imports it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from polling import wait_for

# The console script installed next to the interpreter running the tests.
CONSUMER_SCRIPT = Path(sys.executable).parent / "huey_consumer"
# A quick scheduler and health checks; storages that block need no polling options.
FAST = ["-s", "0.1", "-c", "0.5"]


class ConsumerProcess:
    """``huey_consumer APP *args`` run in ``cwd`` (where APP's module is), logging to ``log``."""

    def __init__(
        self, app: str, cwd: Path, log: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(CONSUMER_SCRIPT), app, *FAST, *args],
            cwd=cwd,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_started(self, timeout: float = 30) -> None:
        def started() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"consumer exited ({self.process.returncode}):\n{self.log()}")
            return "huey consumer started" in self.log()

        wait_for(started, timeout, what=f"the consumer to start; its log:\n{self.log()}")

    def interrupt(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"consumer did not stop on SIGINT:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()
