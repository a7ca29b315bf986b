"""Fixtures of the consumer tests; helpers live in ``consumer_support``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from apps.basic import build
from consumer_support import FAST_OPTIONS, ConsumerRun


@pytest.fixture
def app(tmp_path: Path) -> Any:
    """The test application on a fresh directory, as the test process sees it."""
    return build(tmp_path)


@pytest.fixture
def run_consumer(tmp_path: Path) -> Iterator[Callable[..., ConsumerRun]]:
    """``start(*args)``: a ``huey_consumer`` subprocess on the ``app`` directory; killed after."""
    runs: list[ConsumerRun] = []

    def start(
        *args: str,
        entry: list[str] | None = None,
        new_session: bool = False,
        env: dict[str, str] | None = None,
    ) -> ConsumerRun:
        run = ConsumerRun(tmp_path, list(args), entry, new_session, env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


@pytest.fixture
def start_consumer() -> Iterator[Callable[..., Any]]:
    """``start(huey, **options)``: an embedded consumer, stopped (forcibly) after the test."""
    consumers: list[Any] = []

    def start(huey: Any, **options: Any) -> Any:
        consumer = huey.create_consumer(**{**FAST_OPTIONS, **options})
        consumer.start()
        consumers.append(consumer)
        return consumer

    yield start
    for consumer in consumers:
        assert consumer.stop(graceful=False, timeout=20), "consumer did not stop"
