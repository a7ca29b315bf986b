"""Fixtures of the Django integration tests (``huey.contrib.djhuey``, package huey-django).

In-process tests run the example project (``examples/django_project``) with its settings: its
database and its SQLite huey file live in a temporary directory of the session, and no
consumer runs (tests execute queued tasks themselves). Subprocess tests run ``manage.py`` of the
same project against fresh files, or a private redis-server (never 127.0.0.1:6379).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "django_project"
SESSION_DIR = Path(tempfile.mkdtemp(prefix="djhuey-tests-"))
atexit.register(shutil.rmtree, SESSION_DIR, ignore_errors=True)

_SETTINGS_ENV = {
    "DJANGO_SETTINGS_MODULE": "shopsite.settings",
    "SHOP_DB": str(SESSION_DIR / "db.sqlite3"),
    "SHOP_HUEY_FILE": str(SESSION_DIR / "huey.db"),
    "SHOP_HUEY": "sqlite",
    "SHOP_DEBUG": "0",
}


def _setup_django() -> None:
    """Configure Django once for this process, leaving the environment as it was (Django sets
    TZ from TIME_ZONE: other tests of the session must keep the machine's local time)."""
    import django

    if str(EXAMPLE) not in sys.path:
        sys.path.insert(0, str(EXAMPLE))
    saved = {key: os.environ.get(key) for key in [*_SETTINGS_ENV, "TZ"]}
    os.environ.update(_SETTINGS_ENV)
    try:
        django.setup()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        time.tzset()


_setup_django()


@pytest.fixture(scope="session", autouse=True)
def _database() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Every queue and the shop's tables start empty; queues leave immediate mode as found."""
    from orders.models import Event, Order

    from huey.contrib.djhuey import HUEYS

    modes = {name: huey.immediate for name, huey in HUEYS.items()}
    for huey in HUEYS.values():
        huey.flush()
    Order.objects.all().delete()
    Event.objects.all().delete()
    yield
    for name, huey in HUEYS.items():
        huey.immediate = modes[name]
        huey.flush()


def run_queued(queue: str | None = None, limit: int = 100) -> list[Any]:
    """Execute what is queued on ``queue`` as a worker would, in a thread of its own (so that
    database connections are the worker's); returns the values."""
    from huey.contrib.djhuey import get_huey

    huey = get_huey(queue)
    values: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(limit):
                if not huey.pending_count():  # Not dequeue(): it waits when the queue is empty.
                    return
                task = huey.dequeue()
                if task is None:
                    return
                values.append(huey.execute(task))
        except BaseException as exc:  # Reported in the test's thread.
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    if errors:
        raise errors[0]
    return values


# -- subprocesses of the example project -----------------------------------------------------------
def _service_unavailable(config: pytest.Config, what: str) -> None:
    root = str(REPO / "tests" / "conftest.py")
    conftest: Any = config.pluginmanager.get_plugin(root)
    conftest.service_unavailable(what)


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A private redis-server for the session (fails under CI when redis-server is missing)."""
    from redis_servers import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        _service_unavailable(request.config, "redis-server")
    server = RedisServer().start()
    yield f"redis://127.0.0.1:{server.port}"
    server.close()


class Project:
    """``manage.py`` of the example project on its own database and huey storage."""

    def __init__(self, directory: Path, storage: str, redis_url: str | None = None) -> None:
        self.directory = directory
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(directory)),
            "DJANGO_SETTINGS_MODULE": "shopsite.settings",
            "SHOP_DB": str(directory / "db.sqlite3"),
            "SHOP_HUEY_FILE": str(directory / "huey.db"),
            "SHOP_HUEY": storage,
            "PYTHONUNBUFFERED": "1",
        }
        if redis_url is not None:
            self.env["SHOP_REDIS_URL"] = redis_url
        self.consumers: list[tuple[subprocess.Popen[str], Path]] = []

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(EXAMPLE / "manage.py"), *args]

    def manage(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.directory,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start_consumer(self, *args: str) -> tuple[subprocess.Popen[str], Path]:
        """``manage.py run_huey ARGS`` in the background, its log in a file; waits for its
        startup banner."""
        log = self.directory / f"consumer-{len(self.consumers)}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                self.command("run_huey", *args),
                cwd=self.directory,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.consumers.append((process, log))
        deadline = time.monotonic() + 60
        while "registered tasks:" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop_all()
                pytest.fail(f"run_huey {args} did not start:\n{log.read_text()}", pytrace=False)
            time.sleep(0.05)
        return process, log

    def stop(self, process: subprocess.Popen[str], timeout: float = 30) -> int:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return -9
        return process.returncode

    def stop_all(self) -> None:
        for process, _ in self.consumers:
            self.stop(process)


@pytest.fixture
def project_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[Project] = []

    def make(
        storage: str = "sqlite", redis_url: str | None = None, migrate: bool = True
    ) -> Project:
        directory = tmp_path / f"project-{len(made)}"
        directory.mkdir()
        project = Project(directory, storage, redis_url)
        made.append(project)
        if migrate:
            done = project.manage("migrate", "-v0")
            assert done.returncode == 0, done.stdout + done.stderr
        return project

    yield make
    for project in made:
        project.stop_all()
