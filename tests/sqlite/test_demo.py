"""The README's main command: the SQLite demo runs every kind of task and stops cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).parents[2] / "examples" / "sqlite_demo" / "run.py"


@pytest.mark.slow
def test_demo_runs_every_kind_of_task_and_stops_cleanly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"DEMO_DB": str(tmp_path / "demo.db"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "  add(1, 2) -> 3" in lines
    assert "  flaky_square(7), retried once -> 49" in lines
    assert "  slow_echo, scheduled 1 s ahead -> 'scheduled'" in lines
    assert "  pipeline add(1, 2).then(add, 3).then(add, 4) -> [3, 6, 10]" in lines
    assert "  periodic: every_minute ran (run 3)" in lines
    assert lines[-1] == "consumer stopped cleanly"
    assert (tmp_path / "demo.db").exists()
