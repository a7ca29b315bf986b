"""The benchmark harness's bookkeeping, in process, with a fake workload that starts nothing:
alternation, medians, the direction of ratios, targets met or missed, the summary rows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # The benchmarks package lives at the repository's root.
    sys.path.insert(0, str(ROOT))

from benchmarks import _report  # noqa: E402
from benchmarks._backends import REDIS  # noqa: E402
from benchmarks._envs import Implementation  # noqa: E402
from benchmarks._harness import (  # noqa: E402
    HIGHER,
    LOWER,
    Metric,
    Target,
    Variant,
    Workload,
    count_label,
    run_workload,
)

OURS = Implementation("ours", "ours", Path("/ours/bin/python"), "0.1.0", "3.11.7")
HUEY = Implementation("huey354", "huey 3.5.4", Path("/huey/bin/python"), "3.5.4", "3.11.7")
FAST = Variant("fast", "fast")


class Fake(Workload):
    """Rates and times per implementation and round, as if measured."""

    family = "fake"
    description = "a fake"
    variants = (FAST,)
    metrics = (
        Metric("rate", "rate @{size}", "{:.0f}", better=HIGHER),
        Metric("time", "time", better=LOWER),
        Metric("idle", "idle", summary="mean"),
    )
    headline_metrics = ("rate", "time")

    def __init__(self) -> None:
        super().__init__(REDIS)
        self.calls: list[tuple[int, str]] = []

    def target(self, variant: Variant | None, metric: Metric) -> Target | None:
        if metric.key == "rate":
            return Target("ratio", ">=", 3.0, ">=3x")
        return Target("ours", "<=", 1.0, "<=1 s")

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        self.calls.append((seed, impl.key))
        rate = {"ours": [400.0, 200.0, 300.0], "huey354": [100.0, 120.0, 80.0]}[impl.key][seed]
        time = {"ours": 2.0, "huey354": 4.0}[impl.key]
        return {"rate": rate, "time": time, "idle": float(seed)}


@pytest.fixture
def result(tmp_path: Path) -> Any:
    workload = Fake()
    found = run_workload(workload, [OURS, HUEY], 3, {"size": 20000}, tmp_path, lambda _: None)
    return workload, found


def test_rounds_alternate_which_implementation_goes_first(result: Any) -> None:
    workload, _ = result
    assert workload.calls == [
        (0, "ours"),
        (0, "huey354"),
        (1, "huey354"),
        (1, "ours"),
        (2, "ours"),
        (2, "huey354"),
    ]


def test_medians_and_ratios_point_the_better_way(result: Any) -> None:
    _, found = result
    summary = found.summary()["fast"]
    assert summary["ours"]["rate"] == 300.0 and summary["huey354"]["rate"] == 100.0
    assert summary["ours"]["idle"] == 1.0  # The mean.
    ratios = found.ratios()["fast"]
    assert ratios["rate"] == 3.0  # Higher is better: ours / huey.
    assert ratios["time"] == 2.0  # Lower is better: huey / ours.
    assert "idle" not in ratios  # No direction, no ratio.


def test_summary_rows_mark_targets_met_and_missed(result: Any) -> None:
    _, found = result
    rows = _report.rows([found])
    assert [(row.title, row.met) for row in rows] == [
        ("fast: rate @20k", True),  # A ratio of 3 meets >=3x.
        ("fast: time", False),  # Ours takes 2 s: misses <=1 s.
    ]
    text = _report.render(rows)
    assert "targets: 1 met, 1 missed" in text
    assert "MISSED" in text
    assert rows[0].to_json()["target"] == {"on": "ratio", "op": ">=", "value": 3.0, "text": ">=3x"}


def test_count_labels() -> None:
    assert [count_label(n) for n in (1_000_000, 20_000, 1000, 1500, 50, 0.1)] == [
        "1M",
        "20k",
        "1k",
        "1500",
        "50",
        "0.1",
    ]
