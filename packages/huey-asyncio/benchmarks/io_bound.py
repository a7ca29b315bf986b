"""An I/O-bound load on ``huey_consumer -k asyncio``: tasks that each await a sleep.

    python packages/huey-asyncio/benchmarks/io_bound.py [--tasks 1000] [--workers 100]
        [--sleep 0.1] [--worker-type asyncio] [--rounds 3] [--redis] [--json]

Each round fills a fresh SQLite queue with ``--tasks`` tasks, starts a real consumer on it and
waits for every result (counting them: a read, which never holds up the consumer's writes). A
task returns when its body started and ended, so the rate is measured from the first body's
start to the last body's end (consumer start-up is left out): ``tasks / (last end - first
start)``. The ceiling is ``workers / sleep`` tasks per second (1000 for 100 workers and 0.1 s);
the report gives the best and median rounds against it.

``--worker-type thread`` (or ``greenlet``, ``process``) runs the same async tasks on a classic
worker type, each worker driving one coroutine at a time, for comparison. ``--redis`` uses a
RedisHuey on a private ``redis-server`` (from PATH, on a free loopback port, no persistence)
started for the run and stopped after it.

Self-contained: it needs huey-core, huey-sqlite (or huey-redis) and huey-asyncio in the running
interpreter's environment, and ``huey_consumer`` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = """
import asyncio, os, time
from huey import SqliteHuey

if os.environ.get("IO_BOUND_REDIS_PORT"):
    from huey import RedisHuey

    huey = RedisHuey("io-bound", port=int(os.environ["IO_BOUND_REDIS_PORT"]))
else:
    huey = SqliteHuey("io-bound", filename=os.environ["IO_BOUND_DB"])
SLEEP = float(os.environ["IO_BOUND_SLEEP"])


@huey.task()
async def io_task(n):
    started = time.time()
    await asyncio.sleep(SLEEP)
    return n, started, time.time()
"""


class RedisServer:
    """A private redis-server on a free loopback port, without persistence."""

    def __init__(self, directory: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise SystemExit("--redis needs redis-server on PATH")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        command = [executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def run_round(args: argparse.Namespace, directory: Path) -> dict[str, float]:
    db = directory / "queue.db"
    redis = RedisServer(directory) if args.redis else None
    settings = {
        "IO_BOUND_DB": str(db),
        "IO_BOUND_SLEEP": str(args.sleep),
        "IO_BOUND_REDIS_PORT": str(redis.port) if redis else "",
    }
    try:
        return measure(args, directory, settings)
    finally:
        if redis is not None:
            redis.stop()


def measure(
    args: argparse.Namespace, directory: Path, settings: dict[str, str]
) -> dict[str, float]:
    env = {**os.environ, **settings, "PYTHONPATH": str(directory)}
    os.environ.update(settings)
    sys.path.insert(0, str(directory))
    sys.modules.pop("io_bound_app", None)
    import io_bound_app  # type: ignore[import-not-found]

    results = [io_bound_app.io_task(n) for n in range(args.tasks)]
    consumer_script = Path(sys.executable).parent / "huey_consumer"
    command = [str(consumer_script), "io_bound_app.huey", "-k", args.worker_type]
    command += ["-w", str(args.workers), "-q"]
    log = open(directory / "consumer.log", "ab")  # noqa: SIM115 - closed below
    consumer = subprocess.Popen(command, cwd=directory, env=env, stdout=log, stderr=log)
    try:
        # Count results (a read, which never holds up the consumer's writes) until all are in.
        deadline = time.monotonic() + args.sleep * args.tasks + 60
        while io_bound_app.huey.result_count() < args.tasks:
            if time.monotonic() > deadline or consumer.poll() is not None:
                raise RuntimeError(f"the consumer did not finish; see {directory}/consumer.log")
            time.sleep(0.05)
        values = [r.get() for r in results]
    finally:
        consumer.terminate()
        consumer.wait(30)
        log.close()
    assert sorted(v[0] for v in values) == list(range(args.tasks)), "tasks went missing"
    first_start = min(v[1] for v in values)
    last_end = max(v[2] for v in values)
    span = last_end - first_start
    return {"seconds": span, "tasks_per_second": args.tasks / span}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--worker-type", default="asyncio")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", action="store_true", help="a private Redis, not SQLite")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    ceiling = args.workers / args.sleep
    rounds = []
    for index in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="huey-io-bound-") as tmp:
            directory = Path(tmp)
            (directory / "io_bound_app.py").write_text(APP)
            outcome = run_round(args, directory)
        rounds.append(outcome["tasks_per_second"])
        if not args.json:
            print(
                f"round {index + 1}: {args.tasks} tasks in {outcome['seconds']:.3f}s = "
                f"{outcome['tasks_per_second']:.0f} tasks/s"
            )
        time.sleep(0.2)
    report = {
        "storage": "redis" if args.redis else "sqlite",
        "worker_type": args.worker_type,
        "workers": args.workers,
        "tasks": args.tasks,
        "sleep": args.sleep,
        "ceiling": ceiling,
        "best": max(rounds),
        "median": statistics.median(rounds),
        "rounds": rounds,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['storage']}, -k {args.worker_type} -w {args.workers}, {args.tasks} tasks "
            f"awaiting {args.sleep}s: median {report['median']:.0f} tasks/s, "
            f"best {report['best']:.0f} "
            f"(ceiling {ceiling:.0f}/s: {report['median'] / ceiling:.1%} of it)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
