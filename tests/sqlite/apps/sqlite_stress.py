"""A SqliteHuey application for the many-process stress tests (``test_concurrency``).

Consumers run ``huey_consumer sqlite_stress.huey`` from this directory; producers run
``python -c "import sqlite_stress; sqlite_stress.produce(...)"`` from it, so both name the
tasks ``sqlite_stress.*``. The database file is ``$HUEY_STRESS_DB``; ``$HUEY_STRESS_LABEL``
names the consumer, recorded with every execution.

Every execution marks its tag with ``put_if_empty("ran:<tag>")``: a second execution of the
same tag finds the key taken and counts a duplicate. Counters count executions, and the tasks
consumers put on the schedule (not due yet when dequeued). Which tags there are is a pure
function of the producer's index and share (``plan``), so the test knows every key it must find.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from huey import SqliteHuey
from huey.signals import SIGNAL_SCHEDULED

EXECUTIONS = "executions"  # Counter: every execution of every task.
DUPLICATES = "duplicates"  # Counter: executions whose tag had run already.
MISORDERED = "misordered"  # Counter: pipeline steps that ran before the step they follow.
SCHEDULED = "scheduled"  # Counter: tasks a consumer put on the schedule (not yet due).
PIPELINE_STEPS = 3


def build(filename: str) -> SqliteHuey:
    return SqliteHuey("stress", filename=filename)


huey = build(os.environ["HUEY_STRESS_DB"])  # Set by the tests, for every process.
LABEL = os.environ.get("HUEY_STRESS_LABEL", "unlabelled").encode()


@huey.signal(SIGNAL_SCHEDULED)
def on_scheduled(signal: str, task: object) -> None:
    huey.storage.incr(SCHEDULED)


def mark(tag: str) -> None:
    storage = huey.storage
    if not storage.put_if_empty(f"ran:{tag}", LABEL):
        storage.incr(DUPLICATES)
    storage.incr(EXECUTIONS)


@huey.task()
def record(tag: str) -> None:
    mark(tag)


@huey.task()
def step(tag: str, index: int) -> int:
    """Step ``index`` of a pipeline; the next step gets ``index + 1`` piped in."""
    if index and not huey.storage.has_data_for_key(f"ran:{tag}.{index - 1}"):
        huey.storage.incr(MISORDERED)
    mark(f"{tag}.{index}")
    return index + 1


@dataclass(frozen=True)
class Item:
    kind: str  # "plain", "priority", "scheduled" or "pipeline".
    tag: str
    priority: int | None = None
    delay: float | None = None

    def tags(self) -> list[str]:
        if self.kind == "pipeline":
            return [f"{self.tag}.{index}" for index in range(PIPELINE_STEPS)]
        return [self.tag]


def plan(
    producer: int, executions: int, pipelines: int = 0, scheduled: int = 0, priority_every: int = 0
) -> list[Item]:
    """What producer ``producer`` enqueues: ``executions`` task runs in all, of which
    ``pipelines`` pipelines of ``PIPELINE_STEPS`` steps and ``scheduled`` tasks scheduled 1-2 s
    ahead, spread evenly; every ``priority_every``-th of the others has a priority."""
    rng = random.Random(producer)
    singles = executions - pipelines * PIPELINE_STEPS
    assert singles >= scheduled >= 0, "more pipelines and scheduled tasks than executions"
    stride = singles // scheduled if scheduled else 0
    items = []
    for index in range(singles):
        tag = f"p{producer}-{index}"
        if stride and index % stride == 0 and index // stride < scheduled:
            items.append(Item("scheduled", tag, delay=1.0 + rng.random()))
        elif priority_every and index % priority_every == 0:
            items.append(Item("priority", tag, priority=rng.randint(1, 9)))
        else:
            items.append(Item("plain", tag))
    for number in range(pipelines):
        position = (number + 1) * len(items) // (pipelines + 1)
        items.insert(position, Item("pipeline", f"p{producer}-pipe{number}"))
    return items


def expected_tags(plans: list[list[Item]]) -> list[str]:
    return [tag for items in plans for item in items for tag in item.tags()]


def produce(directory: str, producer: int, executions: int, **options: int) -> None:
    """Enqueue this producer's ``plan`` as fast as possible, once ``directory/go`` exists
    (``directory/ready-<producer>`` says it is waiting)."""
    items = plan(producer, executions, **options)
    huey.storage.queue_size()  # Connect before the start line, not after it.
    Path(directory, f"ready-{producer}").touch()
    deadline = time.monotonic() + 60
    while not Path(directory, "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"producer {producer}: no go signal")
        time.sleep(0.005)
    started = time.monotonic()
    for item in items:
        if item.kind == "pipeline":
            pipeline = step.s(item.tag, 0)
            for _ in range(1, PIPELINE_STEPS):
                pipeline = pipeline.then(step, item.tag)
            huey.enqueue(pipeline)
        elif item.kind == "scheduled":
            record.schedule(args=(item.tag,), delay=item.delay)
        elif item.kind == "priority":
            huey.enqueue(record.s(item.tag, priority=item.priority))
        else:
            record(item.tag)
    print(f"producer {producer}: {len(items)} enqueues in {time.monotonic() - started:.2f}s")
