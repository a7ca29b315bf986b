"""The floor of the ``roundtrip-redis`` workload: two hand-offs through Redis, no huey at all.

Runs in the environment of the implementation being measured (its redis-py, and hiredis where
it has it), on the private server of ``$HUEY_BENCH_REDIS_URL``:

- ``python pingpong_client.py respond``: the other process; takes each ping (``BRPOP``) and
  pushes it back (``LPUSH``), like an idle worker taking a task and storing its result;
- ``python pingpong_client.py OUT.json --tasks N --warmup W --min-sleep S --max-sleep S
  --seed X``: N samples, each from the ``LPUSH`` of a ping to the ``BRPOP`` of its answer,
  paced like the round trips of ``roundtrip_client.py`` (the same pauses, the same seed).

A task's round trip makes these two hand-offs and more (the worker's reads and writes, the
client's result reads), so on a given machine it cannot be faster than this.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import redis

PING, PONG = "bench.floor.ping", "bench.floor.pong"


def respond(client: redis.Redis) -> int:
    while True:
        popped = client.brpop([PING], timeout=5)
        if popped is not None:
            client.lpush(PONG, popped[1])


def ask(client: redis.Redis, args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)

    def once(value: int, timeout: float) -> float:
        start = time.perf_counter()
        client.lpush(PING, value)
        answer = client.brpop([PONG], timeout=timeout)
        elapsed = time.perf_counter() - start
        if answer is None or int(answer[1]) != value:
            raise SystemExit(f"ping {value} answered {answer!r}")
        return elapsed * 1000.0

    for i in range(args.warmup):  # The first waits for the responder to start.
        once(-1 - i, 60)
        time.sleep(rng.uniform(args.min_sleep, args.max_sleep))
    samples = []
    for i in range(args.tasks):
        time.sleep(rng.uniform(args.min_sleep, args.max_sleep))
        samples.append(once(i, 10))
    args.out.write_text(json.dumps({"samples_ms": samples}))
    return 0


def main() -> int:
    client = redis.Redis.from_url(os.environ["HUEY_BENCH_REDIS_URL"])
    if sys.argv[1:] == ["respond"]:
        return respond(client)
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--min-sleep", type=float, default=0.005)
    parser.add_argument("--max-sleep", type=float, default=0.010)
    parser.add_argument("--seed", type=int, default=0)
    return ask(client, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
