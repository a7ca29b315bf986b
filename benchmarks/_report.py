"""The summary of a benchmark run: one row per headline metric, with the issue's targets.

Each workload names its headline metrics (``Workload.headline_metrics``) and the goals the
issue sets for them (``Workload.target``). A row gives, for one workload, backend, variant and
metric: the medians of both implementations, the ratio (above 1: ours is better), the target
and whether ours meets it. Targets are on ours' own median (absolute: "<=1 ms") or on the
ratio (relative to huey 3.5.4: ">=3x").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks._harness import RATIO_MEANING, Target, WorkloadResult, align


@dataclass(frozen=True)
class Row:
    workload: str  # The family: "throughput", ...
    backend: str
    variant: str | None
    metric: str
    title: str  # As shown: "thread x4: drain tasks/s".
    fmt: str
    ours: float
    huey354: float
    ratio: float | None
    target: Target | None

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ours, self.ratio)

    def to_json(self) -> dict[str, Any]:
        target = self.target
        return {
            "workload": self.workload,
            "backend": self.backend,
            "variant": self.variant,
            "metric": self.metric,
            "title": self.title,
            "ours": self.ours,
            "huey354": self.huey354,
            "ratio": self.ratio,
            "target": None
            if target is None
            else {"on": target.on, "op": target.op, "value": target.value, "text": target.text},
            "met": self.met,
        }


def rows(results: Sequence[WorkloadResult]) -> list[Row]:
    found = []
    for result in results:
        workload = result.workload
        table = [metric for metric in result.metrics if metric.table]
        keys = workload.headline_metrics or tuple(metric.key for metric in table)
        by_key = {metric.key: metric for metric in result.metrics}
        for variant in result.variants:
            summary = result.variant_summary(variant)
            ratios = result.variant_ratios(summary)
            for key in keys:
                metric = by_key[key]
                title = result.title(metric)
                found.append(
                    Row(
                        workload=workload.family,
                        backend=workload.backend.key,
                        variant=None if variant is None else variant.key,
                        metric=key,
                        title=title if variant is None else f"{variant.label}: {title}",
                        fmt=metric.fmt,
                        ours=summary["ours"][key],
                        huey354=summary["huey354"][key],
                        ratio=ratios.get(key),
                        target=workload.target(variant, metric),
                    )
                )
    return found


def render(found: Sequence[Row]) -> str:
    header = ["workload", "backend", "metric", "ours", "huey 3.5.4", "ratio", "target", "met"]
    table = [
        [
            row.workload,
            row.backend,
            row.title,
            row.fmt.format(row.ours),
            row.fmt.format(row.huey354),
            "-" if row.ratio is None else f"{row.ratio:.2f}x",
            "" if row.target is None else row.target.text,
            {None: "", True: "met", False: "MISSED"}[row.met],
        ]
        for row in found
    ]
    targets = [row.met for row in found if row.met is not None]
    return "\n".join(
        [
            "summary: medians across rounds",
            f"ratio: {RATIO_MEANING}",
            "target: the issue's goal, on the ratio where it ends in x, else on ours' median",
            "",
            *align(header, table, 3),
            "",
            f"targets: {targets.count(True)} met, {targets.count(False)} missed",
        ]
    )
