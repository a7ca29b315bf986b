"""Fixtures of the upstream suite: huey 3.5.4's test files and a private Redis for them.

The summary at the end of the run gives passed/total for each upstream file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_servers import REDIS_SERVER, RedisServer
from upstream_support import FetchError, FileResult, fetch_sdist, unpack_tests

RESULTS = pytest.StashKey[list[FileResult]]()


def _unavailable(config: pytest.Config, what: str) -> None:
    """Fail under CI, skip locally, through the root conftest's ``service_unavailable``."""
    root = str(Path(__file__).resolve().parents[1] / "conftest.py")
    conftest: Any = config.pluginmanager.get_plugin(root)
    conftest.service_unavailable(what)


@pytest.fixture(scope="session")
def upstream_package(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """huey 3.5.4's test files, unpacked as the package ``huey354_tests``."""
    try:
        sdist = fetch_sdist()
    except FetchError as exc:
        _unavailable(request.config, f"huey 3.5.4's sdist from the package index: {exc}")
    return unpack_tests(sdist, tmp_path_factory.mktemp("huey354"))


@pytest.fixture(scope="session")
def upstream_redis(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A private server for huey's Redis tests, which flush databases (never 6379)."""
    if REDIS_SERVER is None:
        _unavailable(request.config, "redis-server")
    server = RedisServer("databases 16").start()
    yield server
    server.close()


@pytest.fixture
def record_result(request: pytest.FixtureRequest) -> Any:
    """Keep a file's result for the summary at the end of the run."""
    return request.config.stash.setdefault(RESULTS, []).append


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS, [])
    if not results:
        return
    write = terminalreporter.write_line
    terminalreporter.section("huey 3.5.4's own test files, run against this project")
    for result in sorted(results, key=lambda item: item.name):
        write(
            f"{result.name:<24} {len(result.passed):>4}/{result.total:<4} passed"
            f"  {len(result.failed)} failed, {len(result.skipped)} skipped,"
            f" {len(result.excluded)} excluded"
        )
    total = sum(result.total for result in results)
    passed = sum(len(result.passed) for result in results)
    excluded = sum(len(result.excluded) for result in results)
    write(f"{'all':<24} {passed:>4}/{total:<4} passed, {excluded} excluded")
    if os.environ.get("HUEY_UPSTREAM_VERBOSE"):
        for result in results:
            write(result.output)
