"""The benchmark command's smoke runs work end to end: ``benchmarks/run.py all --smoke`` (what
``hatch run bench:all --smoke`` runs), one workload under its earlier name, and the Redis
``commands-per-task`` workload, which ``all`` does not run.

Each runs as a subprocess, as CI and developers run it: both implementations, each with its
own consumer in its own environment (huey 3.5.4 in a cached virtualenv built on first use);
the Redis workloads also start private ``redis-server`` processes. Only the structure of the
report and the sanity of its numbers are checked (every workload on both backends, numbers for
both implementations, positive where they must be): performance is reported, never asserted.

When an environment is unavailable (exit status 3: the huey 3.5.4 virtualenv cannot be built,
no redis-server, no redis-py or gevent) the test fails under CI=true and is skipped otherwise,
with the reason.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"
EXIT_UNAVAILABLE = 3  # benchmarks/run.py: an implementation's environment is unavailable.
IMPLEMENTATIONS = {"ours", "huey354"}
BACKENDS = {"redis", "sqlite"}
# The workloads of the issue: their variants ({None}: none) and headline metrics.
FAMILIES: dict[str, tuple[set[str | None], set[str]]] = {
    "enqueue": ({"single", "map", "group"}, {"tasks_per_s"}),
    "throughput": ({"thread", "process", "greenlet"}, {"drain_tasks_per_s"}),
    "roundtrip": ({"default", "notify_result", "floor"}, {"p50_ms", "p99_ms"}),
    "io-bound": ({"greenlet", "asyncio"}, {"drain_tasks_per_s", "ceiling_percent"}),
    "depth": ({None}, {"us_per_task_shallow", "us_per_task_deep", "deep_over_shallow"}),
    "memory": ({None}, {"rss_idle_mb", "rss_first_mb", "rss_second_mb", "growth"}),
}
# huey 3.5.4's SqliteHuey has no notify_result option; the floor is a Redis ping-pong.
NOT_ON_SQLITE = {("roundtrip", "notify_result"), ("roundtrip", "floor")}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def run_smoke(args: list[str], out: Path) -> tuple[dict[str, Any], str]:
    """``run.py ARGS --smoke --json OUT``: the report and the printed output."""
    report, proc = run_smoke_process(args, out)
    return report, proc.stdout


def run_smoke_process(
    args: list[str], out: Path
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """``run.py ARGS --smoke --json OUT``, checked: the report and the finished process."""
    command = [sys.executable, str(RUN), *args, "--smoke", "--json", str(out)]
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=540, check=False
    )
    if proc.returncode == EXIT_UNAVAILABLE:
        _, _, reason = proc.stderr.partition("unavailable: ")
        reason = " ".join(reason.split())[:600] or proc.stderr[-600:]
        if os.environ.get("CI"):
            pytest.fail(f"benchmark environment unavailable under CI: {proc.stderr}", pytrace=False)
        pytest.skip(f"benchmark environment unavailable (under CI=true this fails): {reason}")
    assert proc.returncode == 0, f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"

    report: dict[str, Any] = json.loads(out.read_text())
    assert report["command"] == args[0]
    assert report["smoke"] is True
    assert report["failed"] == {}
    assert set(report["implementations"]) == IMPLEMENTATIONS
    assert report["implementations"]["huey354"]["huey_version"] == "3.5.4"
    assert report["implementations"]["ours"]["huey_version"] != "3.5.4"
    for result in report["workloads"].values():
        assert result["rounds_run"] == 1
        assert len(result["rounds"]) == 1
    assert "ratio (>1: ours better)" in proc.stdout  # The detailed tables.
    assert "targets:" in proc.stdout  # The summary table.
    return report, proc


def summaries(result: dict[str, Any]) -> dict[str | None, dict[str, dict[str, float]]]:
    """Variant (None: none) -> implementation -> metric -> median."""
    if "variants" not in result:
        return {None: result["summary"]}
    assert set(result["summary"]) == set(result["variants"])
    return result["summary"]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def smoke_all(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    return run_smoke(["all"], tmp_path_factory.mktemp("bench") / "latest.json")


def test_all_runs_every_workload_on_both_backends(smoke_all: tuple[dict[str, Any], str]) -> None:
    report, _ = smoke_all
    expected = {f"{family}-{backend}" for family in FAMILIES for backend in BACKENDS}
    assert set(report["workloads"]) == expected
    assert report["machine"]["redis_server"]
    assert report["machine"]["cores"] >= 1
    assert report["consumer_log"] == {
        "setting": "info",
        "arguments": [],
        "meaning": "default logging (INFO): both implementations log two lines per task",
    }
    for impl in IMPLEMENTATIONS:
        assert report["implementations"][impl]["consumer_log"] == "info"
        assert report["implementations"][impl]["redis_py_version"] != "not installed"
        assert report["implementations"][impl]["gevent_version"] != "not installed"
    for family, (variants, headline) in FAMILIES.items():
        for backend in BACKENDS:
            result = report["workloads"][f"{family}-{backend}"]
            assert (result["family"], result["backend"]) == (family, backend)
            by_variant = summaries(result)
            expected_variants = {
                v for v in variants if backend != "sqlite" or (family, v) not in NOT_ON_SQLITE
            }
            assert set(by_variant) == expected_variants, (family, backend)
            for variant, rows in by_variant.items():
                assert set(rows) == IMPLEMENTATIONS, (family, backend, variant)
                for impl, metrics in rows.items():
                    where = (family, backend, variant, impl)
                    assert headline <= set(metrics), where
                    assert all(is_number(value) and value >= 0 for value in metrics.values()), (
                        where,
                        metrics,
                    )
                    assert all(metrics[key] > 0 for key in headline), (where, metrics)


def test_all_summary_table_has_both_medians_ratios_and_targets(
    smoke_all: tuple[dict[str, Any], str],
) -> None:
    report, stdout = smoke_all
    table = report["table"]
    assert {(row["workload"], row["backend"]) for row in table} == {
        (family, backend) for family in FAMILIES for backend in BACKENDS
    }
    for row in table:
        assert is_number(row["ours"]) and row["ours"] > 0, row
        assert is_number(row["huey354"]) and row["huey354"] > 0, row
        assert is_number(row["ratio"]) and row["ratio"] > 0, row
        if row["target"] is None:
            assert row["met"] is None, row
        else:
            assert row["met"] in (True, False), row
    targeted = {(row["workload"], row["backend"]) for row in table if row["target"]}
    assert targeted == {(family, backend) for family in FAMILIES for backend in BACKENDS}
    header = r"^workload\s+backend\s+metric\s+ours\s+huey 3\.5\.4\s+ratio\s+target\s+met$"
    assert re.search(header, stdout, re.MULTILINE)


@pytest.mark.parametrize("setting", ["info", "quiet"])
def test_log_setting_applies_to_every_consumer_of_both(setting: str, tmp_path: Path) -> None:
    """``--log info``: both implementations' consumers log each task (huey 3.5.4's
    ``Executing …``); ``--log quiet``: ``-q`` for both, and neither logs one."""
    out = tmp_path / "throughput.json"
    report, proc = run_smoke_process(["throughput-sqlite", "--log", setting, "--keep"], out)
    assert report["consumer_log"]["setting"] == setting
    assert report["consumer_log"]["arguments"] == ([] if setting == "info" else ["-q"])
    assert {report["implementations"][impl]["consumer_log"] for impl in IMPLEMENTATIONS} == {
        setting
    }
    assert f"consumers: --log {setting}, " in proc.stdout
    kept = re.search(r"work directories \(logs, databases\) kept in (\S+)", proc.stderr)
    assert kept, proc.stderr
    workdir = Path(kept.group(1))
    try:
        logs = sorted(workdir.glob("*/consumer.log"))
        check_task_lines(logs, setting)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def check_task_lines(logs: list[Path], setting: str) -> None:
    """Every consumer's log (one per implementation and worker type) has huey 3.5.4's
    ``Executing …`` line at INFO for its tasks under ``--log info``, and none under quiet."""
    assert {log.parent.name.rsplit("-", 1)[1] for log in logs} == IMPLEMENTATIONS
    assert len(logs) == 2 * len(FAMILIES["throughput"][0])
    for log in logs:
        executing = [line for line in log.read_text().splitlines() if "Executing " in line]
        if setting == "info":
            assert executing and all("INFO:huey:" in line for line in executing), log
        else:
            assert executing == [], log


def test_a_workload_runs_alone_under_its_earlier_name(tmp_path: Path) -> None:
    report, stdout = run_smoke(["roundtrip"], tmp_path / "roundtrip.json")
    assert set(report["workloads"]) == {"roundtrip-sqlite"}
    rows = report["workloads"]["roundtrip-sqlite"]["summary"]["default"]
    assert set(rows) == IMPLEMENTATIONS
    assert all(rows[impl]["p50_ms"] > 0 for impl in IMPLEMENTATIONS)
    assert "default settings" in stdout


def test_commands_per_task_smoke_reports_the_command_mix(tmp_path: Path) -> None:
    report, stdout = run_smoke(["commands-per-task"], tmp_path / "commands.json")
    result = report["workloads"]["commands-per-task"]
    by_variant = summaries(result)
    assert set(by_variant) == {"default", "notify_result"}
    for variant, rows in by_variant.items():
        assert set(rows) == IMPLEMENTATIONS
        for impl, metrics in rows.items():
            where = (variant, impl)
            assert metrics["cmds_per_task"] > 0, where
            assert metrics["round_trips_per_task"] > 0, where
            assert metrics["script_calls_per_task"] >= 0, where
            assert metrics["idle_cmds_per_s"] >= 0, where
            mix = {key: value for key, value in metrics.items() if key.startswith("cmd.")}
            assert mix and all(value >= 0 for value in mix.values()), where
            assert max(mix.values()) > 0, where
    run = result["rounds"][0]["results"]["default"]["ours"]
    assert run["tasks"] == result["params"]["tasks"] > 0
    assert run["consumer_connections"] >= 1
    assert run["draining_seconds"] > 0 and run["quiet_seconds"] > 0
    assert "command mix per task" in stdout
