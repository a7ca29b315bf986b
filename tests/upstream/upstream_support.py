"""huey 3.5.4's own test files, fetched at test time and run against our distributions.

Nothing of huey 3.5.4 is committed here (its code is not ours, and its ``huey`` package would
clash with ours). The sdist is downloaded from the package index once, checked against a pinned
SHA-256 and cached under ``$XDG_CACHE_HOME/huey-upstream/``. Its ``huey/tests`` directory is
unpacked into a scratch directory as the package ``huey354_tests``; the only change made to
the files is their import path (``huey.tests`` becomes ``huey354_tests``).

Each test file then runs in a pytest subprocess of its own (huey's files configure Django and
logging at import, so they cannot share a process with our suite), with ``upstream_plugin``
loaded to send every Redis connection to a private server. Its JUnit report says which tests
passed.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXCLUSIONS = HERE / "exclusions.txt"
VERSION = "3.5.4"
SDIST = f"huey-{VERSION}.tar.gz"
SDIST_SHA256 = "328f5a2dd1406621e5edb17d45655ae232ad9f32c0795ca8dc0bfc121dd7b30c"
PACKAGE = "huey354_tests"
FILE_TIMEOUT = 900  # Seconds for one upstream file, its slow tests included.
TEST_TIMEOUT = 120  # Seconds for one upstream test (pytest-timeout), so a hang names its test.

# Skip reasons of huey 3.5.4's tests that are accepted: capabilities this project has not
# built yet, each a later issue, and huey's own capability skips. Any other skip fails the file.
ACCEPTED_SKIPS = {
    "requires peewee": "huey.contrib.sql_huey and huey.contrib.stats are built on peewee",
    # huey's own capability skip: RedisHuey has no priorities there either (PriorityRedisHuey).
    "priority support required": "a storage without supports_priority, as in huey 3.5.4",
}


class FetchError(Exception):
    """The sdist could not be downloaded or did not match its pinned digest."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "huey-upstream"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_sdist() -> Path:
    """The cached, verified sdist; downloaded with pip (of the base interpreter) when missing."""
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    sdist = cache / SDIST
    if sdist.exists() and _digest(sdist) == SDIST_SHA256:
        return sdist
    sdist.unlink(missing_ok=True)
    python = getattr(sys, "_base_executable", sys.executable)  # hatch's envs have no pip.
    command = [python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
    command += ["--dest", str(cache), f"huey=={VERSION}"]
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"{' '.join(command)}: {exc}") from exc
    if proc.returncode != 0 or not sdist.exists():
        raise FetchError(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    if _digest(sdist) != SDIST_SHA256:
        sdist.unlink()
        raise FetchError(f"{SDIST} from the index does not match its pinned SHA-256")
    return sdist


_IMPORT = re.compile(r"\b(from|import)\s+huey\.tests\b")


def unpack_tests(sdist: Path, target: Path) -> Path:
    """Unpack ``huey/tests/test_*.py`` and ``base.py`` into ``target/huey354_tests``.

    The package's ``__init__`` is left empty: huey's imports every test module, the ones for
    capabilities not built here too.
    """
    package = target / PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    prefix = f"huey-{VERSION}/huey/tests/"
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix(prefix)
            if member.name == name or "/" in name or not name.endswith(".py"):
                continue
            if name != "base.py" and not name.startswith("test_"):
                continue
            source = archive.extractfile(member)
            assert source is not None
            text = source.read().decode("utf-8")
            (package / name).write_text(_IMPORT.sub(rf"\1 {PACKAGE}", text))
    (target / "pytest.ini").write_text("[pytest]\n")  # Not the repository's configuration.
    return package


def upstream_files(package: Path) -> list[str]:
    return sorted(path.name for path in package.glob("test_*.py"))


@dataclass(frozen=True)
class Exclusion:
    """One test of huey 3.5.4 not run here, and why no user can observe the difference."""

    test: str  # "test_api.py::TestQueue::test_name"
    reason: str


def read_exclusions(path: Path = EXCLUSIONS) -> list[Exclusion]:
    """``exclusions.txt``: ``file::Class::test | internal touched — why unobservable`` a line."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        test, sep, reason = (part.strip() for part in line.partition("|"))
        if not sep or not reason or test.count("::") != 2:
            raise ValueError(f"{path.name}:{number}: expected 'file::Class::test | reason'")
        found.append(Exclusion(test, reason))
    return found


@dataclass
class FileResult:
    """What one upstream file's run reported."""

    name: str
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # test -> message
    skipped: dict[str, str] = field(default_factory=dict)  # test -> reason
    excluded: list[str] = field(default_factory=list)
    deselected: set[str] = field(default_factory=set)  # what pytest found and left out
    output: str = ""

    @property
    def total(self) -> int:
        return len(self.passed) + len(self.failed) + len(self.skipped) + len(self.excluded)


def _test_id(case: ElementTree.Element, name: str) -> str:
    classname = case.get("classname", "").rsplit(".", 1)[-1]
    return f"{name}::{classname}::{case.get('name')}"


def run_file(
    name: str,
    package: Path,
    exclusions: list[Exclusion],
    redis_port: int,
    scratch: Path,
    excluded_only: bool = False,
) -> FileResult:
    """Run one upstream file in a pytest subprocess, its excluded tests deselected; or, with
    ``excluded_only``, just those (to show that none of them passes any more)."""
    run = f"{name}.excluded" if excluded_only else name
    report = scratch / f"{run}.xml"
    deselected = scratch / f"{run}.deselected"
    workdir = scratch / run.replace(".", "-")  # Its tests write files to the cwd.
    workdir.mkdir(parents=True, exist_ok=True)
    excluded = [item.test for item in exclusions if item.test.startswith(f"{name}::")]
    if excluded_only:
        selection = [f"{PACKAGE}/{test}" for test in excluded]
    else:
        selection = [f"{PACKAGE}/{name}"] + [f"--deselect={PACKAGE}/{test}" for test in excluded]
    command = [sys.executable, "-m", "pytest", *selection, "-p", "upstream_plugin"]
    command += ["-p", "no:randomly", "-p", "no:cacheprovider", "-q", "-rfEs"]
    command += [f"--junitxml={report}", f"--timeout={TEST_TIMEOUT}", f"--rootdir={package.parent}"]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(package.parent), str(HERE)]),
        PYTHONDONTWRITEBYTECODE="1",
        HUEY_UPSTREAM_REDIS_PORT=str(redis_port),
        HUEY_UPSTREAM_DESELECTED=str(deselected),
        HUEY_SLOW_TESTS="1",  # huey's slow tests are behaviour too.
        TMPDIR=str(workdir),
    )
    proc = subprocess.run(
        command,
        cwd=package.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=FILE_TIMEOUT,
    )
    output = proc.stdout[-20000:] + proc.stderr[-5000:]
    result = FileResult(name, excluded=[] if excluded_only else excluded, output=output)
    if deselected.exists():
        found = deselected.read_text().split()
        result.deselected = {test.removeprefix(f"{PACKAGE}/") for test in found}
    if not report.exists():
        result.failed[f"{name} (no report)"] = f"pytest exited {proc.returncode}"
        return result
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        test = _test_id(case, name)
        outcome = next(iter(case), None)
        if outcome is None:
            result.passed.append(test)
        elif outcome.tag == "skipped":
            result.skipped[test] = outcome.get("message", "")
        else:  # failure or error (a collection error has no class name)
            result.failed[test] = (outcome.get("message") or outcome.tag)[:500]
    return result
