"""The implementations measured, each in its own environment.

- ``ours``: this project, from an interpreter where the workspace packages (``packages/*``) are
  installed, by default the one running the harness (``hatch run bench:...`` or the test
  environment). Checked: its ``huey`` must come from this repository's ``packages/``.
- ``huey354``: the published huey 3.5.4 in a virtualenv of its own, built on first use with pip
  and cached under ``$XDG_CACHE_HOME/huey-bench/`` (``~/.cache/huey-bench/``), keyed by the huey
  version and the base interpreter; rebuilt when missing, incomplete or broken. Besides huey it
  holds ``redis`` (redis-py, for the Redis workloads) and ``gevent`` (for ``-k greenlet``, the
  io-bound workload), each at the version the harness's environment has when it has one, so
  both implementations run the same client and event loop; a cached virtualenv without them
  (or with other versions) gets them installed on next use. Nothing of
  this project is installed there, and the published huey is never installed anywhere else.

The harness process imports neither: every measurement runs in subprocesses started from an
implementation's own ``bin/`` (``huey_consumer``, ``python``), with a clean environment whose
``PYTHONPATH`` holds only ``benchmarks/apps``.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "benchmarks" / "apps"
WORKSPACE_PACKAGES = ROOT / "packages"
PUBLISHED_VERSION = "3.5.4"
# An interpreter that already has huey 3.5.4 (and nothing of ours) instead of the cached venv.
PUBLISHED_PYTHON_VARIABLE = "HUEY_BENCH_HUEY354_PYTHON"

_PROBE = """
import json, sys
import huey
try:
    from huey import SqliteHuey  # noqa: F401
    sqlite = True
except ImportError:
    sqlite = False
try:
    import redis
    redis_version = redis.__version__
except ImportError:
    redis_version = None
try:
    import gevent
    gevent_version = gevent.__version__
except ImportError:
    gevent_version = None
try:
    import hiredis
    hiredis_version = hiredis.__version__
except ImportError:
    hiredis_version = None
print(json.dumps({"huey_version": getattr(huey, "__version__", "unknown"),
                  "huey_file": huey.__file__, "sqlite": sqlite,
                  "redis_version": redis_version, "gevent_version": gevent_version,
                  "hiredis_version": hiredis_version,
                  "python_version": sys.version.split()[0]}))
"""


class EnvUnavailable(Exception):
    """An implementation's environment cannot be found or built; the message says why."""


@dataclass(frozen=True)
class Implementation:
    """One implementation measured: a key, a label for tables, and its interpreter."""

    key: str  # "ours" or "huey354"
    label: str
    python: Path
    huey_version: str
    python_version: str
    redis_version: str | None = None  # redis-py, None when the environment has none.
    gevent_version: str | None = None  # For -k greenlet; None when the environment has none.
    # redis-py's C reply parser: huey-redis depends on it (redis[hiredis]); huey 3.5.4's
    # virtualenv is built as its own documentation installs it, without.
    hiredis_version: str | None = None
    # How its consumers log (``_backends.CONSUMER_LOGS``): "info", each implementation's
    # default, or "quiet" (``-q``). The same for both implementations in a run (``--log``).
    consumer_log: str = "info"

    def command(self, name: str) -> Path:
        """An executable of this implementation's environment (``huey_consumer``, ...)."""
        return self.python.parent / name

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = clean_env()
        env["PYTHONPATH"] = str(APPS)
        env.update(extra or {})
        return env

    def describe(self) -> dict[str, str]:
        return {
            "label": self.label,
            "python": str(self.python),
            "python_version": self.python_version,
            "huey_version": self.huey_version,
            "redis_py_version": self.redis_version or "not installed",
            "gevent_version": self.gevent_version or "not installed",
            "hiredis_version": self.hiredis_version or "not installed",
            "consumer_log": self.consumer_log,
        }


def clean_env() -> dict[str, str]:
    """This environment minus what would leak one interpreter's packages into another."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV"}
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",  # Nothing written next to the apps in the repository.
        PYTHONUNBUFFERED="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
    )
    return env


@functools.cache  # Each probe starts an interpreter; cleared when a virtualenv changes.
def _probe(python: Path) -> dict[str, object]:
    """What ``huey`` the interpreter imports; raises EnvUnavailable when it imports none."""
    try:
        proc = subprocess.run(
            [str(python), "-c", _PROBE],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvUnavailable(f"{python}: {exc}") from exc
    if proc.returncode != 0:
        raise EnvUnavailable(f"{python} cannot import huey:\n{proc.stderr[-2000:]}")
    info: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return info


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _is_within(path: str, directory: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(directory.resolve())


# -- this project ----------------------------------------------------------------------------
def ours(python: Path | None = None) -> Implementation:
    """This project, from ``python`` (default: the interpreter running the harness)."""
    python = Path(python or sys.executable)
    hint = "run the benchmarks with `hatch run bench:...` or pass --ours-python"
    try:
        info = _probe(python)
    except EnvUnavailable as exc:
        raise EnvUnavailable(f"{exc}\n({hint})") from exc
    if not _is_within(str(info["huey_file"]), WORKSPACE_PACKAGES):
        raise EnvUnavailable(
            f"{python} imports huey from {info['huey_file']}, not from {WORKSPACE_PACKAGES} "
            f"({hint})"
        )
    if not info["sqlite"]:
        raise EnvUnavailable(f"{python} has no SqliteHuey: is huey-sqlite installed there?")
    if not (python.parent / "huey_consumer").exists():
        raise EnvUnavailable(f"no huey_consumer next to {python}")
    return Implementation(
        key="ours",
        label=f"ours (huey-core {info['huey_version']})",
        python=python,
        huey_version=str(info["huey_version"]),
        python_version=str(info["python_version"]),
        redis_version=_optional(info.get("redis_version")),
        gevent_version=_optional(info.get("gevent_version")),
        hiredis_version=_optional(info.get("hiredis_version")),
    )


# -- the published huey in its own virtualenv ------------------------------------------------
def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huey-bench"


def _venv_key() -> str:
    """Built from the harness's interpreter: keyed by its base interpreter and version."""
    real = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    digest = hashlib.sha256(f"{real}|{sys.version}".encode()).hexdigest()[:12]
    major, minor = sys.version_info[:2]
    return f"huey-{PUBLISHED_VERSION}-py{major}.{minor}-{digest}"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _published_ok(python: Path) -> str | None:
    """None when ``python`` runs the published huey 3.5.4, not this project's; else why not."""
    try:
        info = _probe(python)
    except EnvUnavailable as exc:
        return str(exc)
    huey_file = str(info["huey_file"])
    if info["huey_version"] != PUBLISHED_VERSION:
        return f"{python} imports huey {info['huey_version']} from {huey_file}"
    if _is_within(huey_file, ROOT):
        return f"{python} imports huey from this repository ({huey_file})"
    if not (python.parent / "huey_consumer").exists():
        return f"no huey_consumer next to {python}"
    return None


