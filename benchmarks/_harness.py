"""The shared harness: run each implementation in its own environment, alternating, in rounds.

A workload (``benchmarks/workloads/``) says how to measure one implementation once
(``Workload.run_once``, which starts that implementation's processes in a fresh directory and
returns a flat dict of metrics) and which of those metrics the report shows. The harness runs
every implementation once per round, alternating which goes first from one round to the next,
and reports the median of each metric across rounds, with the ratio huey 3.5.4 / ours for the
metrics where a ratio means something.

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
    consumer: Consumer,
    timeout: float,
) -> str:
    """Run ``script`` with the implementation's interpreter while ``consumer`` serves it.

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
                if not consumer.alive():
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
            f"--- client\n{_tail(log_path)}\n--- consumer\n{consumer.log()}"
        )
    return stdout.decode(errors="replace")


# -- workloads ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """A metric a workload reports, summarized across rounds by ``summary``.

    ``summary`` is "median" (the default) or "mean" (for quantized values such as CPU time in
    clock ticks, where the median of a few rounds hides what the mean shows). ``ratio``: show
    huey 3.5.4 / ours for it.
    """

    key: str
    title: str
    fmt: str = "{:.2f}"
    ratio: bool = False
    summary: str = "median"

    def summarize(self, values: Sequence[float]) -> float:
        if self.summary == "mean":
            return float(statistics.fmean(values))
        return median(values)


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
    default_rounds: int = 5

    @abstractmethod
    def run_once(
        self, impl: Implementation, params: dict[str, Any], workdir: Path, seed: int
    ) -> dict[str, float]:
        """Measure ``impl`` once in the fresh directory ``workdir``: metric key -> value."""

    def headline(self, params: dict[str, Any]) -> str:
        """What was measured, one line, for the report."""
        return self.description

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
    workload: Workload
    params: dict[str, Any]
    impls: list[Implementation]
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def values(self, impl: Implementation, key: str) -> list[float]:
        return [run["results"][impl.key][key] for run in self.rounds]

    def summary(self) -> dict[str, dict[str, float]]:
        """Each metric summarized across rounds (``Metric.summary``), per implementation."""
        return {
            impl.key: {
                metric.key: metric.summarize(self.values(impl, metric.key))
                for metric in self.workload.metrics
            }
            for impl in self.impls
        }

    def ratios(self) -> dict[str, float | None]:
        """huey 3.5.4 / ours of each metric with ``ratio``: above 1, ours is lower (faster)."""
        summary = self.summary()
        ratios: dict[str, float | None] = {}
        if "ours" in summary and "huey354" in summary:
            for metric in self.workload.metrics:
                if metric.ratio:
                    ours = summary["ours"][metric.key]
                    ratios[metric.key] = summary["huey354"][metric.key] / ours if ours else None
        return ratios

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.workload.headline(self.params),
            "params": self.params,
            "order": "alternating: each round runs every implementation once; "
            "the first of a round goes last in the next",
            "metrics": {
                metric.key: {"title": metric.title, "across_rounds": metric.summary}
                for metric in self.workload.metrics
            },
            "rounds": self.rounds,
            "summary": self.summary(),
            "ratio_huey354_over_ours": self.ratios(),
        }


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
    for index in range(rounds):
        order = list(impls) if index % 2 == 0 else list(reversed(impls))
        results: dict[str, dict[str, float]] = {}
        for impl in order:
            workdir = scratch / f"{workload.name}-{index + 1}-{impl.key}"
            workdir.mkdir(parents=True)
            metrics = workload.run_once(impl, params, workdir, seed=index)
            results[impl.key] = metrics
            shown = "  ".join(
                f"{metric.title} {metric.fmt.format(metrics[metric.key])}"
                for metric in workload.metrics
            )
            progress(f"  round {index + 1}/{rounds}  {impl.label:<{width}}  {shown}")
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
    summary, ratios = result.summary(), result.ratios()
    header = ["implementation", *(metric.title for metric in workload.metrics)]
    rows = [
        [
            impl.label,
            *(metric.fmt.format(summary[impl.key][metric.key]) for metric in workload.metrics),
        ]
        for impl in impls
    ]
    if ratios:
        rows.append(
            [
                "huey 3.5.4 / ours",
                *(
                    "-"
                    if not metric.ratio or ratios.get(metric.key) is None
                    else f"{ratios[metric.key]:.1f}x"
                    for metric in workload.metrics
                ),
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    params = ", ".join(f"{key}={value}" for key, value in result.params.items())
    means = [metric.title for metric in workload.metrics if metric.summary == "mean"]
    summaries = "medians across rounds" + (f" ({', '.join(means)}: mean)" if means else "")
    lines = [
        f"{workload.name}: {workload.headline(result.params)}",
        f"{rounds} round(s), implementations alternating; {summaries}; {params}",
        "",
        line(header),
        line(["-" * width for width in widths]),
        *(line(row) for row in rows),
    ]
    return "\n".join(lines)


def render_machine(machine: dict[str, Any], impls: Sequence[Implementation]) -> str:
    pythons = ", ".join(f"{impl.label}: Python {impl.python_version}" for impl in impls)
    load = machine.get("load_average")
    load_text = f", load average {load[0]:.2f}" if load else ""
    return (
        f"machine: {machine['cores']} cores ({machine['usable_cores']} usable), "
        f"{machine['cpu_model']}, {machine['platform']}{load_text}\n{pythons}"
    )
