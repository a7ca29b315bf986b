"""Client of the ``roundtrip`` workload: N sequential round trips of one task, timed.

Runs in the environment of the implementation being measured, against that implementation's
consumer (``huey_consumer bench_app.huey -w 1``), so it imports only the standard library and
``huey`` (through ``bench_app``).

``python roundtrip_client.py OUT.json --tasks N --warmup W --min-sleep S --max-sleep S --seed X``.

Each round trip is timed from the call that enqueues the task to the return of
``result.get(blocking=True)``. Between round trips the client sleeps a random interval in
``[min-sleep, max-sleep]`` so the consumer is idle (waiting for work) each time a task arrives.
The warm-up round trips, not timed, also wait for the consumer to come up. The samples go to
OUT.json; p50/p99 are printed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path


def percentile(samples: list[float], pct: int) -> float:
    """Linear interpolation between closest ranks (the harness uses the same definition)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--min-sleep", type=float, default=0.005)
    parser.add_argument("--max-sleep", type=float, default=0.010)
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import bench_app  # type: ignore[import-not-found]  # On the harness's PYTHONPATH.

    import huey as huey_package

    echo = bench_app.echo

    rng = random.Random(args.seed)
    for i in range(args.warmup):
        # A timeout only here: the first one waits for the consumer to start.
        value = echo(-1 - i).get(blocking=True, timeout=args.startup_timeout)
        if value != -1 - i:
            raise SystemExit(f"warm-up task {i} returned {value!r}")
        time.sleep(rng.uniform(args.min_sleep, args.max_sleep))

    clock = time.perf_counter
    samples: list[float] = []
    for i in range(args.tasks):
        time.sleep(rng.uniform(args.min_sleep, args.max_sleep))
        start = clock()
        value = echo(i).get(blocking=True)
        elapsed = clock() - start
        if value != i:
            raise SystemExit(f"task {i} returned {value!r}")
        samples.append(elapsed * 1000.0)

    args.out.write_text(
        json.dumps(
            {
                "huey_version": getattr(huey_package, "__version__", "unknown"),
                "huey_file": huey_package.__file__,
                "python_version": sys.version.split()[0],
                "samples_ms": samples,
            }
        )
    )
    print(f"p50 {percentile(samples, 50):.3f} ms  p99 {percentile(samples, 99):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
