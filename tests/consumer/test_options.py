"""Consumer options: ConsumerConfig, OptionParserHandler, and the command's argument errors."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest
from consumer_support import HERE, run_cli

from huey import MemoryHuey
from huey.consumer_options import ConsumerConfig, OptionParserHandler
from huey.exceptions import ConfigurationError

ALL_FLAGS = [
    ("-l", "--logfile"),
    ("-v", "--verbose"),
    ("-q", "--quiet"),
    ("-w", "--workers"),
    ("-k", "--worker-type"),
    ("-n", "--no-periodic"),
    ("-d", "--delay"),
    ("-m", "--max-delay"),
    ("-b", "--backoff"),
    ("-c", "--health-check-interval"),
    ("-C", "--disable-health-check"),
    ("-s", "--scheduler-interval"),
    ("-u", "--utc"),
    ("-o", "--localtime"),
    ("-f", "--flush-locks"),
    ("-L", "--extra-locks"),
    ("-M", "--max-tasks"),
    ("-t", "--shutdown-timeout"),
    ("-g", "--graceful-signal"),
    ("-S", "--simple"),
]


def parse(*argv: str) -> ConsumerConfig:
    return OptionParserHandler().parse_args(["app.huey", *argv])[1]


def test_defaults_are_the_documented_ones() -> None:
    config = parse()
    assert config.values == {
        "workers": 1,
        "worker_type": "thread",
        "initial_delay": 0.1,
        "backoff": 1.15,
        "max_delay": 10.0,
        "periodic": True,
        "check_worker_health": True,
        "health_check_interval": 1.0,
        "scheduler_interval": 1.0,
        "utc": None,
        "flush_locks": False,
        "extra_locks": (),
        "max_tasks": None,
        "shutdown_timeout": None,
        "graceful_signal": "INT",
    }
    assert config.loglevel == logging.INFO


def test_every_option_parses_into_consumer_kwargs() -> None:
    config = parse(
        *("-w", "8", "-k", "process", "-n", "-d", "0.5", "-m", "2", "-b", "1.05"),
        *("-c", "3", "-C", "-s", "30", "-o", "-L", "a, b", "-t", "7", "-l", "x.log", "-v"),
        *("-g", "TERM", "-S"),
    )
    assert config.values == {
        "workers": 8,
        "worker_type": "process",
        "initial_delay": 0.5,
        "backoff": 1.05,
        "max_delay": 2.0,
        "periodic": False,
        "check_worker_health": False,
        "health_check_interval": 3.0,
        "scheduler_interval": 30.0,
        "utc": False,
        "flush_locks": True,  # -L implies -f
        "extra_locks": ("a", "b"),
        "max_tasks": None,  # -M needs the health check, which -C turns off.
        "shutdown_timeout": 7.0,
        "graceful_signal": "TERM",
    }
    assert config.simple_log is True
    assert config.logfile == "x.log"
    assert config.loglevel == logging.DEBUG
    assert parse("-q").loglevel == logging.WARNING  # huey 3.5.4's "minimal logging"
    assert parse("-u").utc is True
    assert parse("-f").flush_locks is True


def test_values_create_a_consumer() -> None:
    huey = MemoryHuey("options")
    consumer = huey.create_consumer(**parse("-w", "3", "-k", "greenlet", "-n").values)
    assert consumer.settings.workers == 3
    assert consumer.pool_class.worker_type == "greenlet"
    assert consumer.scheduler.periodic is False


def test_max_tasks_reaches_the_consumer_and_its_workers() -> None:
    consumer = MemoryHuey("recycle").create_consumer(**parse("-M", "100", "-w", "2").values)
    assert consumer.max_tasks == 100
    assert consumer.settings.max_tasks == 100
    assert MemoryHuey("forever").create_consumer().max_tasks is None
    # 0 means never, as in huey 3.5.4 (settings written for it keep working), with or without
    # the health check.
    for args in (["-M", "0"], ["-M", "0", "-C"]):
        never = MemoryHuey("zero").create_consumer(**parse(*args).values)
        assert never.max_tasks is None and never.settings.max_tasks is None
    # huey's positional order: ..., extra_locks, max_tasks, shutdown_timeout, graceful_signal.
    from huey.consumer import Consumer

    positional = Consumer(
        MemoryHuey("positional"), 1, True, 0.1, 1.15, 10.0, 1, "thread", True, 1, False, None,
        7, 2.5, "TERM",
    )  # fmt: skip
    assert (positional.max_tasks, positional.shutdown_timeout, positional.graceful_signal) == (
        7,
        2.5,
        "TERM",
    )


def test_a_framework_command_reuses_the_options_with_renames_and_settings() -> None:
    # What the Django management command does: its own parser, -v renamed, settings as
    # defaults that the command line overrides.
    parser = argparse.ArgumentParser(prog="manage.py run_huey")
    parser.add_argument("-v", "--verbosity", type=int, default=1)
    handler = OptionParserHandler()
    handler.add_arguments(parser, rename={"verbose": ("-V", "--huey-verbose")})
    assert {o.dest for o in handler.get_options()} <= set(ConsumerConfig.option_names())
    namespace = parser.parse_args(["-v", "2", "-V", "-w", "4"])
    config = handler.config_from_namespace(
        namespace, defaults={"workers": 2, "worker_type": "greenlet", "periodic": False}
    )
    assert (config.workers, config.worker_type, config.periodic) == (4, "greenlet", False)
    assert config.verbose is True
    with pytest.raises(ConfigurationError, match="unknown consumer options: blocking"):
        handler.config_from_namespace({}, defaults={"blocking": True})


@pytest.mark.parametrize(
    ("values", "flag"),
    [
        ({"workers": 0}, "-w/--workers"),
        ({"backoff": 0.5}, "-b/--backoff"),
        ({"backoff": 1}, "-b/--backoff"),
        ({"initial_delay": 0}, "-d/--delay"),
        ({"initial_delay": 1.0, "max_delay": 0.5}, "-m/--max-delay"),
        ({"scheduler_interval": 0}, "-s/--scheduler-interval"),
        ({"scheduler_interval": 61}, "-s/--scheduler-interval"),
        ({"scheduler_interval": 7}, "-s/--scheduler-interval"),
        ({"scheduler_interval": 45}, "-s/--scheduler-interval"),
        ({"scheduler_interval": 0.7}, "-s/--scheduler-interval"),
        ({"graceful_signal": "HUP"}, "-g/--graceful-signal"),
        ({"graceful_signal": "int"}, "-g/--graceful-signal"),
        ({"health_check_interval": 0}, "-c/--health-check-interval"),
        ({"shutdown_timeout": -1}, "-t/--shutdown-timeout"),
        ({"worker_type": "fiber"}, "-k/--worker-type"),
        ({"max_tasks": -1}, "-M/--max-tasks"),
        ({"max_tasks": "x"}, "-M/--max-tasks"),
        ({"max_tasks": 2.5}, "-M/--max-tasks"),
        ({"max_tasks": 5, "check_worker_health": False}, "-M/--max-tasks needs the worker health"),
    ],
)
def test_invalid_values_are_refused_naming_the_option(values: dict, flag: str) -> None:
    with pytest.raises(ConfigurationError, match=flag):
        ConsumerConfig(**values).validate()
    with pytest.raises(ValueError, match=flag):  # What huey's validate() raises.
        ConsumerConfig(**values).validate()
    with pytest.raises(ConfigurationError, match=flag):  # The same check guards the API.
        MemoryHuey("invalid").create_consumer(**values)


@pytest.mark.parametrize("interval", [0.1, 0.5, 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60])
def test_scheduler_intervals_that_divide_a_minute_are_accepted(interval: float) -> None:
    ConsumerConfig(scheduler_interval=interval).validate()


def test_an_entry_script_uses_the_optparse_parser_as_with_huey() -> None:
    # huey's huey_consumer, copied into users' own scripts: optparse, (options, args).
    parser = OptionParserHandler().get_option_parser()
    options, args = parser.parse_args(["-w", "4", "-t", "2.5", "--graceful-signal=TERM", "a.huey"])
    assert args == ["a.huey"]
    given = {k: v for k, v in vars(options).items() if v is not None}
    assert given == {"workers": 4, "shutdown_timeout": 2.5, "graceful_signal": "TERM"}
    config = ConsumerConfig(**given)
    config.validate()
    consumer = MemoryHuey("script").create_consumer(**config.values)
    assert (consumer.workers, consumer.shutdown_timeout, consumer.graceful_signal) == (
        4,
        2.5,
        "TERM",
    )
    assert (consumer.default_delay, consumer.scheduler_interval, consumer.periodic) == (
        0.1,
        1.0,
        True,
    )
    assert MemoryHuey("default").create_consumer().graceful_signal == "INT"
    # Every option is there, in the same three groups as huey's parser.
    handler = OptionParserHandler()
    groups = [
        handler.get_logging_options(),
        handler.get_worker_options(),
        handler.get_scheduler_options(),
    ]
    flags = [(short, long) for group in groups for short, long, _ in group]
    assert sorted(flags) == sorted(ALL_FLAGS)
    assert ("-g", "--graceful-signal") in [(s, lo) for s, lo, _ in groups[1]]
    with pytest.raises(SystemExit):
        parser.parse_args(["-g", "HUP"])


def test_simple_log_format(tmp_path: Path) -> None:
    logfile = tmp_path / "huey.log"
    logger = logging.getLogger("huey.test-simple-log")
    logger.propagate = False
    ConsumerConfig(logfile=str(logfile), simple_log=True).setup_logger(logger)
    logger.info("hello")
    for handler in logger.handlers:
        handler.close()
    line = logfile.read_text().strip()
    # "HH:MM:SS hello": no level, logger name or process.
    assert line.endswith(" hello") and len(line) == len("00:00:00 hello")


def test_setup_logger_writes_to_the_logfile_at_the_chosen_level(tmp_path: Path) -> None:
    logfile = tmp_path / "huey.log"
    logger = logging.getLogger("huey.test-setup-logger")
    logger.propagate = False
    ConsumerConfig(logfile=str(logfile), verbose=False).setup_logger(logger)
    logger.info("not shown")
    logger.warning("a warning shown")
    logger.error("shown")
    ConsumerConfig(logfile=str(logfile)).setup_logger(logger)  # Replaces, not adds, a handler.
    logger.info("info now")
    assert len(logger.handlers) == 1
    text = logfile.read_text()
    assert "shown" in text and "a warning shown" in text and "not shown" not in text
    assert text.count("info now") == 1
    for handler in logger.handlers:
        handler.close()


# -- the command ---------------------------------------------------------------------------------
def test_help_documents_every_option() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for short, long in ALL_FLAGS:
        assert f"{short}" in result.stdout and long in result.stdout, long
    assert "path.to.huey_instance" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-w", "0"], "-w/--workers"),
        (["-w", "two"], "-w/--workers"),
        (["-b", "0.5"], "-b/--backoff"),
        (["-k", "fiber"], "-k/--worker-type"),
        (["-s", "0"], "-s/--scheduler-interval"),
        (["-d", "-1"], "-d/--delay"),
        (["-M", "-1"], "-M/--max-tasks must be an integer >= 1"),
        (["-M", "x"], "argument -M/--max-tasks: invalid int value: 'x'"),
        (["-M", "3", "-C"], "-M/--max-tasks needs the worker health check"),
        (["--bogus"], "unrecognized arguments"),
        ([], "path.to.huey_instance"),
    ],
)
def test_invalid_arguments_give_one_line_and_status_2(args: list[str], expected: str) -> None:
    result = run_cli(*args, *(["apps.basic.huey"] if args else []))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("huey_consumer: error:") and expected in lines[0]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("no_such_package.huey", "No module named 'no_such_package'"),
        ("apps.basic.missing", "has no attribute 'missing'"),
        ("apps.basic.build", "not a Huey instance"),
        ("huey", "not a dotted path"),
    ],
)
def test_an_import_path_that_fails_reports_and_exits_non_zero(path: str, expected: str) -> None:
    result = run_cli(path)
    assert result.returncode == 1
    assert expected in result.stderr


def test_an_error_inside_the_application_is_shown_with_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken_app.py").write_text("import json\nraise RuntimeError('bad config')\n")
    result = run_cli("broken_app.huey", cwd=tmp_path)  # The current directory is importable.
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: bad config" in result.stderr
    # From the application's first line: not the frames of huey_consumer and importlib above.
    assert result.stderr.splitlines()[1].startswith(f'  File "{tmp_path / "broken_app.py"}"')


def test_module_entry_point_runs_the_same_command() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "huey.bin.huey_consumer", "-w", "0", "apps.basic.huey"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "-w/--workers" in result.stderr


def test_version_prints_huey_core_then_the_installed_add_ons() -> None:
    import huey

    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"huey-core {huey.__version__}"
    names = [line.split()[0] for line in lines[1:]]
    # This environment has every distribution of the repository; each depends on huey-core.
    assert {"huey-sqlite", "huey-redis", "huey-asyncio", "huey-django"} <= set(names)
    assert names == sorted(names)


def test_greenlet_without_gevent_names_the_extra_to_install() -> None:
    import subprocess
    import sys

    # gevent made unimportable in this process only, as in an environment without it.
    code = (
        "import sys; sys.modules['gevent'] = None\n"
        "from huey._workers import worker_types\n"
        "print(' '.join(worker_types()))\n"
        "from huey.bin.huey_consumer import main\n"
        "sys.exit(main(['-k', 'greenlet', 'apps.basic.huey']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "greenlet" not in result.stdout.split() and "thread" in result.stdout.split()
    (line,) = result.stderr.strip().splitlines()
    assert "-k/--worker-type: worker type 'greenlet' needs gevent" in line
    assert "pip install 'huey-core[gevent]'" in line
