"""Client of the ``enqueue-*`` workloads: time enqueueing N tasks, with no consumer running.

Runs in the environment of the implementation being measured:
``python enqueue_client.py OUT.json --mode single|map|group --tasks N [--batch B]
[--warmup W]``.

``single``: N calls ``echo(i)``, one task each. ``map``: ``echo.map(batch)`` over consecutive
batches of B arguments until N tasks are queued; ``group``: ``huey.enqueue(group(...))`` of
B signatures ``echo.s(i)`` each (both implementations export ``huey.group``; building the
signatures is timed, as it is part of enqueueing a group). The warm-up tasks (enqueued
first, not timed) open the connection and create the tables; the queue is then flushed. Only
the enqueueing is timed; the count queued is checked after the clock stops.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--mode", choices=("single", "map", "group"), required=True)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    import bench_app  # type: ignore[import-not-found]  # On the harness's PYTHONPATH.

    import huey as huey_package

    echo, huey = bench_app.echo, bench_app.huey
    for i in range(args.warmup):
        echo(-1 - i)
    huey.flush()

    clock = time.perf_counter
    if args.mode == "single":
        start = clock()
        for i in range(args.tasks):
            echo(i)
        elapsed = clock() - start
    else:
        batches = [
            range(first, min(first + args.batch, args.tasks))
            for first in range(0, args.tasks, args.batch)
        ]
        start = clock()
        if args.mode == "map":
            for batch in batches:
                echo.map(batch)
        else:
            for batch in batches:
                huey.enqueue(huey_package.group([echo.s(i) for i in batch]))
        elapsed = clock() - start
    queued = huey.pending_count()
    if queued != args.tasks:
        raise SystemExit(f"{queued} of {args.tasks} tasks queued")
    args.out.write_text(
        json.dumps(
            {
                "huey_version": getattr(huey_package, "__version__", "unknown"),
                "seconds": elapsed,
                "tasks": args.tasks,
            }
        )
    )
    print(f"{args.mode}: {args.tasks} tasks in {elapsed:.3f}s = {args.tasks / elapsed:.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
