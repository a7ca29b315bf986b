"""Helpers of the interop tests: the published huey 3.5.4 in its own virtualenv, and both sides.

Neither implementation runs in the test process. Each step runs in a subprocess of one side:

- ``huey354``: a virtualenv with ``huey==3.5.4`` from the package index, built once and cached
  under ``$XDG_CACHE_HOME/huey-interop/`` (``~/.cache/huey-interop/``), keyed by the huey version
  and the base interpreter. It is rebuilt when it is missing, incomplete or broken. When it
  cannot be built the tests fail under ``CI=true`` and are skipped otherwise, with the reason.
- ``ours``: this test environment's interpreter (``sys.executable``), where the workspace
  packages are installed editable.

Both import the same application, ``apps/interop_app.py``, and run the same step script,
``apps/interop_driver.py``; the test process moves JSON (with bytes as hex) between them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
DRIVER = APPS / "interop_driver.py"
PUBLISHED_VERSION = "3.5.4"
STEP_TIMEOUT = 120.0


def _clean_env() -> dict[str, str]:
    """This environment minus what would leak one interpreter's packages into the other."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV"}
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",  # Nothing written next to the shared app in the repo.
        PYTHONUNBUFFERED="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
    )
    return env


def unavailable(what: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{what}; under CI the interop tests must run", pytrace=False)
    pytest.skip(f"{what} (under CI=true this fails)")


# -- the published huey in its own virtualenv ------------------------------------------------
def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huey-interop"


def _venv_key() -> str:
    base = getattr(sys, "_base_executable", sys.executable)
    digest = hashlib.sha256(f"{os.path.realpath(base)}|{sys.version}".encode()).hexdigest()[:12]
    return f"huey-{PUBLISHED_VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}-{digest}"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _venv_works(venv: Path) -> bool:
    if not (venv / ".complete").exists() or not _venv_python(venv).exists():
        return False
    check = (
        "import huey, sys; "
        f"sys.exit(0 if huey.__version__ == {PUBLISHED_VERSION!r} "
        "and 'site-packages' in huey.__file__ else 1)"
    )
    proc = subprocess.run(
        [str(_venv_python(venv)), "-c", check],
        env=_clean_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return proc.returncode == 0


def _build_venv(venv: Path) -> str | None:
    """Create ``venv`` with huey==3.5.4; the reason on failure, None on success."""
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(_venv_python(venv)),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"huey=={PUBLISHED_VERSION}",
        ],
    ]
    for command in steps:
        try:
            proc = subprocess.run(
                command, env=_clean_env(), capture_output=True, text=True, timeout=300, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(command)}: {exc}"
        if proc.returncode != 0:
            return f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    (venv / ".complete").write_text(f"huey=={PUBLISHED_VERSION}\n")  # Checked next.
    if not _venv_works(venv):
        return f"huey {PUBLISHED_VERSION} does not import from {venv} after installing it"
    return None


def published_huey_python(scratch: Path) -> Path:
    """The interpreter of a virtualenv holding the published huey 3.5.4, and nothing of ours.

    Built in the cache directory, or in ``scratch`` (this session's temporary directory) when
    the cache directory cannot be used.
    """
    cache = _cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        lock_path = cache / f".{_venv_key()}.lock"
        lock = open(lock_path, "w")  # noqa: SIM115 - held across the build, closed below
    except OSError:
        cache = scratch
        lock = None
    venv = cache / _venv_key()
    try:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # One builder at a time, across pytest runs.
        if not _venv_works(venv):
            reason = _build_venv(venv)
            if reason is not None:
                shutil.rmtree(venv, ignore_errors=True)
                unavailable(f"cannot create a virtualenv with huey=={PUBLISHED_VERSION}: {reason}")
    finally:
        if lock is not None:
            lock.close()
    return _venv_python(venv)


# -- the two sides ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    """One implementation: an interpreter that imports ``interop_app`` with its own huey."""

    name: str  # "huey354" or "ours"
    python: Path

    def env(self, config: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, str]:
        env = _clean_env()
        env.update(
            PYTHONPATH=str(APPS),
            HUEY_INTEROP_CONFIG=json.dumps(config),
            HUEY_INTEROP_IMPL=self.name,
        )
        env.update(extra or {})
        return env

    def step(
        self,
        step: str,
        data: Any,
        workdir: Path,
        config: dict[str, Any],
        env: dict[str, str] | None = None,
    ) -> Any:
        """Run one driver step on this side; its JSON answer."""
        workdir.mkdir(parents=True, exist_ok=True)
        stamp = f"{step}-{self.name}-{time.monotonic_ns()}"
        source, target = workdir / f"{stamp}.in.json", workdir / f"{stamp}.out.json"
        source.write_text(json.dumps(data))
        command = [str(self.python), str(DRIVER), step, str(source), str(target)]
        proc = subprocess.run(
            command,
            cwd=workdir,
            env=self.env(config, env),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"step {step} on {self.name} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout[-5000:]}\n--- stderr\n{proc.stderr[-8000:]}",
                pytrace=False,
            )
        answer = json.loads(target.read_text())
        assert answer["impl"] == self.name, "the step ran under the other implementation"
        return answer

    def consumer(
        self, config: dict[str, Any], workdir: Path, args: list[str], env: dict[str, str]
    ) -> Consumer:
        """Start ``huey_consumer interop_app.huey`` of this side."""
        command = [str(self.python.parent / "huey_consumer"), "interop_app.huey", *args]
        return Consumer(self.name, command, workdir, self.env(config, env))


class Consumer:
    """A consumer process; ``stop()`` sends SIGINT (graceful) and waits for it."""

    def __init__(self, name: str, command: list[str], workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = workdir / f"consumer-{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


# Producer first, consumer second.
DIRECTIONS = {"huey354-to-ours": ("huey354", "ours"), "ours-to-huey354": ("ours", "huey354")}


def wait_for_fleet(predicate: Any, timeout: float, what: str, consumers: list[Consumer]) -> None:
    """Poll ``predicate``; fail at once if a consumer died, or with their logs on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        for consumer in consumers:
            if not consumer.alive():
                pytest.fail(f"the {consumer.name} consumer died:\n{consumer.log()[-5000:]}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {c.name}\n{c.log()[-3000:]}" for c in consumers)
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs}")
        time.sleep(0.05)