def _same_as_harness(distribution: str) -> str:
    """``distribution`` at the version the harness's environment has (this project's, by
    default), so both implementations run the same one; else the newest."""
    try:
        return f"{distribution}=={importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return distribution


def _extra_requirements() -> dict[str, str]:
    """What the huey 3.5.4 virtualenv holds besides huey, by the probe's key: redis-py (the
    Redis workloads) and gevent (``-k greenlet``, the io-bound workload)."""
    return {
        "redis_version": _same_as_harness("redis"),
        "gevent_version": _same_as_harness("gevent"),
    }


def _run_steps(steps: list[list[str]]) -> str | None:
    """Run each command; the reason of the first failure, None when all succeed."""
    _probe.cache_clear()  # They build or change a virtualenv.
    for command in steps:
        try:
            proc = subprocess.run(
                command, env=clean_env(), capture_output=True, text=True, timeout=300, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(command)}: {exc}"
        if proc.returncode != 0:
            return f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return None


def _pip_install(venv: Path, *requirements: str) -> list[str]:
    return [str(_venv_python(venv)), "-m", "pip", "install", "--quiet", *requirements]


def _missing_extras(venv: Path) -> list[str]:
    """The requirements of ``_extra_requirements`` the virtualenv does not meet."""
    try:
        info = _probe(_venv_python(venv))
    except EnvUnavailable:
        return list(_extra_requirements().values())
    missing = []
    for key, requirement in _extra_requirements().items():
        wanted = requirement.partition("==")[2]
        if info.get(key) is None or (wanted and info[key] != wanted):
            missing.append(requirement)
    return missing


def _build_venv(venv: Path) -> str | None:
    """Create ``venv`` with huey==3.5.4 and redis-py; the reason on failure, None on success."""
    shutil.rmtree(venv, ignore_errors=True)
    reason = _run_steps(
        [
            [sys.executable, "-m", "venv", str(venv)],
            _pip_install(venv, f"huey=={PUBLISHED_VERSION}", *_extra_requirements().values()),
        ]
    )
    if reason is None:
        reason = _published_ok(_venv_python(venv))
    if reason is None:
        (venv / ".complete").write_text(f"huey=={PUBLISHED_VERSION}\n")
    return reason


def _published_venv() -> Path:
    """The interpreter of the cached huey 3.5.4 virtualenv, built when needed."""
    cache = _cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvUnavailable(f"cannot create the cache directory {cache}: {exc}") from exc
    venv = cache / _venv_key()
    with open(cache / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # One builder at a time.
        if (venv / ".complete").exists() and _published_ok(_venv_python(venv)) is None:
            # Built before a workload needed redis-py or gevent, or for another version of
            # one: (re)install only those.
            missing = _missing_extras(venv)
            if not missing:
                return _venv_python(venv)
            reason = _run_steps([_pip_install(venv, *missing)])
            if reason is None and not _missing_extras(venv):
                return _venv_python(venv)
            raise EnvUnavailable(
                f"cannot install {' '.join(missing)} in the huey {PUBLISHED_VERSION} virtualenv "
                f"{venv}: {reason or 'installed, yet not importable'}"
            )
        reason = _build_venv(venv)
        if reason is not None:
            shutil.rmtree(venv, ignore_errors=True)
            raise EnvUnavailable(
                f"cannot create a virtualenv with huey=={PUBLISHED_VERSION} in {venv}: {reason}"
            )
    return _venv_python(venv)


def published(python: Path | None = None) -> Implementation:
    """The published huey 3.5.4: from ``python``, ``$HUEY_BENCH_HUEY354_PYTHON`` or the cache."""
    chosen = python or os.environ.get(PUBLISHED_PYTHON_VARIABLE)
    if chosen:
        path = Path(chosen)
        reason = _published_ok(path)
        if reason is not None:
            raise EnvUnavailable(reason)
    else:
        path = _published_venv()
    info = _probe(path)
    return Implementation(
        key="huey354",
        label=f"huey {PUBLISHED_VERSION}",
        python=path,
        huey_version=str(info["huey_version"]),
        python_version=str(info["python_version"]),
        redis_version=_optional(info.get("redis_version")),
        gevent_version=_optional(info.get("gevent_version")),
        hiredis_version=_optional(info.get("hiredis_version")),
    )
