"""The benchmark command: this project against the published huey 3.5.4, side by side.

    python benchmarks/run.py WORKLOAD [--rounds N] [--json OUT.json] [--smoke] [options]
    hatch run bench:WORKLOAD [options]

Each implementation runs in its own environment (``_envs``): this project from the interpreter
running this script (or ``--ours-python``), huey 3.5.4 from a cached virtualenv built on first
use (or ``--huey-python`` / ``$HUEY_BENCH_HUEY354_PYTHON``). The implementations alternate
over the rounds of one run on the same machine (``_harness``); the report gives the median of
each metric across rounds. ``--smoke`` is a seconds-long run for CI: 1 round, few tasks.
Performance is reported, never asserted.

The Redis workloads (``roundtrip-redis``, ``commands-per-task``, ``throughput-redis``) start
a private ``redis-server`` (from the PATH, or ``$HUEY_BENCH_REDIS_SERVER``) on a free loopback
port for every run, and need redis-py in both environments.

Exit status: 0 measured, 1 a measurement failed, 2 bad usage, 3 an implementation's
environment is unavailable (for example the huey 3.5.4 virtualenv cannot be built, or a Redis
workload finds no redis-server).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # Run as a script: make the ``benchmarks`` package importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks.workloads  # noqa: F401 - registers the workloads
from benchmarks import _envs, _harness, _redis

EXIT_FAILED, EXIT_UNAVAILABLE = 1, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmarks of this project against huey 3.5.4, alternating in rounds.",
    )
    commands = parser.add_subparsers(dest="workload", required=True, metavar="WORKLOAD")
    for workload in _harness.WORKLOADS.values():
        sub = commands.add_parser(workload.name, help=workload.description)
        sub.add_argument(
            "--rounds",
            type=int,
            default=None,
            help=f"rounds, each running every implementation once "
            f"(default {workload.default_rounds}; --smoke: 1)",
        )
        sub.add_argument("--json", type=Path, help="also write the results to this file")
        sub.add_argument("--smoke", action="store_true", help="a seconds-long run, for CI")
        sub.add_argument(
            "--ours-python",
            type=Path,
            help="interpreter with this project's workspace installed (default: this one)",
        )
        sub.add_argument(
            "--huey-python",
            type=Path,
            help=f"interpreter with huey {_envs.PUBLISHED_VERSION} installed "
            f"(default: ${_envs.PUBLISHED_PYTHON_VARIABLE}, else a cached virtualenv)",
        )
        sub.add_argument(
            "--keep", action="store_true", help="keep the work directories (logs, databases)"
        )
        workload.add_arguments(sub)
    return parser


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def redis_requirements(impls: list[_envs.Implementation]) -> str:
    """The redis-server version; raises when it or an implementation's redis-py is missing."""
    for impl in impls:
        if impl.redis_version is None:
            raise _envs.EnvUnavailable(f"{impl.label} ({impl.python}) has no redis-py")
    if len({impl.redis_version for impl in impls}) > 1:
        progress("warning: the implementations use different redis-py versions")
    return _redis.server_version()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workload = _harness.WORKLOADS[args.workload]
    rounds = args.rounds
    if rounds is None:
        rounds = 1 if args.smoke else workload.default_rounds
    params = workload.params(args, args.smoke)
    if rounds < 1:
        progress("--rounds must be at least 1")
        return 2

    try:
        progress("locating the implementations...")
        impls = [_envs.ours(args.ours_python), _envs.published(args.huey_python)]
        redis_server = redis_requirements(impls) if workload.needs_redis else None
        if workload.needs_gevent:
            for impl in impls:
                if impl.gevent_version is None:
                    raise _envs.EnvUnavailable(f"{impl.label} ({impl.python}) has no gevent")
    except (_envs.EnvUnavailable, _redis.RedisUnavailable) as exc:
        progress(f"benchmarks/run.py: unavailable: {exc}")
        return EXIT_UNAVAILABLE
    machine = _harness.machine_info(impls)
    if redis_server is not None:
        machine["redis_server"] = redis_server
    if len({impl.python_version for impl in impls}) > 1:
        progress("warning: the implementations run on different Python versions")

    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="hb-"))
    progress(f"{workload.name}: {rounds} round(s), work directory {scratch}")
    try:
        result = _harness.run_workload(workload, impls, rounds, params, scratch, progress)
    except (_harness.BenchmarkError, _redis.RedisUnavailable, _redis.RespError, OSError) as exc:
        what = str(exc) if isinstance(exc, _harness.BenchmarkError) else repr(exc)
        progress(f"benchmarks/run.py: {workload.name} failed: {what}")
        progress(f"logs and databases kept in {scratch}")
        return EXIT_FAILED
    if args.keep:
        progress(f"work directories kept in {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(_harness.render(result, rounds))
    print()
    print(_harness.render_machine(machine, impls))
    if args.json:
        report = {
            "command": workload.name,
            "smoke": args.smoke,
            "rounds": rounds,
            "started": started.isoformat(timespec="seconds"),
            "duration_seconds": round(time.monotonic() - clock, 1),
            "machine": machine,
            "implementations": {impl.key: impl.describe() for impl in impls},
            "workloads": {workload.name: result.to_json()},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        progress(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
