"""The consumer's options: ``ConsumerConfig`` (values, validation, logging) and the
command-line parser shared by ``huey_consumer`` and framework integrations.

An entry script of your own can do what huey's ``huey_consumer`` does::

    parser = OptionParserHandler().get_option_parser()  # an optparse parser, as in huey
    options, args = parser.parse_args()
    config = ConsumerConfig(**{k: v for k, v in vars(options).items() if v is not None})
    config.validate()
    config.setup_logger()
    load_my_huey(args[0]).create_consumer(**config.values).run()

A framework command (Django's ``run_huey``) reuses the argparse form::

    handler = OptionParserHandler()
    handler.add_arguments(parser, rename={"verbose": ("-V", "--huey-verbose")})
    ...
    config = handler.config_from_namespace(options, defaults=settings_consumer_dict)
    config.validate()
    config.setup_logger()
    huey.create_consumer(**config.values).run()
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import logging.handlers
import math
import optparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from huey._workers.base import GRACEFUL_SIGNALS
from huey.exceptions import ConfigurationError, ConsumerOptionError

LOG_FORMAT = "[%(asctime)s] %(levelname)s:%(name)s:%(process)d:%(threadName)s:%(message)s"
SIMPLE_LOG_FORMAT = "%(asctime)s %(message)s"  # -S/--simple, with the time as H:M:S.

# ConsumerConfig fields that configure logging rather than the Consumer.
_LOGGING_FIELDS = frozenset({"logfile", "verbose", "simple_log"})
# The options huey's parser lists under "Scheduler".
_SCHEDULER_FIELDS = frozenset({"scheduler_interval", "periodic", "utc"})


def lock_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Lock names from ``"a,b"`` or an iterable of names."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(name.strip() for name in value if name.strip())


@dataclass
class ConsumerConfig:
    """Every consumer option with its default; ``values`` are ``create_consumer()`` kwargs."""

    workers: int = 1
    worker_type: str = "thread"
    initial_delay: float = 0.1
    backoff: float = 1.15
    max_delay: float = 10.0
    periodic: bool = True
    check_worker_health: bool = True
    health_check_interval: float = 1.0
    scheduler_interval: float = 1.0
    utc: bool | None = None  # None: the Huey instance's own ``utc``.
    flush_locks: bool = False
    extra_locks: tuple[str, ...] = field(default_factory=tuple)
    max_tasks: int | None = None  # Recycle a worker after this many tasks; None or 0: never.
    shutdown_timeout: float | None = None  # None: a graceful stop waits for running tasks.
    graceful_signal: str = "INT"  # "INT" or "TERM" stops gracefully; the other one interrupts.
    logfile: str | None = None
    verbose: bool | None = None  # True: DEBUG; False: WARNING (quiet); None: INFO.
    simple_log: bool | None = None  # True: "H:M:S message" lines.

    def __post_init__(self) -> None:
        self.extra_locks = lock_names(self.extra_locks)
        if self.max_tasks == 0 and _is_int(self.max_tasks):
            self.max_tasks = None  # huey 3.5.4 reads 0 as "never": settings made for it still work.

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def validate(self) -> None:
        """Raise ConsumerOptionError (a ConfigurationError and a ValueError; one line, naming
        the option) for an unusable value."""
        from huey._workers import missing_worker_type, worker_types

        def check(ok: bool, option: str, rule: str, value: Any) -> None:
            if not ok:
                raise ConsumerOptionError(f"{option} {rule}, got {value!r}")

        check(
            _is_int(self.workers) and self.workers >= 1,
            "-w/--workers",
            "must be an integer >= 1",
            self.workers,
        )
        check(
            _is_number(self.initial_delay) and self.initial_delay > 0,
            "-d/--delay",
            "must be > 0",
            self.initial_delay,
        )
        check(
            _is_number(self.backoff) and self.backoff > 1,
            "-b/--backoff",
            "must be greater than 1",
            self.backoff,
        )
        check(
            _is_number(self.max_delay) and self.max_delay >= self.initial_delay,
            "-m/--max-delay",
            f"must be >= the initial delay ({self.initial_delay})",
            self.max_delay,
        )
        check(
            _is_number(self.scheduler_interval) and _divides_a_minute(self.scheduler_interval),
            "-s/--scheduler-interval",
            "must divide 60 seconds evenly (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60 or a "
            "fraction such as 0.5)",
            self.scheduler_interval,
        )
        check(
            _is_number(self.health_check_interval) and self.health_check_interval > 0,
            "-c/--health-check-interval",
            "must be > 0",
            self.health_check_interval,
        )
        check(
            self.shutdown_timeout is None
            or (_is_number(self.shutdown_timeout) and self.shutdown_timeout >= 0),
            "-t/--shutdown-timeout",
            "must be >= 0",
            self.shutdown_timeout,
        )
        check(
            self.max_tasks is None or (_is_int(self.max_tasks) and self.max_tasks >= 1),
            "-M/--max-tasks",
            "must be an integer >= 1 (or 0 or None: never recycle workers)",
            self.max_tasks,
        )
        if self.max_tasks is not None and not self.check_worker_health:
            # The health check is what starts a recycled worker's replacement.
            raise ConsumerOptionError(
                "-M/--max-tasks needs the worker health check, which replaces recycled "
                "workers; it is disabled (-C/--disable-health-check, check_worker_health=False)"
            )
        check(
            self.graceful_signal in GRACEFUL_SIGNALS,
            "-g/--graceful-signal",
            "must be INT or TERM",
            self.graceful_signal,
        )
        if isinstance(self.worker_type, str):
            missing = missing_worker_type(self.worker_type)
            if missing is not None:
                raise ConsumerOptionError(f"-k/--worker-type: {missing}")
            installed = worker_types()
            check(
                self.worker_type in installed,
                "-k/--worker-type",
                f"must be one of the installed worker types ({', '.join(installed)})",
                self.worker_type,
            )

    @property
    def values(self) -> dict[str, Any]:
        """Keyword arguments for ``Huey.create_consumer()`` / ``Consumer``."""
        return {
            name: getattr(self, name) for name in self.option_names() if name not in _LOGGING_FIELDS
        }

    @property
    def loglevel(self) -> int:
        if self.verbose is None:
            return logging.INFO
        return logging.DEBUG if self.verbose else logging.WARNING

    def setup_logger(self, logger: logging.Logger | None = None) -> None:
        """Send huey's log (the ``huey`` logger and below) to ``logfile`` or stderr."""
        logger = logger or logging.getLogger("huey")
        logger.setLevel(self.loglevel)
        for handler in [h for h in logger.handlers if getattr(h, "_huey_consumer", False)]:
            logger.removeHandler(handler)
            handler.close()
        new: logging.Handler
        if self.logfile:
            new = logging.handlers.WatchedFileHandler(self.logfile)  # Survives logrotate.
        else:
            new = logging.StreamHandler(sys.stderr)
        if self.simple_log:
            new.setFormatter(logging.Formatter(SIMPLE_LOG_FORMAT, "%H:%M:%S"))
        else:
            new.setFormatter(logging.Formatter(LOG_FORMAT))
        setattr(new, "_huey_consumer", True)  # noqa: B010 - marks the handler we own
        logger.addHandler(new)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _divides_a_minute(seconds: float) -> bool:
    """0 < seconds <= 60 and a whole number of them make a minute: every minute's periodic
    check then falls on a tick. Float-tolerant, so 0.1 counts."""
    if not 0 < seconds <= 60:
        return False
    return math.isclose(round(60 / seconds) * seconds, 60, rel_tol=1e-9)


