"""Helpers for the consumer tests: polling with a deadline, and real ``huey_consumer`` runs.

A uniquely named module (not ``conftest``), so test modules import it unambiguously.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # For ``import apps.basic`` in the test process.
    sys.path.insert(0, str(HERE))

from apps.basic import read_events  # noqa: E402
from polling import wait_for  # noqa: E402 - re-exported for the tests

# The console script installed next to the interpreter running the tests.
CONSUMER_SCRIPT = Path(sys.executable).parent / "huey_consumer"
# Options that keep test runs quick: fast polling, scheduler and health checks.
FAST = ["-d", "0.01", "-m", "0.1", "-s", "0.1", "-c", "0.2"]


def events_of(directory: str | Path, kind: str) -> list[list[str]]:
    return [event[1:] for event in read_events(directory) if event[0] == kind]


class ConsumerRun:
    """A ``huey_consumer apps.basic.huey`` subprocess on ``directory``'s FileHuey."""

    def __init__(
        self,
        directory: Path,
        args: list[str],
        entry: list[str] | None = None,
        new_session: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        """``new_session``: the consumer leads its own process group, so a test can signal the
        whole group (consumer and worker processes) as a service manager does. ``env``: more
        environment variables (``HUEY_TEST_DELIVERY`` for the app's delivery mode)."""
        self.directory = directory
        self.log_path = directory / "consumer.log"
        self.new_session = new_session
        env = {
            **os.environ,
            **(env or {}),
            "HUEY_TEST_DIR": str(directory),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("PYTHONPATH", None)  # The consumer must find the app through its cwd.
        command = entry or [str(CONSUMER_SCRIPT)]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.process = subprocess.Popen(
            [*command, "apps.basic.huey", *args],
            cwd=HERE,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, kind: str) -> list[list[str]]:
        return events_of(self.directory, kind)

    def events_all(self) -> list[list[str]]:
        return read_events(self.directory)

    def wait_started(self, workers: int = 1, timeout: float = 20.0) -> None:
        """Until the banner is logged and every worker ran its startup hook."""

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"consumer exited early ({self.process.returncode}):\n{self.log()}")
            return "huey consumer started" in self.log() and len(self.events("startup")) >= workers

        wait_for(ready, timeout, what=f"consumer start with {workers} workers")

    def send(self, sig: int) -> None:
        self.process.send_signal(sig)

    def send_to_group(self, sig: int) -> None:
        """``sig`` to the consumer and its worker processes at once (needs ``new_session``)."""
        os.killpg(self.process.pid, sig)

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
        if self.new_session:  # Worker processes left behind by a failed test.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()


def run_cli(
    *args: str, cwd: Path = HERE, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run ``huey_consumer`` to completion (argument errors, --help)."""
    env = {**os.environ}
    env.pop("HUEY_TEST_DIR", None)
    return subprocess.run(
        [str(CONSUMER_SCRIPT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- embedded consumers (create_consumer().start()) -----------------------------------------------
FAST_OPTIONS: dict[str, Any] = {
    "initial_delay": 0.01,
    "max_delay": 0.1,
    "scheduler_interval": 0.1,
    "health_check_interval": 0.1,
}


def sleeper(worker_type: str) -> Callable[[float], object]:
    """What tasks sleep with: embedded greenlets are not monkey-patched, so gevent.sleep."""
    if worker_type == "greenlet":
        import gevent

        return gevent.sleep  # type: ignore[no-any-return]
    return time.sleep
