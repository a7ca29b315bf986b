"""``manage.py run_huey``: every consumer option, settings overridden by the command line, the
tasks modules of installed apps, named queues; then the example project end to end, with the
consumer as a subprocess on SQLite and on Redis and tasks that touch the database."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from huey.consumer import Consumer
from huey.contrib.djhuey import HUEY, get_huey
from huey.contrib.djhuey.management.commands import run_huey

# -- the command in this process, its consumer not run ---------------------------------------------


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Consumer]]:
    """Consumers run_huey would run; the huey logger is restored afterwards."""
    consumers: list[Consumer] = []
    monkeypatch.setattr(Consumer, "run", lambda self: consumers.append(self))
    logger = logging.getLogger("huey")
    level, handlers = logger.level, list(logger.handlers)
    yield consumers
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)


def _run(consumers: list[Consumer], *args: str) -> Consumer:
    call_command("run_huey", *args)
    return consumers[-1]


def test_settings_give_the_defaults(started: list[Consumer]) -> None:
    consumer = _run(started)
    assert consumer.huey is HUEY
    config = consumer.config
    # HUEY["consumer"] of the example project: workers 2, scheduler_interval 1.
    assert (config.workers, config.scheduler_interval) == (2, 1)
    assert (config.worker_type, config.periodic, config.check_worker_health) == (
        "thread",
        True,
        True,
    )
    assert (config.initial_delay, config.backoff, config.max_delay) == (0.1, 1.15, 10.0)
    assert logging.getLogger("huey").level == logging.INFO


def test_every_short_option_overrides_settings(started: list[Consumer], tmp_path: Path) -> None:
    log = tmp_path / "huey.log"
    args = "-w 5 -k process -n -d 0.5 -m 20 -b 2 -c 3 -C -s 2 -o -f -L a,b -t 7 -V"
    consumer = _run(started, *args.split(), "-l", str(log))
    c = consumer.config
    assert (c.workers, c.worker_type, c.periodic) == (5, "process", False)
    assert (c.initial_delay, c.max_delay, c.backoff) == (0.5, 20.0, 2.0)
    assert (c.health_check_interval, c.check_worker_health, c.scheduler_interval) == (3, False, 2)
    assert (c.utc, c.flush_locks, c.extra_locks, c.shutdown_timeout) == (False, True, ("a", "b"), 7)
    assert consumer.utc is False
    logger = logging.getLogger("huey")
    assert logger.level == logging.DEBUG
    logger.debug("into the file")
    assert "into the file" in log.read_text()


def test_every_long_option(started: list[Consumer]) -> None:
    consumer = _run(
        started,
        "--workers=3",
        "--worker-type=thread",
        "--no-periodic",
        "--delay=0.2",
        "--max-delay=5",
        "--backoff=1.5",
        "--health-check-interval=2",
        "--disable-health-check",
        "--scheduler-interval=4",
        "--utc",
        "--extra-locks=x",
        "--shutdown-timeout=1",
        "--huey-verbose",
    )
    c = consumer.config
    assert (c.workers, c.worker_type, c.periodic, c.initial_delay) == (3, "thread", False, 0.2)
    assert (c.max_delay, c.backoff, c.health_check_interval) == (5.0, 1.5, 2.0)
    assert (c.check_worker_health, c.scheduler_interval, c.utc) == (False, 4.0, True)
    assert (c.flush_locks, c.extra_locks, c.shutdown_timeout) == (True, ("x",), 1.0)
    assert logging.getLogger("huey").level == logging.DEBUG


def test_quiet_and_localtime(started: list[Consumer]) -> None:
    consumer = _run(started, "--quiet", "--localtime", "--flush-locks")
    assert logging.getLogger("huey").level == logging.WARNING  # huey 3.5.4's -q
    assert consumer.config.utc is False and consumer.config.flush_locks


def test_max_tasks(started: list[Consumer]) -> None:
    assert _run(started, "-M", "50").max_tasks == 50
    assert _run(started, "--max-tasks=3", "-k", "process").settings.max_tasks == 3
    assert _run(started).max_tasks is None
    assert _run(started, "-M", "0").max_tasks is None  # 0 means never, as in huey 3.5.4.


def test_djangos_own_verbosity_is_left_alone(started: list[Consumer]) -> None:
    consumer = _run(started, "-v", "2")
    assert consumer.config.verbose is None
    assert logging.getLogger("huey").level == logging.INFO


def test_a_named_queue_with_its_own_settings(started: list[Consumer]) -> None:
    consumer = _run(started, "--queue", "reports")
    assert consumer.huey is get_huey("reports")
    assert consumer.config.workers == 1  # HUEY_QUEUES["reports"]["consumer"]
    assert _run(started, "-Q", "reports", "-w", "4").config.workers == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", "nowhere"], "no queue named 'nowhere'; settings define: default, reports"),
        (["-w", "0"], "-w/--workers must be an integer >= 1"),
        (["-k", "fibres"], "-k/--worker-type must be one of the installed worker types"),
        (["-m", "0.01", "-d", "1"], "-m/--max-delay"),
        (["-M", "-1"], "-M/--max-tasks must be an integer >= 1"),
        (["-M", "5", "-C"], "-M/--max-tasks needs the worker health check"),
    ],
)
def test_invalid_options(started: list[Consumer], args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("run_huey", *args)
    assert not started


def test_autoload_of_tasks_modules(
    started: list[Consumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(run_huey, "autodiscover_modules", lambda *names: calls.append(names))
    _run(started)
    assert calls == [("tasks",)]
    _run(started, "-A")
    _run(started, "--disable-autoload")
    assert calls == [("tasks",)]


def test_immediate_mode_is_turned_off_for_the_consumer(
    started: list[Consumer], caplog: pytest.LogCaptureFixture
) -> None:
    HUEY.immediate = True
    consumer = _run(started)
    assert not HUEY.immediate and consumer.huey is HUEY
    assert type(HUEY.storage).__name__ == "SqliteStorage"
    assert "immediate mode" in caplog.text


def test_help_lists_the_options() -> None:
    text = run_huey.Command().create_parser("manage.py", "run_huey").format_help()
    for flag in ("-V, --huey-verbose", "-A, --disable-autoload", "-Q NAME, --queue NAME",
                 "-w N, --workers N", "-k TYPE, --worker-type TYPE", "--verbosity"):  # fmt: skip
        assert flag in text, flag


# -- the example project, consumer and producer as subprocesses ------------------------------------
_redis_dbs = itertools.count(1)


def _check_demo(summary: dict[str, Any], consumer_pids: set[int], django_tasks: bool) -> None:
    assert summary["pending_before_commit"] == 0
    assert summary["add"] == 3
    assert summary["scheduled_add"] == 5
    assert summary["processed"] == ["processed"] * 3
    assert summary["receipts"] == ["customer-0", "customer-1", "customer-2"]
    assert summary["inventory"] == 3
    assert summary["report"] == 600
    # The tasks wrote to the database from the consumers' processes.
    for _customer, status, processed_by in summary["orders"]:
        assert status == "processed"
        assert int(processed_by.split()[1]) != summary["pid"]
    kinds = sorted(kind for kind, _detail, _pid in summary["events"])
    expected = ["inventory", "receipt", "receipt", "receipt", "report"]
    if django_tasks:
        expected = sorted([*expected, "django-task"])
    assert kinds == expected
    worker_pids = {pid for _kind, _detail, pid in summary["events"]}
    assert summary["pid"] not in worker_pids
    if consumer_pids:  # Thread workers: the consumers' own processes.
        assert worker_pids <= consumer_pids
    if django_tasks:
        results = summary["django_tasks"]
        assert results["customer_total"]["value"] == {"customer": "customer-0", "total": 100}
        assert results["attempt_number"]["value"]["attempt"] == 1
        assert results["refuse"]["status"] == "FAILED"
        assert results["refuse"]["errors"] == ["builtins.ValueError"]
        assert results["double"]["value"] == 42
        assert results["order_count"] == {
            "status": "SUCCESSFUL",
            "value": 3,
            "errors": [],
            "attempts": 1,
            "same_on_reread": True,
            "queue": "reports",
        }
        assert all(r["same_on_reread"] for r in results.values())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("storage", "worker_type"),
    [("sqlite", "thread"), ("sqlite", "process"), ("sqlite", "greenlet"), ("redis", "thread")],
)
def test_example_project_end_to_end(
    project_factory: Any, request: pytest.FixtureRequest, storage: str, worker_type: str
) -> None:
    url = None
    if storage == "redis":
        url = f"{request.getfixturevalue('redis_url')}/{next(_redis_dbs)}"
    project = project_factory(storage, url)
    default, default_log = project.start_consumer("-k", worker_type)
    reports, reports_log = project.start_consumer("--queue", "reports")

    demo = project.manage("shop_demo", "--reports", "--timeout", "60")
    assert demo.returncode == 0, demo.stdout + demo.stderr + default_log.read_text()
    summary = json.loads(demo.stdout.strip().splitlines()[-1])
    pids = {default.pid, reports.pid} if worker_type != "process" else set()
    django_tasks = "django_tasks" in summary
    assert django_tasks, "TASKS should be configured on every supported Django"
    _check_demo(summary, pids, django_tasks)

    assert project.stop(default) == 0
    assert project.stop(reports) == 0
    banner = default_log.read_text()
    assert f"x {worker_type}" in banner and "consumer stopped" in banner
    assert "+ orders.tasks.process_order" in banner
    assert "+ orders.tasks.nightly_cleanup (periodic)" in banner
    assert "reports.tasks" not in banner
    # The only tracebacks are of the Django task that raises on purpose: the framework logs
    # it, and huey reports the failed runner task (its signals see it, as in huey 3.5.4).
    assert banner.count("Traceback") == banner.count("ValueError: no thanks") >= 1
    assert "task huey.contrib.djhuey.tasks_backend.djtasks.run: " in banner
    reports_banner = reports_log.read_text()
    assert "'shop-reports'" in reports_banner and "+ reports.tasks.sales_report" in reports_banner
    assert "orders.tasks" not in reports_banner and "consumer stopped" in reports_banner


@pytest.mark.slow
def test_command_line_over_settings_and_no_autoload(project_factory: Any) -> None:
    # reports/tasks.py is imported by nothing but the autoload (orders.tasks is, by the views).
    project = project_factory()
    process, log = project.start_consumer("-Q", "reports", "-A", "-w", "3")
    assert project.stop(process) == 0
    banner = log.read_text()
    assert "- workers: 3 x thread" in banner
    assert "reports.tasks" not in banner  # Not imported: -A.
    process, log = project.start_consumer("-Q", "reports")
    assert project.stop(process) == 0
    banner = log.read_text()
    assert "- workers: 1 x thread" in banner  # HUEY_QUEUES["reports"]["consumer"]["workers"]
    assert "+ reports.tasks.sales_report" in banner


@pytest.mark.slow
def test_invalid_options_exit_with_a_message(project_factory: Any) -> None:
    project = project_factory(migrate=False)
    done = project.manage("run_huey", "--queue", "nowhere")
    assert done.returncode == 1
    assert "no queue named 'nowhere'" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sqlite", "redis"])
def test_debug_runs_tasks_without_a_consumer_or_a_server(
    project_factory: Any, storage: str
) -> None:
    # Redis on a port where nothing listens: immediate mode never connects.
    project = project_factory(storage, "redis://127.0.0.1:9/0")
    code = (
        "from orders.tasks import add, process_order\n"
        "from orders.models import Order\n"
        "from huey.contrib.djhuey import HUEY\n"
        "order = Order.objects.create(customer='dev', total=1)\n"
        "print(HUEY.immediate, type(HUEY.storage).__name__, add(2, 3).get(),"
        " process_order(order.pk).get())\n"
    )
    done = project.manage("shell", "-v", "0", "-c", code, env={"SHOP_DEBUG": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["True", "MemoryStorage", "5", "processed"]
