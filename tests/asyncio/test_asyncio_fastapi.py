"""examples/fastapi_app end to end: a real ``huey_consumer -k asyncio`` and a real uvicorn
server, driven over HTTP with httpx (loopback only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from asyncio_support import BIN, wait_for
from redis_servers import free_port

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app"


class Service:
    def __init__(self, name: str, command: list[str], env: dict[str, str], tmp: Path) -> None:
        self.name = name
        self.log_path = tmp / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=EXAMPLE, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Any, Service]]:
    env = {**os.environ, "HUEY_FASTAPI_DB": str(tmp_path / "app.db"), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("HUEY_REDIS_URL", None)
    consumer = Service(
        "consumer",
        [str(BIN / "huey_consumer"), "tasks.huey", "-k", "asyncio", "-w", "50", "-c", "0.2"],
        env,
        tmp_path,
    )
    port = free_port()
    web = Service(
        "uvicorn",
        [sys.executable, "-m", "uvicorn", "api:app", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        for service in (consumer, web):
            if service.process.poll() is not None:
                pytest.fail(f"{service.name} exited:\n{service.log()}")
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, timeout=30, interval=0.1, what="the web server")
    wait_for(lambda: "huey consumer started" in consumer.log(), what="the consumer")
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client, consumer
    finally:
        assert web.stop() == 0, web.log()
        assert consumer.stop() == 0, consumer.log()


def test_enqueue_then_poll_status(server: Any) -> None:
    client, _ = server

    def ready_status(task_id: str) -> Any:
        def poll() -> Any:
            body = client.get(f"/report/status/{task_id}").json()
            return body if body["ready"] else None

        return wait_for(poll, what=f"task {task_id}")

    task_id = client.post("/report/7").json()["task_id"]
    assert ready_status(task_id)["value"] == {"user_id": 7, "lines": 70}
    # preserve=True: the status can be read again.
    assert client.get(f"/report/status/{task_id}").json()["value"]["lines"] == 70
    assert client.get("/report/status/no-such-task").json() == {"ready": False, "value": None}

    failed = client.post("/report/-1").json()["task_id"]
    assert "no such user: -1" in ready_status(failed)["error"]


def test_await_results_in_handlers(server: Any) -> None:
    client, _ = server
    assert client.post("/report/3/wait").json() == {"value": {"user_id": 3, "lines": 30}}
    assert client.get("/profile/5").json() == {"value": {"user_id": 5, "name": "user-5"}}
    failing = client.post("/report/-2/wait")
    assert failing.status_code == 500 and "no such user: -2" in failing.json()["detail"]
    assert client.get("/profile/-1").status_code == 500


def test_waiting_requests_do_not_hold_up_others(server: Any) -> None:
    client, _ = server
    with ThreadPoolExecutor(20) as pool:
        # 20 requests each awaiting a 2 s async task, all held open at once...
        slow = [pool.submit(client.get, f"/profile/{n}", params={"seconds": 2}) for n in range(20)]
        time.sleep(0.5)
        # ...while the server still answers at once.
        started = time.monotonic()
        assert client.get("/health").status_code == 200
        assert client.post("/report/1").status_code == 200
        assert time.monotonic() - started < 1.5
        assert all(not future.done() for future in slow)
        values = [future.result(timeout=30).json()["value"]["user_id"] for future in slow]
    assert values == list(range(20))