@dataclass(frozen=True)
class ConsumerOption:
    """One command-line option: ``parser.add_argument(*flags, **kwargs)``."""

    flags: tuple[str, ...]
    kwargs: dict[str, Any]

    @property
    def dest(self) -> str:
        return str(self.kwargs["dest"])


def _option(*flags: str, **kwargs: Any) -> ConsumerOption:
    kwargs.setdefault("default", None)  # None means "not given": defaults live in ConsumerConfig.
    return ConsumerOption(flags, kwargs)


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class VersionAction(argparse.Action):
    """``--version``: huey-core's version, then each installed add-on's, one per line."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> NoReturn:
        from huey._plugins import installed_versions

        # Not argparse's "version" action: it would run the lines together.
        sys.stdout.write("".join(f"{name} {version}\n" for name, version in installed_versions()))
        parser.exit()


class OptionParserHandler:
    """The consumer's command-line options, for ``huey_consumer`` and framework commands."""

    def get_options(self) -> list[ConsumerOption]:
        from huey._workers import worker_types

        d = ConsumerConfig()
        return [
            _option("-l", "--logfile", dest="logfile", metavar="PATH",
                    help="append the log to PATH (reopened after rotation) instead of stderr"),
            _option("-v", "--verbose", dest="verbose", action="store_const", const=True,
                    help="log at DEBUG level"),
            _option("-q", "--quiet", dest="verbose", action="store_const", const=False,
                    help="log only warnings and errors (level WARNING)"),
            _option("-S", "--simple", dest="simple_log", action="store_const", const=True,
                    help="simple log lines: the time (H:M:S) and the message"),
            _option("-w", "--workers", dest="workers", type=int, metavar="N",
                    help=f"number of workers (default {d.workers})"),
            _option("-k", "--worker-type", dest="worker_type", metavar="TYPE",
                    help=f"worker type: {', '.join(worker_types())} (default {d.worker_type})"),
            _option("-n", "--no-periodic", dest="periodic", action="store_const", const=False,
                    help="do not enqueue periodic tasks from this consumer"),
            _option("-d", "--delay", dest="initial_delay", type=float, metavar="SECONDS",
                    help="first polling interval when the queue is empty, for storages that "
                    f"cannot block (default {d.initial_delay})"),
            _option("-m", "--max-delay", dest="max_delay", type=float, metavar="SECONDS",
                    help=f"longest polling interval (default {d.max_delay})"),
            _option("-b", "--backoff", dest="backoff", type=float, metavar="FACTOR",
                    help="multiply the polling interval by FACTOR (> 1) after each empty poll; "
                    f"a task resets it (default {d.backoff})"),
            _option("-c", "--health-check-interval", dest="health_check_interval", type=float,
                    metavar="SECONDS",
                    help="how often to check workers and restart dead ones "
                    f"(default {d.health_check_interval})"),
            _option("-C", "--disable-health-check", dest="check_worker_health",
                    action="store_const", const=False, help="do not restart dead workers"),
            _option("-s", "--scheduler-interval", dest="scheduler_interval", type=float,
                    metavar="SECONDS",
                    help="how often to move due scheduled tasks to the queue; divides 60 "
                    f"(default {d.scheduler_interval})"),
            _option("-u", "--utc", dest="utc", action="store_const", const=True,
                    help="run crontabs of periodic tasks on UTC (the default, unless the Huey "
                    "instance has utc=False)"),
            _option("-o", "--localtime", dest="utc", action="store_const", const=False,
                    help="run crontabs of periodic tasks on local time"),
            _option("-f", "--flush-locks", dest="flush_locks", action="store_const", const=True,
                    help="at startup, clear task locks declared with @huey.lock_task() (left "
                    "behind by a consumer that was killed)"),
            _option("-L", "--extra-locks", dest="extra_locks", metavar="NAMES",
                    help="comma-separated names of more locks to clear at startup (implies -f)"),
            _option("-M", "--max-tasks", dest="max_tasks", type=int, metavar="COUNT",
                    help="recycle a worker after it has executed COUNT tasks: it ends once the "
                    "last one is recorded and the health check starts a new one (process "
                    "workers: returns leaked memory; needs the health check, not -C)"),
            _option("-t", "--shutdown-timeout", dest="shutdown_timeout", type=float,
                    metavar="SECONDS",
                    help="on a graceful stop, wait at most SECONDS for running tasks, then "
                    "interrupt them (default: wait until they finish)"),
            _option("-g", "--graceful-signal", dest="graceful_signal", choices=GRACEFUL_SIGNALS,
                    metavar="INT|TERM",
                    help="the signal that stops gracefully; the other of INT and TERM interrupts "
                    "running tasks (default INT; TERM suits supervisors such as systemd, "
                    "Docker or Kubernetes)"),
        ]  # fmt: skip

    def add_arguments(
        self,
        parser: argparse.ArgumentParser,
        rename: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Add every consumer option to ``parser``; ``rename`` maps a long flag's name (e.g.
        ``"verbose"``) to replacement flags, for frameworks whose own options clash."""
        rename = rename or {}
        for option in self.get_options():
            long_name = option.flags[-1].lstrip("-")
            flags = tuple(rename.get(long_name, option.flags))
            parser.add_argument(*flags, **option.kwargs)

    def get_argument_parser(self) -> argparse.ArgumentParser:
        """``huey_consumer``'s argparse parser: the import path and every option."""
        parser = OneLineErrorParser(
            prog="huey_consumer",
            description="Run a consumer for a Huey instance: workers execute its tasks, a "
            "scheduler enqueues scheduled and periodic ones. SIGINT stops gracefully (a second "
            "SIGINT forces), SIGTERM interrupts running tasks (-g TERM swaps the two), SIGHUP "
            "restarts the workers.",
        )
        parser.add_argument(
            "import_path",
            metavar="path.to.huey_instance",
            help="dotted path of the Huey instance, e.g. myapp.tasks.huey (the current "
            "directory is importable)",
        )
        parser.add_argument(
            "--version",
            action=VersionAction,
            help="print the versions of huey-core and of the add-ons installed with it, and exit",
        )
        self.add_arguments(parser)
        return parser

    def get_option_parser(self) -> optparse.OptionParser:
        """The options as huey's ``optparse`` parser: ``parse_args()`` returns ``(options,
        args)``, ``args`` holding the import path; options not given are None."""
        parser = optparse.OptionParser("Usage: %prog [options] path.to.huey_instance")
        for short, long, kwargs in self._optparse_options(self.get_options()):
            parser.add_option(short, long, **kwargs)
        return parser

    def get_logging_options(self) -> list[tuple[str, str, dict[str, Any]]]:
        """huey's logging group: ``(short flag, long flag, optparse keywords)`` triples."""
        return self._optparse_options(self._group(_LOGGING_FIELDS))

    def get_scheduler_options(self) -> list[tuple[str, str, dict[str, Any]]]:
        """huey's scheduler group: ``(short flag, long flag, optparse keywords)`` triples."""
        return self._optparse_options(self._group(_SCHEDULER_FIELDS))

    def get_worker_options(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every other option (workers, polling, health checks, locks, shutdown), as triples."""
        return self._optparse_options(self._group(_LOGGING_FIELDS | _SCHEDULER_FIELDS, False))

    def _group(self, dests: frozenset[str], inside: bool = True) -> list[ConsumerOption]:
        return [o for o in self.get_options() if (o.dest in dests) == inside]

    @staticmethod
    def _optparse_options(
        options: Iterable[ConsumerOption],
    ) -> list[tuple[str, str, dict[str, Any]]]:
        # optparse names types by string, and wants choices as a list.
        types = {int: "int", float: "float"}
        triples = []
        for option in options:
            kwargs = dict(option.kwargs)
            if "type" in kwargs:
                kwargs["type"] = types[kwargs["type"]]
            if "choices" in kwargs:
                kwargs["choices"] = list(kwargs["choices"])
            short, long = option.flags
            triples.append((short, long, kwargs))
        return triples

    def config_from_namespace(
        self,
        namespace: argparse.Namespace | Mapping[str, Any],
        defaults: Mapping[str, Any] | None = None,
    ) -> ConsumerConfig:
        """A ConsumerConfig from parsed options; options not given fall back to ``defaults``
        (e.g. settings), then to ConsumerConfig's own defaults."""
        given = vars(namespace) if isinstance(namespace, argparse.Namespace) else dict(namespace)
        values: dict[str, Any] = dict(defaults or {})
        names = set(ConsumerConfig.option_names())
        values.update({k: v for k, v in given.items() if k in names and v is not None})
        if values.get("extra_locks"):
            values["flush_locks"] = True  # Naming locks to flush asks for flushing.
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigurationError(f"unknown consumer options: {', '.join(unknown)}")
        return ConsumerConfig(**values)

    def parse_args(self, argv: Sequence[str] | None = None) -> tuple[str, ConsumerConfig]:
        """Parse ``huey_consumer``'s arguments; invalid ones exit with status 2."""
        parser = self.get_argument_parser()
        namespace = parser.parse_args(argv)
        try:
            config = self.config_from_namespace(namespace)
            config.validate()
        except ConfigurationError as exc:
            parser.error(str(exc))
        return namespace.import_path, config
