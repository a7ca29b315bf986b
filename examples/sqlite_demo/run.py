"""The project's main job on the embedded default, in one command: ``./dev demo``.

Starts a consumer (two worker threads) on a SQLite file, enqueues ordinary, scheduled, retried
and pipelined tasks, prints each result as it arrives, lets a periodic task fire, and shuts the
consumer down gracefully. So that the demo does not wait for real minutes, the consumer's
periodic clock runs one minute per second; everything else uses real time.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sys
import time

from tasks import DB, TEMP_DIR, add, flaky_square, huey, slow_echo

from huey.exceptions import TaskException


def fast_clock(start: float = time.monotonic()) -> dt.datetime:
    """One simulated minute per real second, starting now."""
    elapsed = time.monotonic() - start
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=elapsed)


def main() -> int:
    try:
        return run_demo()
    finally:
        huey.storage.close()
        if TEMP_DIR is not None:
            shutil.rmtree(TEMP_DIR, ignore_errors=True)
            print(f"removed {TEMP_DIR}")


def run_demo() -> int:
    # The failed first attempt is expected: log one line for it, not a traceback.
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")
    logging.getLogger("huey").setLevel(logging.CRITICAL)
    print(f"queue file: {DB}")
    consumer = huey.create_consumer(workers=2, scheduler_interval=0.1, clock=fast_clock)
    consumer.start()
    try:
        labelled = [
            ("add(1, 2)", add(1, 2)),
            ("flaky_square(7), retried once", flaky_square(7)),
            ("slow_echo, scheduled 1 s ahead", slow_echo.schedule(("scheduled", 0.1), delay=1)),
        ]
        pipeline = huey.enqueue(add.s(1, 2).then(add, 3).then(add, 4))
        print("enqueued 3 tasks and a 3-step pipeline; results as they arrive:")
        pending = dict(labelled)
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for label, result in list(pending.items()):
                if not result.is_ready():
                    continue
                try:
                    print(f"  {label} -> {result.get()!r}", flush=True)
                except TaskException as exc:
                    if not exc.metadata["retries"]:
                        raise
                    print(f"  {label}: attempt failed ({exc}), waiting for the retry")
                    result.reset()  # Read the store again: the retry will overwrite the error.
                    continue
                del pending[label]
            time.sleep(0.01)
        print(f"  pipeline add(1, 2).then(add, 3).then(add, 4) -> {pipeline.get(blocking=True)}")
        while (huey.storage.incr("demo.minutes", 0)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        if pending:
            print(f"timed out waiting for: {', '.join(pending)}", file=sys.stderr)
            return 1
    finally:
        clean = consumer.stop(graceful=True)
    print("consumer stopped cleanly" if clean else "consumer did not stop cleanly")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
