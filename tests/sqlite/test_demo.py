"""The README's main command (``./dev demo``): the SQLite demo runs every kind of task, stops
cleanly and leaves no file behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).parents[2] / "examples" / "sqlite_demo" / "run.py"


def _run_demo(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


@pytest.mark.slow
def test_demo_runs_every_kind_of_task_and_removes_its_queue_file(tmp_path: Path) -> None:
    lines = _run_demo({"TMPDIR": str(tmp_path)})
    assert "  add(1, 2) -> 3" in lines
    assert "  flaky_square(7), retried once -> 49" in lines
    assert "  slow_echo, scheduled 1 s ahead -> 'scheduled'" in lines
    assert "  pipeline add(1, 2).then(add, 3).then(add, 4) -> [3, 6, 10]" in lines
    assert "  periodic: every_minute ran (run 3)" in lines
    assert "consumer stopped cleanly" in lines
    # The queue file was made under TMPDIR, and its directory is gone.
    db = Path(lines[0].removeprefix("queue file: "))
    assert db.name == "demo.db" and db.parent.parent == tmp_path, lines[0]
    assert lines[-1] == f"removed {db.parent}"
    assert not list(tmp_path.glob("huey-demo-*"))


@pytest.mark.slow
def test_demo_keeps_the_queue_file_it_was_given(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    lines = _run_demo({"DEMO_DB": str(db), "TMPDIR": str(tmp_path)})
    assert lines[0] == f"queue file: {db}"
    assert lines[-1] == "consumer stopped cleanly"
    assert db.exists()
    assert not list(tmp_path.glob("huey-demo-*"))
