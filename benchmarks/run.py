"""The benchmark command: this project against the published huey 3.5.4, side by side.

    python benchmarks/run.py all [--rounds N] [--backend redis|sqlite|both]
                                 [--only WORKLOAD,...] [--log info|quiet] [--json PATH] [--smoke]
    python benchmarks/run.py WORKLOAD [--rounds N] [--log info|quiet] [--json PATH] [--smoke]
                                      [options]
    hatch run bench:all [...]        hatch run bench:WORKLOAD [...]

``all`` runs every workload family (``FAMILIES``, or those ``--only`` names) on each backend
(Redis, SQLite), prints each one's detailed table as it ends, then the summary table (medians,
ratios, the issue's targets met or missed), and writes everything as JSON (default
``benchmarks/results/latest.json``, which git ignores). ``WORKLOAD`` runs one workload
(``run.py --help`` lists them; ``roundtrip`` and ``io-bound`` are the SQLite ones, by their
earlier names), with options to change its sizes.

Each implementation runs in its own environment (``_envs``): this project from the interpreter
running this script (or ``--ours-python``), huey 3.5.4 from a cached virtualenv built on first
use (or ``--huey-python`` / ``$HUEY_BENCH_HUEY354_PYTHON``). The implementations alternate
over the rounds of each workload on the same machine (``_harness``); the report gives the
median of each metric across rounds. ``--log`` sets how every consumer of both implementations
logs (``_backends.CONSUMER_LOGS``): ``info``, the default of both, logs two lines per task;
``quiet`` (``-q``) none, which shows what that logging costs. ``--smoke`` is a seconds-long
run for CI: 1 round, tiny sizes, several workloads at a time (its numbers say nothing, its
structure does).
Performance is reported, never asserted: missing a target does not fail the command.

The Redis workloads start a private ``redis-server`` (from the PATH, or
``$HUEY_BENCH_REDIS_SERVER``) on a free loopback port for every run, and need redis-py in both
environments; the greenlet ones need gevent in both.

Exit status: 0 measured, 1 a measurement failed (the others still ran and are reported), 2
bad usage, 3 an implementation's environment is unavailable (for example the huey 3.5.4
virtualenv cannot be built, or a Redis workload finds no redis-server).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # Run as a script: make the ``benchmarks`` package importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks.workloads  # noqa: F401 - registers the workloads
from benchmarks import _envs, _harness, _redis, _report
from benchmarks._backends import BACKENDS, CONSUMER_LOGS, LOG_MEANINGS

EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 3
# The families ``all`` runs, in this order; each on every backend.
FAMILIES = ("enqueue", "throughput", "roundtrip", "io-bound", "depth", "memory")
BACKEND_ORDER = ("redis", "sqlite")
DEFAULT_JSON = _envs.ROOT / "benchmarks" / "results" / "latest.json"
SMOKE_JOBS = 3  # Workloads run at a time by --smoke.


def _families(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in FAMILIES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown workload {', '.join(unknown) or '(none)'}: choose from {', '.join(FAMILIES)}"
        )
    return chosen


def _common_arguments(parser: argparse.ArgumentParser, rounds_default: str) -> None:
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"rounds, each running every implementation once ({rounds_default}; --smoke: 1)",
    )
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run, for CI")
    parser.add_argument(
        "--ours-python",
        type=Path,
        help="interpreter with this project's workspace installed (default: this one)",
    )
    parser.add_argument(
        "--huey-python",
        type=Path,
        help=f"interpreter with huey {_envs.PUBLISHED_VERSION} installed "
        f"(default: ${_envs.PUBLISHED_PYTHON_VARIABLE}, else a cached virtualenv)",
    )
    parser.add_argument(
        "--log",
        choices=tuple(CONSUMER_LOGS),
        default="info",
        help="how every consumer of both implementations logs: info, each one's default "
        "(two lines per task), or quiet (-q: nothing per task) (default: info)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directories (logs, databases)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmarks of this project against huey 3.5.4, alternating in rounds.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    every = commands.add_parser(
        "all",
        help="every workload on Redis and SQLite, then the summary table with the targets",
    )
    _common_arguments(every, "default: each workload's own")
    every.add_argument(
        "--backend", choices=(*BACKEND_ORDER, "both"), default="both", help="default: both"
    )
    every.add_argument(
        "--only",
        type=_families,
        default=list(FAMILIES),
        metavar="WORKLOAD,...",
        help=f"some of {','.join(FAMILIES)} (default: all)",
    )
    every.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help=f"where the results go (default {DEFAULT_JSON.relative_to(_envs.ROOT)})",
    )
    for workload in _harness.WORKLOADS.values():
        sub = commands.add_parser(
            workload.name,
            aliases=list(workload.aliases),
            help=f"{workload.description} ({workload.backend.label})",
        )
        _common_arguments(sub, f"default {workload.default_rounds}")
        sub.add_argument("--json", type=Path, help="also write the results to this file")
        workload.add_arguments(sub)
    return parser


def selected(args: argparse.Namespace) -> list[_harness.Workload]:
    if args.command == "all":
        backends = BACKEND_ORDER if args.backend == "both" else (args.backend,)
        return [
            _harness.WORKLOADS[f"{family}-{backend}"]
            for family in FAMILIES
            if family in args.only
            for backend in backends
            if backend in BACKENDS
        ]
    for workload in _harness.WORKLOADS.values():
        if args.command == workload.name or args.command in workload.aliases:
            return [workload]
    raise AssertionError(args.command)  # argparse accepts registered names only.


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def locate(
    workloads: list[_harness.Workload], args: argparse.Namespace
) -> tuple[list[_envs.Implementation], str | None]:
    """Both implementations, and the redis-server version when a workload needs one; raises
    EnvUnavailable (or RedisUnavailable) when something a workload needs is missing."""
    progress("locating the implementations...")
    impls = [
        dataclasses.replace(impl, consumer_log=args.log)
        for impl in (_envs.ours(args.ours_python), _envs.published(args.huey_python))
    ]
    for impl in impls:
        if any(workload.needs_redis for workload in workloads) and impl.redis_version is None:
            raise _envs.EnvUnavailable(f"{impl.label} ({impl.python}) has no redis-py")
        if any(workload.needs_gevent for workload in workloads) and impl.gevent_version is None:
            raise _envs.EnvUnavailable(f"{impl.label} ({impl.python}) has no gevent")
    if not any(workload.needs_redis for workload in workloads):
        return impls, None
    if len({impl.redis_version for impl in impls}) > 1:
        progress("warning: the implementations use different redis-py versions")
    return impls, _redis.server_version()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        progress("--rounds must be at least 1")
        return EXIT_USAGE
    workloads = selected(args)
    try:
        impls, redis_server = locate(workloads, args)
    except (_envs.EnvUnavailable, _redis.RedisUnavailable) as exc:
        progress(f"benchmarks/run.py: unavailable: {exc}")
        return EXIT_UNAVAILABLE
    machine = _harness.machine_info(impls)
    source = _harness.source_info(_envs.ROOT)
    if redis_server is not None:
        machine["redis_server"] = redis_server
    if len({impl.python_version for impl in impls}) > 1:
        progress("warning: the implementations run on different Python versions")

    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="hb-"))
    printing = threading.Lock()

    def measure(workload: _harness.Workload) -> _harness.WorkloadResult | str:
        """The workload's result, or why it failed."""
        rounds = args.rounds or (1 if args.smoke else workload.default_rounds)
        params = workload.params(args, args.smoke)
        progress(f"{workload.name}: {rounds} round(s), work directory {scratch}")
        try:
            result = _harness.run_workload(workload, impls, rounds, params, scratch, progress)
        except (_harness.BenchmarkError, _redis.RedisUnavailable, _redis.RespError, OSError) as exc:
            what = str(exc) if isinstance(exc, _harness.BenchmarkError) else repr(exc)
            progress(f"benchmarks/run.py: {workload.name} failed: {what}")
            return what
        with printing:
            print(f"\n{_harness.render(result, rounds)}", flush=True)
        return result

    if args.smoke:
        # Its numbers mean nothing, its duration does (CI): a few workloads at a time.
        with ThreadPoolExecutor(SMOKE_JOBS) as pool:
            outcomes = list(pool.map(measure, workloads))
    else:
        outcomes = [measure(workload) for workload in workloads]
    results = [outcome for outcome in outcomes if not isinstance(outcome, str)]
    failures = {
        workload.name: outcome
        for workload, outcome in zip(workloads, outcomes, strict=True)
        if isinstance(outcome, str)
    }

    rows = _report.rows(results)
    print(f"\n{_report.render(rows)}")
    for name, reason in failures.items():
        print(f"FAILED {name}: {reason.splitlines()[0] if reason else ''}")
    print(f"\n{_harness.render_machine(machine, impls)}")
    print(f"consumers: --log {args.log}, {LOG_MEANINGS[args.log]}")
    if source["commit"]:
        modified = " (packages/ modified)" if source["packages_modified"] else ""
        print(f"source: {source['commit'][:12]}{modified} at the start")
    duration = time.monotonic() - clock
    print(f"ran in {duration:.0f} s")
    if args.json:
        report = {
            "command": args.command,
            "smoke": args.smoke,
            "rounds": args.rounds,  # None: each workload's default.
            "consumer_log": {
                "setting": args.log,
                "arguments": list(CONSUMER_LOGS[args.log]),
                "meaning": LOG_MEANINGS[args.log],
            },
            "started": started.isoformat(timespec="seconds"),
            "duration_seconds": round(duration, 1),
            "machine": machine,
            "source": source,
            "implementations": {impl.key: impl.describe() for impl in impls},
            "ratio_meaning": _harness.RATIO_MEANING,
            "table": [row.to_json() for row in rows],
            "workloads": {result.workload.name: result.to_json() for result in results},
            "failed": failures,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        progress(f"results written to {args.json}")
    if args.keep or failures:
        progress(f"work directories (logs, databases) kept in {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return EXIT_FAILED if failures else 0


if __name__ == "__main__":
    sys.exit(main())
