"""End to end: a real ``huey_consumer`` process runs a ``RedisClusterHuey`` application on the
three-master cluster.

Thread and forked-process workers, blocking in ``BRPOP``/``BZPOPMIN`` on the master that owns
the queue's slot; results are awaited with ``BLPOP`` on their notification lists. This process
enqueues and reads results through its own instance of the application, then stops the
consumer with SIGINT and expects a clean exit with no warning or error logged.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cluster_support import queue_keys
from consumer_process import ConsumerProcess
from redis_servers import RedisClusterHandle, free_cluster_port, start_cluster

from huey.exceptions import TaskException

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
WORKERS = {
    "thread": ["-k", "thread", "-w", "3"],
    "process": ["-k", "process", "-w", "2"],
}
KINDS = ["RedisClusterHuey", "PriorityRedisClusterExpireHuey"]


def trouble(log: str, *planned: str) -> list[str]:
    """Warnings and errors the consumer logged, other than the planned failure of ``flaky`` and
    lines about the ``planned`` task ids (a revoked task is a WARNING, as in huey 3.5.4)."""
    return [
        line
        for line in log.splitlines()
        if re.match(r"\[[^]]*\] (WARNING|ERROR|CRITICAL):", line)
        and "cluster_app.flaky" not in line
        and not any(task_id in line for task_id in planned)
    ]


@pytest.fixture(params=KINDS)
def app_env(
    request: pytest.FixtureRequest,
    redis_cluster: RedisClusterHandle,
    wipe_queue: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    queue = f"e2e_{request.param}"
    wipe_queue(queue)
    env = {
        "HUEY_CLUSTER_NODES": ",".join(f"{h}:{p}" for h, p in redis_cluster.startup_nodes),
        "HUEY_CLUSTER_KIND": request.param,
        "HUEY_CLUSTER_QUEUE": queue,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def app(app_env: dict[str, str]) -> Iterator[ModuleType]:
    module = importlib.import_module("cluster_app")
    module = importlib.reload(module)  # Built on this session's cluster and this test's queue.
    try:
        yield module
    finally:
        module.huey.storage.close()


@pytest.fixture
def consumer(tmp_path: Path, app_env: dict[str, str]) -> Iterator[Any]:
    started: list[ConsumerProcess] = []

    def start(*args: str) -> ConsumerProcess:
        log = tmp_path / f"consumer-{len(started)}.log"
        run = ConsumerProcess("cluster_app.huey", HERE, log, *args, env=app_env)
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop()


@pytest.mark.parametrize("workers", sorted(WORKERS))
def test_consumer_runs_tasks_on_the_cluster(
    app: ModuleType, consumer: Any, redis_cluster: RedisClusterHandle, workers: str
) -> None:
    run = consumer(*WORKERS[workers])
    run.wait_started()
    assert "blocking dequeue" in run.log()

    assert app.add(1, 2).get(blocking=True, timeout=30) == 3
    results = [app.add(index, index) for index in range(40)]
    assert [r.get(blocking=True, timeout=30) for r in results] == [2 * i for i in range(40)]
    pipeline = app.huey.enqueue(app.add.s(1, 2).then(app.add, 3).then(app.add, 4))
    assert pipeline.get(blocking=True, timeout=30) == [3, 6, 10]
    flaky = app.flaky("x")
    # The failed first run may be read before the retry overwrites it (and an expire storage
    # keeps it readable until then: its reads are not destructive).
    deadline = time.monotonic() + 30
    while True:
        try:
            outcome = flaky.get(blocking=True, timeout=30)
            break
        except TaskException:
            assert time.monotonic() < deadline, "the retry never stored its result"
            flaky.reset()
            time.sleep(0.05)
    assert outcome == "x ok"
    assert app.huey.storage.incr("flaky:x", 0) == 2
    assert app.guarded("g").get(blocking=True, timeout=30) == "g"
    start = time.monotonic()
    assert app.add.schedule((5, 5), delay=1).get(blocking=True, timeout=30) == 10
    assert time.monotonic() - start >= 0.9
    revoked = app.add.schedule((1, 1), delay=1)
    revoked.revoke()
    time.sleep(1.5)
    assert revoked.get() is None

    who = {app.whoami().get(blocking=True, timeout=30) for _ in range(20)}
    if workers == "process":
        assert run.process.pid not in who, "process workers run tasks in forked children"
    else:
        assert who == {run.process.pid}

    assert run.interrupt() == 0, run.log()
    assert trouble(run.log(), revoked.id) == [], run.log()
    assert f"Task cluster_app.add: {revoked.id}" in run.log()  # Skipped, and said so.
    assert app.huey.storage.queue_size() == 0
    # Everything the run left behind is in the queue's one slot, on one master.
    assert len(queue_keys(redis_cluster, app.huey.storage.keys.name)) <= 1


@pytest.mark.timeout(240)
@pytest.mark.parametrize("workers", sorted(WORKERS))
def test_a_consumer_started_before_the_cluster_runs_tasks_once_it_is_up(
    redis_cluster: RedisClusterHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
) -> None:
    """Building the application never connects: the consumer starts while no node answers,
    logs that it cannot read the queue, and serves the queue once the cluster exists."""
    taken: set[int] = set()
    ports = []
    for _ in range(3):
        ports.append(free_cluster_port(taken))
        taken |= {ports[-1], ports[-1] + 10000}
    env = {
        "HUEY_CLUSTER_NODES": ",".join(f"127.0.0.1:{port}" for port in ports),
        "HUEY_CLUSTER_KIND": "RedisClusterHuey",
        "HUEY_CLUSTER_QUEUE": "late_cluster",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = importlib.reload(importlib.import_module("cluster_app"))  # Built with no cluster.
    run = ConsumerProcess(
        "cluster_app.huey", HERE, tmp_path / "consumer.log", *WORKERS[workers], env=env
    )
    late: RedisClusterHandle | None = None
    try:
        run.wait_started()
        deadline = time.monotonic() + 30
        while "cannot read the queue" not in run.log():
            assert time.monotonic() < deadline, run.log()
            time.sleep(0.05)
        assert run.process.poll() is None, run.log()

        late = start_cluster(ports=ports)
        results = [app.add(index, 1) for index in range(10)]
        assert [r.get(blocking=True, timeout=60) for r in results] == list(range(1, 11))
        deadline = time.monotonic() + 30
        while "storage available again" not in run.log():
            assert time.monotonic() < deadline, run.log()
            time.sleep(0.05)
        assert run.interrupt() == 0, run.log()
    finally:
        run.stop()
        if late is not None:
            late.close()
