"""The shared harness: run each implementation in its own environment, alternating, in rounds.

A workload (``benchmarks/workloads/``) says how to measure one implementation once
(``Workload.run_once``, which starts that implementation's processes in a fresh directory and
returns a flat dict of metrics) and which of those metrics the report shows. The harness runs
every implementation once per round, alternating which goes first from one round to the next,
and reports the median of each metric across rounds, with the ratio huey 3.5.4 / ours for the
metrics where a ratio means something.

A workload may also have variants (``Workload.variants``: settings such as
``notify_result=True``): then every round runs each variant with every implementation, and the
report has one row per implementation and variant, with a ratio row per variant.

The harness process itself never imports ``huey``: everything it measures runs in subprocesses
of the implementation's environment (``_envs.Implementation``).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._envs import Implementation


class BenchmarkError(Exception):
    """A measurement could not be made (a process failed); the message carries its logs."""


# -- statistics --------------------------------------------------------------------------------
def percentile(samples: Sequence[float], pct: int) -> float:
    """Linear interpolation between closest ranks, as ``apps/roundtrip_client.py`` prints."""
    if not samples:
        raise ValueError("no samples")
    if len(samples) == 1:
        return float(samples[0])
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# -- processes ---------------------------------------------------------------------------------
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name (field 2) may hold spaces: fields are counted after its ")".
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    except FileNotFoundError:
        pass
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError as exc:
        raise BenchmarkError("CPU time needs /proc or psutil") from exc
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


class Consumer:
    """A ``huey_consumer`` of one implementation, logging to a file in its work directory."""

    def __init__(
        self, impl: Implementation, args: Sequence[str], workdir: Path, env: dict[str, str]
    ) -> None:
        self.impl = impl
        self.log_path = workdir / "consumer.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        command = [str(impl.command("huey_consumer")), *args]
        self.process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return _tail(self.log_path)

    def idle_cpu_percent(self, seconds: float) -> float:
        """CPU used over ``seconds`` while nothing is sent to it, in % of one core."""
        before, start = cpu_seconds(self.pid), time.monotonic()
        time.sleep(seconds)
        after, end = cpu_seconds(self.pid), time.monotonic()
        if not self.alive():
            raise BenchmarkError(f"{self.impl.label} consumer exited:\n{self.log()}")
        return 100.0 * (after - before) / (end - start)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGINT (a graceful stop), then SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_client(
    impl: Implementation,
    script: Path,
    args: Sequence[str],
    workdir: Path,
    env: dict[str, str],
    consumer: Consumer | None,
    timeout: float,
) -> str:
    """Run ``script`` with the implementation's interpreter while ``consumer`` serves it (or
    with no consumer running: None).

    Fails early when the consumer exits; returns the client's standard output.
    """
    log_path = workdir / f"{script.stem}.log"
    with open(log_path, "wb") as log:
        client = subprocess.Popen(
            [str(impl.python), str(script), *args],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    stdout, _ = client.communicate(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if consumer is not None and not consumer.alive():
                    raise BenchmarkError(
                        f"{impl.label} consumer exited during {script.name}:\n{consumer.log()}"
                    )
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"{impl.label}: {script.name} ran over {timeout:.0f}s")
        finally:
            if client.poll() is None:
                client.kill()
                client.wait(10)
    if client.returncode != 0:
        raise BenchmarkError(
            f"{impl.label}: {script.name} exited {client.returncode}\n"
            f"--- client\n{_tail(log_path)}"
            + ("" if consumer is None else f"\n--- consumer\n{consumer.log()}")
        )
    return stdout.decode(errors="replace")


# -- workloads ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """A metric a workload reports, summarized across rounds by ``summary``.

    ``summary`` is "median" (the default) or "mean" (for quantized values such as CPU time in
    clock ticks, where the median of a few rounds hides what the mean shows). ``ratio``: show
    huey 3.5.4 / ours for it. ``missing``: the value of a run that did not report it (for
    metrics found in the runs, such as one per Redis command; None: every run reports it).
    ``table``: a column of the printed table (all metrics are in the JSON report).
    """

    key: str
    title: str
    fmt: str = "{:.2f}"
    ratio: bool = False
    summary: str = "median"
    missing: float | None = None
    table: bool = True

    def summarize(self, values: Sequence[float]) -> float:
        if self.summary == "mean":
            return float(statistics.fmean(values))
        return median(values)


@dataclass(frozen=True)
class Variant:
    """Settings a workload runs with, each its own row: ``key`` in the JSON, ``label`` shown."""

    key: str
    label: str


@dataclass(frozen=True)
class Option:
    """A workload parameter, settable as ``--name`` on the command line."""

    name: str
    type: Callable[[str], Any]
    default: Any
    smoke: Any
    help: str


class Workload(ABC):
    """One benchmark. Subclasses set the class attributes and implement ``run_once``."""

    name: str
    description: str
    metrics: tuple[Metric, ...]
    options: tuple[Option, ...] = ()
    variants: tuple[Variant, ...] = ()  # Empty: one row per implementation.
    default_rounds: int = 5
    needs_redis: bool = False  # Runs redis-server, and redis-py in both environments.
    needs_gevent: bool = False  # Runs -k greenlet: gevent in both environments.

    @abstractmethod
    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        """Measure ``impl`` once (with ``variant``'s settings, for a workload with variants)
        in the fresh directory ``workdir``: metric key -> value."""

    def headline(self, params: dict[str, Any]) -> str:
        """What was measured, one line, for the report."""
        return self.description

    def all_metrics(self, runs: Sequence[dict[str, float]]) -> tuple[Metric, ...]:
        """The metrics reported, given every run's metrics: ``metrics`` unless a workload adds
        some found in the runs (one per Redis command seen, say)."""
        return self.metrics

    def notes(self, result: WorkloadResult) -> list[str]:
        """Lines printed under the table."""
        return []

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        for option in self.options:
            parser.add_argument(
                f"--{option.name.replace('_', '-')}",
                dest=option.name,
                type=option.type,
                default=None,
                help=f"{option.help} (default {option.default}; --smoke: {option.smoke})",
            )

    def params(self, args: argparse.Namespace, smoke: bool) -> dict[str, Any]:
        """Each option: given on the command line, else its smoke or normal default."""
        chosen = {}
        for option in self.options:
            value = getattr(args, option.name, None)
            if value is None:
                value = option.smoke if smoke else option.default
            chosen[option.name] = value
        return chosen


WORKLOADS: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    if workload.name in WORKLOADS:
        raise ValueError(f"workload {workload.name!r} registered twice")
    WORKLOADS[workload.name] = workload
    return workload


# -- running -----------------------------------------------------------------------------------
@dataclass
class WorkloadResult:
    """The runs of one workload. ``rounds[i]["results"]`` maps implementation key -> metrics,
    or, for a workload with variants, variant key -> implementation key -> metrics; the
    summaries and ratios are nested the same way."""

    workload: Workload
    params: dict[str, Any]
    impls: list[Implementation]
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def variants(self) -> tuple[Variant | None, ...]:
        return self.workload.variants or (None,)

    def _results(self, run: dict[str, Any], variant: Variant | None) -> dict[str, Any]:
        return run["results"] if variant is None else run["results"][variant.key]

    def runs(self) -> list[dict[str, float]]:
        return [
            self._results(run, variant)[impl.key]
            for run in self.rounds
            for variant in self.variants
            for impl in self.impls
        ]

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return self.workload.all_metrics(self.runs())

    def values(
        self, impl: Implementation, metric: Metric, variant: Variant | None = None
    ) -> list[float]:
        values = []
        for run in self.rounds:
            metrics = self._results(run, variant)[impl.key]
            if metric.missing is None:
                values.append(metrics[metric.key])
            else:
                values.append(metrics.get(metric.key, metric.missing))
        return values

    def variant_summary(self, variant: Variant | None) -> dict[str, dict[str, float]]:
        return {
            impl.key: {
                metric.key: metric.summarize(self.values(impl, metric, variant))
                for metric in self.metrics
            }
            for impl in self.impls
        }

    def variant_ratios(self, summary: dict[str, dict[str, float]]) -> dict[str, float | None]:
        ratios: dict[str, float | None] = {}
        if "ours" in summary and "huey354" in summary:
            for metric in self.metrics:
                if metric.ratio:
                    ours = summary["ours"][metric.key]
                    ratios[metric.key] = summary["huey354"][metric.key] / ours if ours else None
        return ratios

    def summary(self) -> dict[str, Any]:
        """Each metric summarized across rounds (``Metric.summary``), per implementation (per
        variant, then implementation, for a workload with variants)."""
        if not self.workload.variants:
            return self.variant_summary(None)
        return {variant.key: self.variant_summary(variant) for variant in self.workload.variants}

    def ratios(self) -> dict[str, Any]:
        """huey 3.5.4 / ours of each metric with ``ratio``: above 1, ours is lower (faster)."""
        if not self.workload.variants:
            return self.variant_ratios(self.variant_summary(None))
        return {
            variant.key: self.variant_ratios(self.variant_summary(variant))
            for variant in self.workload.variants
        }

    def to_json(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "description": self.workload.headline(self.params),
            "params": self.params,
            "order": "alternating: each round runs every implementation once"
            + (" with each variant" if self.workload.variants else "")
            + "; the first of a round goes last in the next",
        }
        if self.workload.variants:
            report["variants"] = {variant.key: variant.label for variant in self.workload.variants}
        report.update(
            metrics={
                metric.key: {"title": metric.title, "across_rounds": metric.summary}
                for metric in self.metrics
            },
            rounds=self.rounds,
            summary=self.summary(),
            ratio_huey354_over_ours=self.ratios(),
            notes=self.workload.notes(self),
        )
        return report


def run_workload(
    workload: Workload,
    impls: Sequence[Implementation],
    rounds: int,
    params: dict[str, Any],
    scratch: Path,
    progress: Callable[[str], None],
) -> WorkloadResult:
    result = WorkloadResult(workload, dict(params), list(impls))
    width = max(len(impl.label) for impl in impls)
    variant_width = max((len(variant.label) for variant in workload.variants), default=0)
    for index in range(rounds):
        order = list(impls) if index % 2 == 0 else list(reversed(impls))
        results: dict[str, Any] = {}
        for variant in workload.variants or (None,):
            for impl in order:
                where = impl.key if variant is None else f"{variant.key}-{impl.key}"
                workdir = scratch / f"{workload.name}-{index + 1}-{where}"
                workdir.mkdir(parents=True)
                if variant is None:
                    metrics = workload.run_once(impl, params, workdir, seed=index)
                    results[impl.key] = metrics
                else:
                    metrics = workload.run_once(impl, params, workdir, index, variant)
                    results.setdefault(variant.key, {})[impl.key] = metrics
                shown = "  ".join(
                    f"{metric.title} {metric.fmt.format(metrics[metric.key])}"
                    for metric in workload.metrics
                    if metric.table
                )
                label = f"{impl.label:<{width}}"
                if variant is not None:
                    label += f"  {variant.label:<{variant_width}}"
                progress(f"  round {index + 1}/{rounds}  {label}  {shown}")
        result.rounds.append(
            {"round": index + 1, "order": [impl.key for impl in order], "results": results}
        )
    return result


# -- reporting ---------------------------------------------------------------------------------
def machine_info(impls: Sequence[Implementation]) -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "harness_python": sys.version.split()[0],
        "python": {impl.key: impl.python_version for impl in impls},
    }


def render(result: WorkloadResult, rounds: int) -> str:
    workload, impls = result.workload, result.impls
    shown = [metric for metric in result.metrics if metric.table]
    labels = 2 if workload.variants else 1  # Left-aligned columns: implementation (settings).
    header = ["implementation", *(["settings"] if workload.variants else [])]
    header += [metric.title for metric in shown]
    rows: list[list[str]] = []
    for variant in result.variants:
        summary = result.variant_summary(variant)
        ratios = result.variant_ratios(summary)
        setting = [] if variant is None else [variant.label]
        for impl in impls:
            cells = [metric.fmt.format(summary[impl.key][metric.key]) for metric in shown]
            rows.append([impl.label, *setting, *cells])
        if ratios:
            cells = [
                "-"
                if not metric.ratio or ratios.get(metric.key) is None
                else f"{ratios[metric.key]:.1f}x"
                for metric in shown
            ]
            rows.append(["huey 3.5.4 / ours", *setting, *cells])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        left = [cell.ljust(width) for cell, width in zip(cells[:labels], widths, strict=False)]
        right = (
            cell.rjust(width) for cell, width in zip(cells[labels:], widths[labels:], strict=True)
        )
        return "  ".join([*left, *right]).rstrip()

    params = ", ".join(f"{key}={value}" for key, value in result.params.items())
    means = [metric.title for metric in shown if metric.summary == "mean"]
    summaries = "medians across rounds" + (f" ({', '.join(means)}: mean)" if means else "")
    lines = [
        f"{workload.name}: {workload.headline(result.params)}",
        f"{rounds} round(s), implementations alternating; {summaries}; {params}",
        "",
        line(header),
        line(["-" * width for width in widths]),
        *(line(row) for row in rows),
    ]
    notes = workload.notes(result)
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def render_machine(machine: dict[str, Any], impls: Sequence[Implementation]) -> str:
    redis = "redis_server" in machine
    pythons = ", ".join(
        f"{impl.label}: Python {impl.python_version}"
        + (f", redis-py {impl.redis_version}" if redis else "")
        for impl in impls
    )
    load = machine.get("load_average")
    load_text = f", load average {load[0]:.2f}" if load else ""
    server = f"\nredis-server {machine['redis_server']}, private, on loopback" if redis else ""
    return (
        f"machine: {machine['cores']} cores ({machine['usable_cores']} usable), "
        f"{machine['cpu_model']}, {machine['platform']}{load_text}\n{pythons}{server}"
    )
