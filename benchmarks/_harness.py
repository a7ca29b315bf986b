"""The shared harness: run each implementation in its own environment, alternating, in rounds.

A workload (``benchmarks/workloads/``) says how to measure one implementation once
(``Workload.run_once``, which starts that implementation's processes in a fresh directory and
returns a flat dict of metrics) and which of those metrics the report shows. Every workload
runs on one backend (``_backends``: a SQLite file or a private redis-server); a family of
workloads (``throughput``, ...) has one per backend (``throughput-sqlite``,
``throughput-redis``). The harness runs every implementation once per round, alternating which
goes first from one round to the next, and reports the median of each metric across rounds,
with a ratio for the metrics that have a direction: above 1, ours is better (ours / huey 3.5.4
for a higher-is-better metric such as tasks/s, huey 3.5.4 / ours for a time or a size).

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
from typing import TYPE_CHECKING, Any

from benchmarks._envs import Implementation

if TYPE_CHECKING:
    from benchmarks._backends import Backend


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


def _psutil() -> Any:
    """psutil, for what ``/proc`` would give on a system without it."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError as exc:
        raise BenchmarkError("process measurements need /proc or psutil") from exc
    return psutil


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), in seconds."""
    try:
        fields = _stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    except FileNotFoundError:
        if os.path.isdir("/proc"):
            return 0.0  # Exited between listing and reading: nothing more to count.
    times = _psutil().Process(pid).cpu_times()
    return float(times.user + times.system)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its living descendants (the worker processes of ``-k process``)."""
    if not os.path.isdir("/proc"):
        parent = _psutil().Process(pid)
        return [pid, *(child.pid for child in parent.children(recursive=True))]
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                parent_pid = int(_stat_fields(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent_pid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its living descendants."""
    return sum(cpu_seconds(member) for member in process_tree(pid))


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024  # In kB.
        return 0
    except FileNotFoundError:
        if os.path.isdir("/proc"):
            return 0
    return int(_psutil().Process(pid).memory_info().rss)


def tree_rss_bytes(pid: int) -> int:
    """RSS summed over ``pid`` and its living descendants (pages shared after a fork counted
    in each, as the kernel reports them)."""
    return sum(rss_bytes(member) for member in process_tree(pid))


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


class Consumer:
    """A ``huey_consumer`` of one implementation, logging to a file in its work directory.

    It runs in a process group of its own, so ``stop`` ends its worker processes with it.
    """

    def __init__(
        self,
        impl: Implementation,
        args: Sequence[str],
        workdir: Path,
        env: dict[str, str],
        program: Path | None = None,
    ) -> None:
        self.impl = impl
        self.log_path = workdir / "consumer.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # Another program may stand in for the consumer (the round trip's floor).
        command = [str(program or impl.command("huey_consumer")), *args]
        self.process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return _tail(self.log_path)

    def check(self) -> None:
        """Raise with the consumer's log when it has exited."""
        if not self.alive():
            raise BenchmarkError(f"{self.impl.label} consumer exited:\n{self.log()}")

    def idle_cpu_percent(self, seconds: float) -> float:
        """CPU used over ``seconds`` while nothing is sent to it, in % of one core."""
        before, start = cpu_seconds(self.pid), time.monotonic()
        time.sleep(seconds)
        after, end = cpu_seconds(self.pid), time.monotonic()
        self.check()
        return 100.0 * (after - before) / (end - start)

    def stop(self) -> None:
        """SIGKILL to the whole process group.

        Every measurement is over by now: a graceful stop would only add up to a second per
        run (a blocking read timing out) and could leave ``-k process`` workers behind.
        """
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(10)
        self._log.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wait_until(
    condition: Callable[[], bool],
    consumer: Consumer | None,
    timeout: float,
    what: str,
    poll: float = 0.002,
) -> float:
    """Poll ``condition`` until true; the time it first was (``time.monotonic``).

    Fails when ``consumer`` exits or after ``timeout`` seconds, saying ``what`` was awaited.
    """
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        if condition():
            return now
        if consumer is not None:
            consumer.check()
        if now > deadline:
            log = "" if consumer is None else f"\n{consumer.log()}"
            raise BenchmarkError(f"{what}: not within {timeout:.0f}s{log}")
        time.sleep(poll)


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
HIGHER, LOWER = "higher", "lower"  # Metric.better: which way a metric improves.


@dataclass(frozen=True)
class Metric:
    """A metric a workload reports, summarized across rounds by ``summary``.

    ``title`` may name the workload's parameters in braces (``"us/task @{deep}"``): the
    report shows them (``Workload.title``). ``summary`` is "median" (the default) or "mean"
    (for quantized values such as CPU time in clock ticks, where the median of a few rounds
    hides what the mean shows). ``better``: HIGHER or LOWER, the direction the ratio is taken
    in (None: no ratio). ``missing``: the value of a run that did not report it (for metrics
    found in the runs, such as one per Redis command; None: every run reports it). ``table``:
    a column of the printed table (all metrics are in the JSON report).
    """

    key: str
    title: str
    fmt: str = "{:.2f}"
    better: str | None = None
    summary: str = "median"
    missing: float | None = None
    table: bool = True

    def summarize(self, values: Sequence[float]) -> float:
        if self.summary == "mean":
            return float(statistics.fmean(values))
        return median(values)

    def ratio(self, ours: float, huey: float) -> float | None:
        """How many times better ours is (above 1: better): ours / huey 3.5.4 for a
        higher-is-better metric, huey 3.5.4 / ours for a lower-is-better one."""
        if self.better == HIGHER:
            return ours / huey if huey else None
        if self.better == LOWER:
            return huey / ours if ours else None
        return None


RATIO_MEANING = (
    "above 1: ours is better (ours / huey 3.5.4 for a higher-is-better metric, "
    "huey 3.5.4 / ours for a lower-is-better one)"
)


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


@dataclass(frozen=True)
class Target:
    """A goal from the issue for one metric (of one variant): on ours' own median
    (``on="ours"``, an absolute goal) or on the ratio (``on="ratio"``, relative to huey
    3.5.4); ``op`` is ">=" or "<="; ``text`` is how the report shows it."""

    on: str
    op: str
    value: float
    text: str

    def met(self, ours: float | None, ratio: float | None) -> bool | None:
        """Whether the goal is met; None when the value it is on is missing."""
        value = ratio if self.on == "ratio" else ours
        if value is None:
            return None
        return value >= self.value if self.op == ">=" else value <= self.value


def count_label(value: Any) -> str:
    """A parameter as a title shows it: 1000000 -> "1M", 20000 -> "20k"."""
    if isinstance(value, int) and value >= 1000:
        for unit, size in (("M", 1_000_000), ("k", 1000)):
            if value % size == 0:
                return f"{value // size}{unit}"
    return f"{value:g}" if isinstance(value, float) else str(value)


class Workload(ABC):
    """One benchmark of one family (``throughput``, ...) on one backend (``_backends``).

    Subclasses set the class attributes and implement ``run_once``; ``name`` is
    ``FAMILY-BACKEND`` unless given.
    """

    family: str
    description: str
    metrics: tuple[Metric, ...]
    options: tuple[Option, ...] = ()
    variants: tuple[Variant, ...] = ()  # Empty: one row per implementation.
    default_rounds: int = 3
    needs_gevent: bool = False  # Runs -k greenlet: gevent in both environments.
    # The metrics of the summary table of ``run.py all`` (empty: every table metric).
    headline_metrics: tuple[str, ...] = ()

    def __init__(
        self, backend: Backend, name: str | None = None, aliases: tuple[str, ...] = ()
    ) -> None:
        self.backend = backend
        self.name = name or f"{self.family}-{backend.key}"
        self.aliases = aliases  # Earlier command names, still accepted.

    @property
    def needs_redis(self) -> bool:
        """Runs redis-server, and redis-py in both environments."""
        return self.backend.needs_redis

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

    def title(self, metric: Metric, params: dict[str, Any]) -> str:
        """``metric``'s title with the parameters it names filled in."""
        return metric.title.format(**{key: count_label(value) for key, value in params.items()})

    def target(self, variant: Variant | None, metric: Metric) -> Target | None:
        """The issue's goal for ``metric`` (in ``variant``), if it sets one."""
        return None

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
    seconds: float = 0.0  # Wall-clock time of the whole workload.

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

    def title(self, metric: Metric) -> str:
        return self.workload.title(metric, self.params)

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
        """Each directed metric's ratio (``Metric.ratio``: above 1, ours is better)."""
        ratios: dict[str, float | None] = {}
        if "ours" in summary and "huey354" in summary:
            for metric in self.metrics:
                if metric.better is not None:
                    ours, huey = summary["ours"][metric.key], summary["huey354"][metric.key]
                    ratios[metric.key] = metric.ratio(ours, huey)
        return ratios

    def summary(self) -> dict[str, Any]:
        """Each metric summarized across rounds (``Metric.summary``), per implementation (per
        variant, then implementation, for a workload with variants)."""
        if not self.workload.variants:
            return self.variant_summary(None)
        return {variant.key: self.variant_summary(variant) for variant in self.workload.variants}

    def ratios(self) -> dict[str, Any]:
        """``variant_ratios`` of the summary, nested as it is."""
        if not self.workload.variants:
            return self.variant_ratios(self.variant_summary(None))
        return {
            variant.key: self.variant_ratios(self.variant_summary(variant))
            for variant in self.workload.variants
        }

    def to_json(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "family": self.workload.family,
            "backend": self.workload.backend.key,
            "description": self.workload.headline(self.params),
            "params": self.params,
            "rounds_run": len(self.rounds),
            "seconds": round(self.seconds, 1),
            "order": "alternating: each round runs every implementation once"
            + (" with each variant" if self.workload.variants else "")
            + "; the first of a round goes last in the next",
        }
        if self.workload.variants:
            report["variants"] = {variant.key: variant.label for variant in self.workload.variants}
        report.update(
            metrics={
                metric.key: {
                    "title": self.title(metric),
                    "across_rounds": metric.summary,
                    "better": metric.better,
                }
                for metric in self.metrics
            },
            rounds=self.rounds,
            summary=self.summary(),
            ratio_meaning=RATIO_MEANING,
            ratios=self.ratios(),
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
    clock = time.monotonic()
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
                    f"{result.title(metric)} {metric.fmt.format(metrics[metric.key])}"
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
    result.seconds = time.monotonic() - clock
    return result


# -- reporting ---------------------------------------------------------------------------------
def _memory_total_gb() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)  # kB -> GiB
    except OSError:
        pass
    return None


def source_info(root: Path) -> dict[str, Any]:
    """The commit measured, and whether ``packages/`` had changes beyond it (the tree may be
    edited while a long run goes on: the report says from what it started)."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    status = git("status", "--porcelain", "--", "packages")
    return {
        "commit": git("rev-parse", "HEAD"),
        "packages_modified": None if status is None else bool(status),
    }


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
        "memory_gib": _memory_total_gb(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "harness_python": sys.version.split()[0],
        "python": {impl.key: impl.python_version for impl in impls},
    }


def align(header: list[str], rows: list[list[str]], left: int) -> list[str]:
    """A plain-text table: the first ``left`` columns left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [
            cell.ljust(width) if index < left else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]


RATIO_ROW = "ratio (>1: ours better)"


def render(result: WorkloadResult, rounds: int) -> str:
    """The detailed table of one workload: every table metric, per implementation (and
    variant), with a ratio row."""
    workload, impls = result.workload, result.impls
    shown = [metric for metric in result.metrics if metric.table]
    labels = 2 if workload.variants else 1  # Left-aligned columns: implementation (settings).
    header = ["implementation", *(["settings"] if workload.variants else [])]
    header += [result.title(metric) for metric in shown]
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
                "-" if ratios.get(metric.key) is None else f"{ratios[metric.key]:.2f}x"
                for metric in shown
            ]
            rows.append([RATIO_ROW, *setting, *cells])
    params = ", ".join(f"{key}={value}" for key, value in result.params.items())
    means = [result.title(metric) for metric in shown if metric.summary == "mean"]
    summaries = "medians across rounds" + (f" ({', '.join(means)}: mean)" if means else "")
    lines = [
        f"{workload.name}: {workload.headline(result.params)}",
        f"{rounds} round(s), implementations alternating; {summaries}; {params}",
        "",
        *align(header, rows, labels),
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
        + (f" (hiredis {impl.hiredis_version})" if redis and impl.hiredis_version else "")
        for impl in impls
    )
    load = machine.get("load_average")
    load_text = f", load average {load[0]:.2f}" if load else ""
    memory = machine.get("memory_gib")
    memory_text = f", {memory:g} GiB RAM" if memory else ""
    server = f"\nredis-server {machine['redis_server']}, private, on loopback" if redis else ""
    return (
        f"machine: {machine['cores']} cores ({machine['usable_cores']} usable), "
        f"{machine['cpu_model']}{memory_text}, {machine['platform']}{load_text}\n"
        f"{pythons}{server}"
    )
