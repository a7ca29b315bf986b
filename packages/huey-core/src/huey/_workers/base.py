"""The worker-pool plugin contract, the settings every pool receives, and pool discovery."""

from __future__ import annotations

import abc
import importlib.util
import signal
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, ClassVar

from huey.exceptions import ConfigurationError

if TYPE_CHECKING:
    from huey.api import Huey

ENTRY_POINT_GROUP = "huey.workers"

# How long a pool waits, after interrupting its workers, before it ends them by force.
INTERRUPT_GRACE = 3.0


class WorkerInterrupted(BaseException):
    """Raised inside a task body to interrupt it (consumer stopping with SIGTERM).

    A BaseException, so neither ``Huey.execute`` nor a task's ``except Exception`` swallows it:
    the task stays in the in-flight set and ``notify_interrupted_tasks()`` reports it.
    """


# ``graceful_signal`` values: the signal that stops gracefully; the other one interrupts.
GRACEFUL_SIGNALS = ("INT", "TERM")


def shutdown_signals(graceful_signal: str) -> tuple[signal.Signals, signal.Signals]:
    """(graceful, interrupt) signals for a ``graceful_signal`` of ``"INT"`` or ``"TERM"``."""
    if graceful_signal == "TERM":
        return signal.SIGTERM, signal.SIGINT
    return signal.SIGINT, signal.SIGTERM


@dataclass(frozen=True)
class WorkerSettings:
    """What a pool needs to know to run its workers.

    ``graceful_signal`` (``-g``): pools whose workers are other processes make them ignore that
    signal (the consumer coordinates a graceful stop itself) and take the other one, SIGTERM or
    SIGINT, as "interrupt the running task": a supervisor signalling the whole process group
    then gets the same behaviour as one signalling the consumer alone.

    ``max_tasks`` (``-M``): a worker that has run this many tasks ends once the last one is
    recorded, and the health check starts its replacement (None: workers run until stopped).
    """

    workers: int = 1
    initial_delay: float = 0.1
    backoff: float = 1.15
    max_delay: float = 10.0
    graceful_signal: str = "INT"
    max_tasks: int | None = None


class WorkerPool(abc.ABC):
    """A set of ``settings.workers`` workers of one kind taking tasks from one Huey.

    Every method is called by the consumer's supervisor from a single thread, never
    concurrently. See the ``huey._workers`` docstring for the contract.
    """

    worker_type: ClassVar[str] = ""
    # False when workers run in other processes (they see a copy of in-memory state).
    shares_memory: ClassVar[bool] = True
    # True when the pool honours ``settings.max_tasks``; the consumer refuses it otherwise.
    supports_max_tasks: ClassVar[bool] = False

    def __init__(self, huey: Huey, settings: WorkerSettings) -> None:
        self.huey = huey
        self.settings = settings

    @classmethod
    def setup_process(cls) -> None:
        """Prepare the interpreter; ``huey_consumer`` calls it before importing the application."""
        return None

    @abc.abstractmethod
    def start(self) -> None:
        """Start the workers and return at once."""

    @abc.abstractmethod
    def alive(self) -> int:
        """How many workers are running."""

    @abc.abstractmethod
    def check_health(self) -> int:
        """Replace workers that ended (died, or recycled after ``settings.max_tasks`` tasks);
        the number replaced. Never called once stopping."""

    @abc.abstractmethod
    def request_stop(self) -> None:
        """Take no new task; running tasks finish. Returns at once."""

    @abc.abstractmethod
    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for every worker to end; True when all have."""

    @abc.abstractmethod
    def interrupt(self, grace: float = INTERRUPT_GRACE) -> None:
        """Interrupt running tasks now and end the workers.

        ``SIGNAL_INTERRUPTED`` is sent for each interrupted task in the process where it ran.
        Workers still running after ``grace`` seconds are ended by force.
        """

    def describe(self) -> str:
        return f"{self.settings.workers} x {self.worker_type}"


# Worker types documented here whose code is in another distribution, or that need an optional
# dependency: what to install, for the message when one is asked for and cannot be used.
_INSTALL_HINTS = {
    "asyncio": "the huey-asyncio distribution, which is not installed: pip install huey-asyncio "
    "(from a checkout of this project: pip install ./packages/huey-asyncio)",
    "greenlet": "gevent, which is not installed: pip install 'huey-core[gevent]'",
}
# Worker types registered by huey-core that cannot run without a module (the gevent extra).
_NEEDS_MODULE = {"greenlet": "gevent"}


def _usable(name: str) -> bool:
    module = _NEEDS_MODULE.get(name)
    return module is None or importlib.util.find_spec(module) is not None


def worker_types() -> list[str]:
    """Names of the installed worker types that can run (``greenlet`` once gevent is there)."""
    names = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(name for name in names if _usable(name))


def missing_worker_type(name: str) -> str | None:
    """What to install to use worker type ``name``, when it is a known one that cannot run."""
    hint = _INSTALL_HINTS.get(name)
    if hint is None or name in worker_types():
        return None
    return f"worker type {name!r} needs {hint}"


def load_worker_type(name: str | type[WorkerPool]) -> type[WorkerPool]:
    """The pool class registered as ``name`` in the ``huey.workers`` entry-point group."""
    if isinstance(name, type):
        if not issubclass(name, WorkerPool):
            raise ConfigurationError(f"{name!r} is not a WorkerPool subclass")
        return name
    missing = missing_worker_type(name)
    if missing is not None:
        raise ConfigurationError(missing)
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = ", ".join(worker_types()) or "none"
        raise ConfigurationError(f"unknown worker type {name!r} (installed: {known})")
    pool_class = found[0].load()
    if not (isinstance(pool_class, type) and issubclass(pool_class, WorkerPool)):
        raise ConfigurationError(f"worker type {name!r} does not name a WorkerPool subclass")
    return pool_class
