"""huey 3.5.4's own test files pass against our distributions (see ``upstream_support``).

Every test passes except those listed in ``exclusions.txt``: each touches a huey internal no
user can observe, or shows a deliberate extension (marked ``EXTENSION``). A listed test that
no longer exists fails the run, so the list cannot go stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from redis_servers import RedisServer
from upstream_support import (
    ACCEPTED_SKIPS,
    PACKAGE,
    read_exclusions,
    run_file,
    upstream_files,
)

pytestmark = pytest.mark.slow

# huey 3.5.4's test files (the sdist is pinned by digest, so this list is fixed).
FILES = [
    "test_api.py",
    "test_asyncio.py",
    "test_consumer.py",
    "test_crontab.py",
    "test_django_tasks.py",
    "test_helpers.py",
    "test_immediate.py",
    "test_mini.py",
    "test_postgres.py",
    "test_priority.py",
    "test_registry.py",
    "test_serializer.py",
    "test_signals.py",
    "test_sql_huey.py",
    "test_stats.py",
    "test_storage.py",
    "test_utils.py",
    "test_wrappers.py",
]

# Whole files for capabilities this project has not built yet; they fail at import here.
NOT_YET = {
    "test_postgres.py": "PostgresHuey (huey.api) arrives with the huey-postgres distribution",
}


def test_the_file_list_is_huey_354s(upstream_package: Path) -> None:
    assert upstream_files(upstream_package) == FILES


def test_exclusions_are_well_formed_and_name_known_files() -> None:
    exclusions = read_exclusions()
    tests = [item.test for item in exclusions]
    assert len(tests) == len(set(tests)), "an exclusion is listed twice"
    assert {test.split("::")[0] for test in tests} <= set(FILES) - set(NOT_YET)


@pytest.mark.parametrize("name", FILES)
def test_upstream_file_passes(
    name: str,
    upstream_package: Path,
    upstream_redis: RedisServer,
    tmp_path: Path,
    record_result: Any,
) -> None:
    if name in NOT_YET:
        pytest.skip(NOT_YET[name])
    exclusions = read_exclusions()
    result = run_file(name, upstream_package, exclusions, upstream_redis.port, tmp_path)
    record_result(result)
    problems = [f"FAILED {test}: {message}" for test, message in result.failed.items()]
    problems += [
        f"SKIPPED {test}: {reason} (not an accepted skip reason)"
        for test, reason in result.skipped.items()
        if not any(accepted in reason for accepted in ACCEPTED_SKIPS)
    ]
    stale = [test for test in result.excluded if test not in result.deselected]
    problems += [f"EXCLUDED but no such test in {PACKAGE}: {test}" for test in stale]
    assert not problems, "\n".join(problems) + "\n\n" + result.output[-8000:]
    assert result.total, f"{name}: no test ran"


@pytest.mark.parametrize("name", sorted({item.test.split("::")[0] for item in read_exclusions()}))
def test_excluded_tests_still_fail_here(
    name: str, upstream_package: Path, upstream_redis: RedisServer, tmp_path: Path
) -> None:
    """An excluded test that passes now must leave the list: it hides nothing any more."""
    exclusions = read_exclusions()
    result = run_file(
        name, upstream_package, exclusions, upstream_redis.port, tmp_path, excluded_only=True
    )
    assert not result.passed, "passing now; remove from exclusions.txt:\n" + "\n".join(
        result.passed
    )
    assert result.failed, f"{name}: none of its excluded tests ran\n{result.output[-4000:]}"
