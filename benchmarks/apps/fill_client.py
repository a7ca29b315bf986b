"""Producer of the pre-filled Redis workloads: enqueue N tasks, then exit.

Runs in the environment of the implementation being measured, with no consumer running yet:
``python fill_client.py --app bench_redis_app --tasks N``. It only enqueues (``echo(i)`` for
i in 0..N-1, results not read), so every command the consumer later issues is the consumer's.
"""

from __future__ import annotations

import argparse
import importlib
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", default="bench_redis_app")
    parser.add_argument("--tasks", type=int, required=True)
    args = parser.parse_args()

    app = importlib.import_module(args.app)
    for i in range(args.tasks):
        app.echo(i)
    queued = app.huey.pending_count()
    print(f"enqueued {args.tasks}, {queued} pending")
    return 0 if queued == args.tasks else 1


if __name__ == "__main__":
    sys.exit(main())
