"""Fill client: write N distinct tasks (then M copies of one more) into the queue, in bulk.

Runs in the environment of the implementation being measured:
``python fill_client.py --tasks N [--padding M] [--redis-key KEY]``.

Each message is that implementation's own ``huey.serialize_task(echo.s(i))``, exactly what
enqueueing ``echo(i)`` stores, but the messages are written in bulk, so filling a deep queue
takes seconds: on SQLite, rows of the ``task`` table (huey 3.5.4's layout, which this project
keeps) in transactions of ``CHUNK``; on Redis, multi-value ``LPUSH`` commands, pipelined, on
the queue list (pushed on the left, taken from the right: first written, first run). The
``padding`` copies are one more serialized task written M times after the distinct ones; a
workload that measures the first tasks only uses them to make the queue deep. The last
message goes through ``huey.storage.enqueue``, so a consumer waiting for work is woken as by
any enqueue.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator

CHUNK = 5000


def chunks(messages: Iterable[bytes]) -> Iterator[list[bytes]]:
    iterator = iter(messages)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        yield chunk


def write_sqlite(path: str, queue: str, messages: Iterable[bytes]) -> None:
    connection = sqlite3.connect(path, timeout=60)
    try:
        for chunk in chunks(messages):
            with connection:  # One transaction per chunk.
                connection.executemany(
                    "insert into task (queue, data, priority) values (?, ?, 0.0)",
                    [(queue, data) for data in chunk],
                )
    finally:
        connection.close()


def write_redis(url: str, key: str, messages: Iterable[bytes]) -> None:
    import redis

    client = redis.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    for index, chunk in enumerate(chunks(messages)):
        pipe.lpush(key, *chunk)
        if index % 20 == 19:
            pipe.execute()
    pipe.execute()
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--padding", type=int, default=0)
    parser.add_argument("--redis-key", default="huey.redis.bench")
    args = parser.parse_args()
    if args.tasks + args.padding < 1:
        raise SystemExit("nothing to queue")

    import bench_app  # type: ignore[import-not-found]  # On the harness's PYTHONPATH.

    huey, echo = bench_app.huey, bench_app.echo
    huey.pending_count()  # Connects, and creates the SQLite tables.
    messages = [huey.serialize_task(echo.s(i)) for i in range(args.tasks)]
    if args.padding:
        messages += [huey.serialize_task(echo.s(-1))] * args.padding
    last = messages.pop()
    if os.environ.get("HUEY_BENCH_REDIS_URL"):
        write_redis(os.environ["HUEY_BENCH_REDIS_URL"], args.redis_key, messages)
    else:
        write_sqlite(os.environ["HUEY_BENCH_DB"], huey.name, messages)
    huey.storage.enqueue(last, None)
    print(f"queued {args.tasks} tasks and {args.padding} copies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
