"""The floor of the ``roundtrip-redis`` workload: two hand-offs through Redis, no huey at all.

Runs in the environment of the implementation being measured (its redis-py, and hiredis where
it has it), on the private server of ``$HUEY_BENCH_REDIS_URL``:

- ``python pingpong_client.py respond``: the other process; takes each ping (``BRPOP``) and
  pushes it back (``LPUSH``), like an idle worker taking a task and storing its result;
- ``python pingpong_client.py OUT.json --tasks N --warmup W --min-sleep S --max-sleep S
  --seed X``: N samples, each from the ``LPUSH`` of a ping to the ``BRPOP`` of its answer,
  paced like the round trips of ``roundtrip_client.py`` (its options and pacing, the same
  seed).

A task's round trip makes these two hand-offs and more (the worker's reads and writes, the
client's result reads), so on a given machine it cannot be faster than this.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import redis
from roundtrip_client import paced, parser  # type: ignore[import-not-found]  # In apps/.

PING, PONG = "bench.floor.ping", "bench.floor.pong"


def respond(client: redis.Redis) -> int:
    while True:
        popped = client.brpop([PING], timeout=5)
        if popped is not None:
            client.lpush(PONG, popped[1])


def ask(client: redis.Redis, args: argparse.Namespace) -> int:
    def once(value: int, timeout: float | None) -> float:
        start = time.perf_counter()
        client.lpush(PING, value)
        answer = client.brpop([PONG], timeout=timeout or 10)
        elapsed = time.perf_counter() - start
        if answer is None or int(answer[1]) != value:
            raise SystemExit(f"ping {value} answered {answer!r}")
        return elapsed * 1000.0

    args.out.write_text(json.dumps({"samples_ms": paced(args, once)}))
    return 0


def main() -> int:
    client = redis.Redis.from_url(os.environ["HUEY_BENCH_REDIS_URL"])
    if sys.argv[1:] == ["respond"]:
        return respond(client)
    return ask(client, parser().parse_args())


if __name__ == "__main__":
    sys.exit(main())
