"""Fixtures of the interop tests (the helpers are in ``interop_support.py``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_support import Consumer, Side, published_huey_python


@pytest.fixture(scope="session")
def huey354_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """huey 3.5.4's virtualenv interpreter: built or reused once per session."""
    return published_huey_python(tmp_path_factory.mktemp("huey354-venv"))


@pytest.fixture(scope="session")
def sides(huey354_python: Path) -> dict[str, Side]:
    """Both implementations: huey 3.5.4 in its virtualenv, ours in this test environment."""
    return {
        "huey354": Side("huey354", huey354_python),
        "ours": Side("ours", Path(sys.executable)),
    }


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    """Consumers a test started; every one is stopped at teardown, whatever happened."""
    started: list[Consumer] = []
    yield started
    for consumer in started:
        consumer.stop()
