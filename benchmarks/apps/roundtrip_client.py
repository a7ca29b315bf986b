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
from collections.abc import Callable
from pathlib import Path


def percentile(samples: list[float], pct: int) -> float:
    """Linear interpolation between closest ranks (the harness uses the same definition)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def parser() -> argparse.ArgumentParser:
    """The options of a paced round-trip client (this one, and ``pingpong_client.py``)."""
    options = argparse.ArgumentParser()
    options.add_argument("out", type=Path)
    options.add_argument("--tasks", type=int, required=True)
    options.add_argument("--warmup", type=int, default=5)
    options.add_argument("--min-sleep", type=float, default=0.005)
    options.add_argument("--max-sleep", type=float, default=0.010)
    options.add_argument("--startup-timeout", type=float, default=60.0)
    options.add_argument("--seed", type=int, default=0)
    return options


def paced(args: argparse.Namespace, once: Callable[[int, float | None], float]) -> list[float]:
    """``args.warmup`` untimed round trips, then the ``args.tasks`` timed ones (ms), each
    after a random pause. ``once(value, timeout)`` makes one round trip carrying ``value`` and
    returns its time; only the warm-up ones have a ``timeout``: the first waits for the other
    side to start."""
    rng = random.Random(args.seed)
    for i in range(args.warmup):
        once(-1 - i, args.startup_timeout)
        time.sleep(rng.uniform(args.min_sleep, args.max_sleep))
    samples = []
    for i in range(args.tasks):
        time.sleep(rng.uniform(args.min_sleep, args.max_sleep))
        samples.append(once(i, None))
    return samples


def main() -> int:
    args = parser().parse_args()

    import bench_app  # type: ignore[import-not-found]  # On the harness's PYTHONPATH.

    import huey as huey_package

    echo = bench_app.echo

    def once(value: int, timeout: float | None) -> float:
        start = time.perf_counter()
        got = echo(value).get(blocking=True, timeout=timeout)
        elapsed = time.perf_counter() - start
        if got != value:
            raise SystemExit(f"task {value} returned {got!r}")
        return elapsed * 1000.0

    samples = paced(args, once)
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
