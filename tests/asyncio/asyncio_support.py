"""Helpers of the asyncio tests: real ``huey_consumer`` runs of ``async_apps.app``, polling.

A uniquely named module (not ``conftest``), so test modules import it unambiguously.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # For ``import async_apps.app`` in the test process.
    sys.path.insert(0, str(HERE))

from async_apps.app import read_events  # noqa: E402
from polling import wait_for  # noqa: E402 - re-exported for the tests

BIN = Path(sys.executable).parent
CONSUMER_SCRIPT = BIN / "huey_consumer"
# Quick polling, scheduler and health checks.
FAST = ["-d", "0.01", "-m", "0.1", "-s", "0.1", "-c", "0.2"]


def events(directory: str | Path, kind: str) -> list[list[str]]:
    return [event[1:] for event in read_events(directory) if event[0] == kind]


def signals(directory: str | Path, name: str, task: str | None = None) -> list[str]:
    """Ids of the tasks that sent signal ``name`` (of task function ``task``, if given)."""
    return [
        task_id
        for signal_name, task_name, task_id in events(directory, "signal")
        if signal_name == name and (task is None or task_name == task)
    ]


def peak_concurrency(directory: str | Path) -> int:
    """The most tasks between their ``begin`` and their ``end`` at any one time."""
    running = peak = 0
    for event in read_events(directory):
        if event[0] == "begin":
            running += 1
            peak = max(peak, running)
        elif event[0] in ("end", "cancelled"):
            running -= 1
    return peak


class ConsumerRun:
    """``huey_consumer async_apps.app.huey ARGS`` on ``directory`` (and Redis, when given)."""

    def __init__(self, directory: Path, args: list[str], env: dict[str, str] | None = None):
        self.directory = directory
        self.log_path = directory / f"consumer-{time.monotonic_ns()}.log"
        full_env = {
            **os.environ,
            "HUEY_ASYNC_TEST_DIR": str(directory),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        full_env.pop("PYTHONPATH", None)  # The consumer finds the app through its cwd.
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()/stop()
        self.process = subprocess.Popen(
            [str(CONSUMER_SCRIPT), "async_apps.app.huey", *FAST, *args],
            cwd=HERE,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_started(self, hooks: int = 1, timeout: float = 20.0) -> None:
        """Until the banner is logged and ``hooks`` startup hooks ran."""

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"consumer exited early ({self.process.returncode}):\n{self.log()}")
            started = len(events(self.directory, "startup")) >= hooks
            return "huey consumer started" in self.log() and started

        wait_for(ready, timeout, what="the consumer to start")

    def send(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"consumer still running after {timeout}s:\n{self.log()}")
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._log.close()
