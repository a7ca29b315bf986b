"""Fault injection with real processes: SIGKILLed consumers and a Redis server killed mid-run.

``hatch run chaos --backend sqlite|redis --workers 4 --worker-type thread|process --consumers 1
--tasks 2000 --kills 5 [--redis-restarts 1] [--delivery at-least-once|at-most-once]``

Enqueues ``--tasks`` tasks of ``chaos_app`` (each appends a line to a run log, sleeps a few
milliseconds and returns its index), starts real ``huey_consumer`` processes, SIGKILLs a
consumer's whole process group at random moments and starts it again, optionally kills the Redis
server (persisted: ``appendonly yes``, ``appendfsync always``) and restarts it on the same port,
waits until the queue, the leases and the schedule are empty, and prints what happened. The
library side is ``run_chaos(ChaosConfig(...)) -> ChaosReport``; ``tests/faults`` uses it.

How duplicates are bounded: a worker runs one task at a time and acknowledges it before it takes
the next, so what a killed consumer had in flight is at most each worker's latest run (and at
most the leases left in the storage). The run log orders everything: every re-run of a task must
follow a fault that had the task's previous run in flight, or it is reported as unexplained.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(HERE) not in sys.path:  # ``chaos_app`` under the name the consumers give it.
    sys.path.insert(0, str(HERE))

import chaos_app  # noqa: E402

from huey.exceptions import TaskException  # noqa: E402

AT_LEAST_ONCE = "at-least-once"  # The values of Huey(delivery=...).
AT_MOST_ONCE = "at-most-once"

CONSUMER_SCRIPT = Path(sys.executable).parent / "huey_consumer"
# Quick polling, worker health checks and scheduler ticks: a restarted consumer is busy at once.
CONSUMER_OPTIONS = ["-d", "0.01", "-m", "0.1", "-c", "0.2", "-s", "0.2"]
GAP = (0.1, 0.6)  # Seconds between a consumer being up and the next fault.
START_TIMEOUT = 60.0


class ChaosError(Exception):
    """The harness could not do its job (a consumer that does not start, a run that does not
    drain in time is reported instead)."""


@dataclasses.dataclass(frozen=True)
class ChaosConfig:
    backend: str = "sqlite"
    workers: int = 4
    worker_type: str = "thread"
    consumers: int = 1
    tasks: int = 2000
    kills: int = 5
    redis_restarts: int = 0
    delivery: str = AT_LEAST_ONCE
    visibility_timeout: float = 2.0
    #: None: one more than the faults planned (and at least 5), so no task is dead-lettered for
    #: being in flight at every fault.
    max_deliveries: int | None = None
    task_seconds: float = 0.005
    #: Task 0 runs this long and the first kill lands while it runs: a kill mid-task every run.
    long_task_seconds: float = 2.0
    #: Tasks that SIGKILL their own worker process on every delivery (process workers).
    poison: int = 0
    seed: int | None = None
    #: Give up waiting for the queue to drain after this many seconds (reported, not raised).
    timeout: float = 300.0
    #: Keep the database, run log and consumer logs here (a removed temporary directory if None).
    directory: Path | None = None

    @property
    def faults(self) -> int:
        return self.kills + self.redis_restarts

    @property
    def effective_max_deliveries(self) -> int:
        return self.max_deliveries or max(5, self.faults + 1)


@dataclasses.dataclass(frozen=True)
class Run:
    """One ``run`` line of the run log: a task's body began."""

    position: int  # Line number in the run log: the order of everything.
    index: int
    incarnation: str
    slot: tuple[str, str]  # (pid, thread): one worker, which runs one task at a time.


@dataclasses.dataclass(frozen=True)
class Fault:
    number: int
    kind: str  # "kill", "exit" (a consumer that died by itself) or "redis-restart"
    position: int  # Its marker in the run log: after the kill, or before the server goes down.
    #: Positions of the runs that may have been in flight (see the module's docstring).
    candidates: frozenset[int]
    #: At most this many tasks were in flight: the candidates, capped by the leases left.
    in_flight: int
    #: Tasks certainly cut off mid-run: a candidate without an outcome once the group was dead.
    interrupted: tuple[int, ...]
    incarnation: str = ""


@dataclasses.dataclass(frozen=True)
class Letter:
    index: int | None
    name: str | None
    deliveries: int
    reason: str


@dataclasses.dataclass(frozen=True)
class ChaosReport:
    config: ChaosConfig
    max_deliveries: int
    kills: int
    redis_restarts: int
    unexpected_exits: int
    results: int  # Tasks whose result is stored.
    lost: list[int]  # Tasks without a result.
    wrong: list[int]  # Tasks whose result is not what they return.
    failed: dict[int, str]  # Tasks whose result is an error (their bodies cannot fail).
    run_counts: dict[int, int]  # Task -> runs (ordinary tasks; the poison ones apart).
    poison_runs: dict[int, int]
    duplicated: int  # Runs beyond one per task.
    bound: int  # Sum of the tasks in flight at each fault.
    ceiling: int  # workers x kills (+ workers x consumers x Redis restarts).
    unexplained: list[tuple[int, int, int]]  # (task, run position, next run position)
    interrupted: list[int]
    dead_letters: list[Letter]
    faults: list[Fault]
    drained: bool
    stopped_cleanly: bool
    wall_time: float
    directory: Path

    @property
    def tasks(self) -> int:
        return self.config.tasks

    @property
    def runs(self) -> int:
        return sum(self.run_counts.values())

    def accounting_errors(self) -> list[str]:
        """What does not add up between the figures (empty when they all do)."""
        errors = []
        if self.results + len(self.lost) != self.tasks:
            errors.append(f"results {self.results} + lost {len(self.lost)} != {self.tasks}")
        ran = sum(1 for count in self.run_counts.values() if count)
        if self.duplicated != self.runs - ran:
            errors.append(f"duplicated {self.duplicated} != runs {self.runs} - tasks run {ran}")
        if len(self.unexplained) > self.duplicated:
            errors.append("more unexplained duplicates than duplicates")
        return errors

    def problems(self) -> list[str]:
        """Broken guarantees: loss, wrong results, unexplained duplicates (at-least-once), a
        poison task not dead-lettered, a run that did not drain. Empty when all held."""
        problems = self.accounting_errors()
        if not self.drained:
            problems.append(f"the queue did not drain within {self.config.timeout:g} s")
        if self.wrong:
            problems.append(f"wrong results for tasks {self.wrong[:20]}")
        if self.failed:
            problems.append(
                f"tasks with an error as their result: {dict(list(self.failed.items())[:5])}"
            )
        if self.config.delivery == AT_LEAST_ONCE:
            if self.lost:
                problems.append(f"lost tasks {self.lost[:20]}")
            if self.unexplained:
                problems.append(f"duplicates no fault explains: {self.unexplained[:20]}")
            if self.duplicated > self.bound:
                problems.append(f"duplicated {self.duplicated} > bound {self.bound}")
            buried = {letter.index for letter in self.dead_letters}
            if set(self.poison_runs) - buried:
                problems.append(f"poison tasks not dead-lettered: {set(self.poison_runs) - buried}")
        elif self.duplicated:
            problems.append(f"at-most-once ran {self.duplicated} tasks twice")
        return problems

    def format(self) -> str:
        c = self.config
        lines = [
            f"chaos run: {c.backend}, {c.consumers} consumer(s) x {c.workers} {c.worker_type} "
            f"workers, {c.delivery} (visibility_timeout {c.visibility_timeout:g} s, "
            f"max_deliveries {self.max_deliveries})",
            f"  tasks                {self.tasks}"
            + (f" (+{len(self.poison_runs)} poison)" if self.poison_runs else ""),
            f"  kills                {self.kills}",
            f"  redis restarts       {self.redis_restarts}",
            f"  results present      {self.results}",
            f"  lost (no result)     {len(self.lost)}",
            f"  runs                 {self.runs}",
            f"  duplicated           {self.duplicated}   (runs beyond one per task)",
            f"  in flight at faults  {self.bound}   (the bound on duplicates; "
            f"at most workers x faults = {self.ceiling})",
            f"  unexplained dups     {len(self.unexplained)}",
            f"  interrupted mid-run  {len(self.interrupted)}",
            f"  dead letters         {len(self.dead_letters)}",
            f"  wall time            {self.wall_time:.1f} s",
        ]
        if self.unexpected_exits:
            lines.append(f"  unexpected exits     {self.unexpected_exits}")
        if self.wrong:
            lines.append(f"  wrong results        {len(self.wrong)}")
        if self.failed:
            lines.append(f"  error results        {len(self.failed)}")
        for letter in self.dead_letters:
            lines.append(f"  dead letter: task {letter.index} ({letter.name}): {letter.reason}")
        if c.delivery == AT_MOST_ONCE and self.lost:
            lines.append("  (at-most-once: a task taken off the queue dies with its consumer)")
        lines += [f"  PROBLEM: {problem}" for problem in self.problems()]
        return "\n".join(lines)


# -- the run log ---------------------------------------------------------------------------------
class RunLog:
    """The run log, read incrementally; ``lines`` are its lines split into words."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[list[str]] = []
        self._offset = 0
        self._partial = b""

    def append(self, *words: object) -> int:
        """Append a line; its position."""
        marker = [str(word) for word in words]
        chaos_app.append_line(str(self.path), *marker)
        for position in range(len(self.refresh()) - 1, -1, -1):
            if self.lines[position] == marker:
                return position
        raise ChaosError(f"marker {marker} not found in {self.path}")

    def refresh(self) -> list[list[str]]:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return self.lines
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        self.lines += [line.decode().split() for line in complete]
        return self.lines

    def runs(self, until: int | None = None) -> list[Run]:
        lines = self.refresh()[:until]
        return [
            Run(position, int(words[1]), words[2], (words[3], words[4]))
            for position, words in enumerate(lines)
            if words[0] == "run"
        ]

    def workers_up(self, incarnation: str) -> int:
        return sum(1 for words in self.refresh() if words[:2] == ["up", incarnation])


def latest_per_slot(runs: list[Run], incarnations: set[str]) -> dict[tuple[str, str], Run]:
    """Each worker's latest run, for the workers of ``incarnations``."""
    latest: dict[tuple[str, str], Run] = {}
    for run in runs:
        if run.incarnation in incarnations:
            latest[run.slot] = run
    return latest


def unexplained_duplicates(
    runs: list[Run], faults: list[Fault], excluded: set[int]
) -> list[tuple[int, int, int]]:
    """Each re-run of a task whose previous run no earlier fault had in flight, as
    ``(task, previous run's position, re-run's position)``."""
    by_task: dict[int, list[Run]] = {}
    for run in runs:
        if run.index not in excluded:
            by_task.setdefault(run.index, []).append(run)
    found = []
    for index, task_runs in sorted(by_task.items()):
        for previous, rerun in itertools.pairwise(task_runs):
            if not any(
                previous.position in fault.candidates and fault.position < rerun.position
                for fault in faults
            ):
                found.append((index, previous.position, rerun.position))
    return found


# -- consumers -----------------------------------------------------------------------------------
@dataclasses.dataclass
class Consumer:
    slot: int
    incarnation: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def log_tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` can still run (zombies cannot write a line)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # After "pid (comm) ": state ppid pgrp.
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


class Fleet:
    """``consumers`` real ``huey_consumer`` processes, each the leader of its process group."""

    def __init__(
        self, config: ChaosConfig, settings: chaos_app.Settings, directory: Path, log: RunLog
    ) -> None:
        if not CONSUMER_SCRIPT.exists():
            raise ChaosError(f"{CONSUMER_SCRIPT} not found: is huey-core installed here?")
        self.config = config
        self.settings = settings
        self.directory = directory
        self.run_log = log
        self.consumers: list[Consumer] = []
        self._incarnations = 0

    def start(self, slot: int) -> Consumer:
        self._incarnations += 1
        incarnation = str(self._incarnations)
        env = {
            **os.environ,
            chaos_app.SETTINGS_VARIABLE: self.settings.to_json(),
            chaos_app.INCARNATION_VARIABLE: incarnation,
            "PYTHONUNBUFFERED": "1",
        }
        log_path = self.directory / f"consumer-{slot}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - closed when the process is gone
        log.write(f"--- incarnation {incarnation}\n".encode())
        log.flush()
        command = [str(CONSUMER_SCRIPT), "chaos_app.huey", "-w", str(self.config.workers)]
        command += ["-k", self.config.worker_type, *CONSUMER_OPTIONS]
        process = subprocess.Popen(
            command,
            cwd=HERE,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Its own process group: one killpg takes its workers too.
        )
        consumer = Consumer(slot, incarnation, process, log_path, log)
        if slot < len(self.consumers):
            self.consumers[slot] = consumer
        else:
            self.consumers.append(consumer)
        return consumer

    def wait_up(self, consumer: Consumer) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while self.run_log.workers_up(consumer.incarnation) < self.config.workers:
            if consumer.process.poll() is not None:
                raise ChaosError(
                    f"consumer {consumer.slot} exited at start ({consumer.process.returncode}):"
                    f"\n{consumer.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ChaosError(f"consumer {consumer.slot} did not start:\n{consumer.log_tail()}")
            time.sleep(0.02)

    def kill(self, consumer: Consumer) -> None:
        """SIGKILL the consumer's whole process group; return once none of it can run."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(consumer.process.pid, signal.SIGKILL)
        self._reap(consumer)

    def _reap(self, consumer: Consumer) -> None:
        consumer.process.wait()
        deadline = time.monotonic() + 30
        while group_alive(consumer.process.pid):
            if time.monotonic() > deadline:
                raise ChaosError(f"process group {consumer.process.pid} survived SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(consumer.process.pid, signal.SIGKILL)  # Forked after the first one.
            time.sleep(0.01)
        consumer.log.close()

    def exited(self) -> list[Consumer]:
        """Consumers that died without being killed (their groups are made sure of)."""
        gone = [consumer for consumer in self.consumers if consumer.process.poll() is not None]
        for consumer in gone:
            self.kill(consumer)
        return gone

    def stop(self, timeout: float = 30) -> bool:
        """SIGINT every consumer (running tasks finish); False if one had to be killed."""
        for consumer in self.consumers:
            with contextlib.suppress(ProcessLookupError):
                consumer.process.send_signal(signal.SIGINT)
        clean = True
        for consumer in self.consumers:
            try:
                clean = consumer.process.wait(timeout) == 0 and clean
            except subprocess.TimeoutExpired:
                clean = False
            self.kill(consumer)
        return clean

    def kill_all(self) -> None:
        for consumer in self.consumers:
            if not consumer.log.closed:
                self.kill(consumer)


# -- the run -------------------------------------------------------------------------------------
@contextlib.contextmanager
def _redis_server() -> Iterator[Any]:
    """A private, persisted redis-server (``tests/redis_servers``), never on port 6379."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.append(str(ROOT / "tests"))
    from redis_servers import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        raise ChaosError("redis-server is not installed (it is needed for --backend redis)")
    server = RedisServer("appendonly yes", "appendfsync always")
    try:
        if server.port == chaos_app.SHARED_REDIS_PORT:
            raise ChaosError("got the shared Redis port")
        server.start()
        yield server
    finally:
        server.close()


class _Run:
    """The state of one chaos run between ``run_chaos``'s steps."""

    def __init__(self, config: ChaosConfig, directory: Path, location: str) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.run_log = RunLog(directory / "runs.log")
        self.settings = chaos_app.Settings(
            backend=config.backend,
            location=location,
            run_log=str(self.run_log.path),
            delivery=config.delivery,
            visibility_timeout=config.visibility_timeout,
            max_deliveries=config.effective_max_deliveries,
        )
        self.app = chaos_app.build(self.settings)
        self.fleet = Fleet(config, self.settings, directory, self.run_log)
        self.faults: list[Fault] = []
        self.ids: dict[int, str] = {}  # Task index -> task id.
        self.poison: set[int] = set()
        self.unexpected_exits = 0

    @property
    def leased(self) -> bool:
        return self.config.delivery == AT_LEAST_ONCE

    def enqueue(self) -> None:
        config = self.config
        work = self.app.work
        poison_at = {
            config.tasks * (k + 1) // (config.poison + 1): config.tasks + k
            for k in range(config.poison)
        }
        for index in range(config.tasks):
            if index in poison_at:
                self.poison.add(poison_at[index])
                self.ids[poison_at[index]] = self.app.poison(poison_at[index]).id
            seconds = config.long_task_seconds if index == 0 else config.task_seconds
            self.ids[index] = work(index, seconds).id
        # To match the task ids of the consumer logs with the run log's task indexes.
        (self.run_log.path.parent / "task-ids.json").write_text(json.dumps(self.ids))

    def has_result(self, index: int) -> bool:
        return self.app.huey.storage.has_data_for_key(self.ids[index])

    def lease_count(self) -> int:
        return self.app.huey.storage.lease_count() if self.leased else 0

    def pause(self, seconds: float) -> None:
        """Sleep, restarting consumers that die by themselves meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            self.revive()
            if time.monotonic() >= deadline:
                return
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def revive(self) -> None:
        for consumer in self.fleet.exited():
            self.unexpected_exits += 1
            self._record_death(consumer, "exit")
            self.fleet.wait_up(self.fleet.start(consumer.slot))

    def _record_death(self, consumer: Consumer, kind: str) -> None:
        number = len(self.faults) + 1
        position = self.run_log.append("fault", number, kind, consumer.incarnation)
        latest = latest_per_slot(self.run_log.runs(position), {consumer.incarnation})
        tasks = {run.index for run in latest.values()} - self.poison
        interrupted = tuple(sorted(index for index in tasks if not self.has_result(index)))
        # At-most-once redelivers nothing: what ran without an outcome is lost, not duplicated.
        in_flight = min(len(tasks), self.lease_count()) if self.leased else len(interrupted)
        candidates = frozenset(run.position for run in latest.values())
        self.faults.append(
            Fault(number, kind, position, candidates, in_flight, interrupted, consumer.incarnation)
        )

    def kill(self, targeted: bool) -> None:
        victim = self._long_task_runner() if targeted else None
        if victim is None:
            self.pause(self.rng.uniform(*GAP))
            victim = self.rng.choice(self.fleet.consumers)
        self.fleet.kill(victim)
        self._record_death(victim, "kill")
        self.fleet.wait_up(self.fleet.start(victim.slot))

    def _long_task_runner(self) -> Consumer | None:
        """The consumer running task 0 (the long one), once it runs; None if it already ran."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.has_result(0):
                return None
            current = {consumer.incarnation: consumer for consumer in self.fleet.consumers}
            for run in reversed(self.run_log.runs()):
                if run.index == 0 and run.incarnation in current:
                    # Well inside the task's run, so the kill lands mid-task.
                    self.pause(self.rng.uniform(0, self.config.long_task_seconds / 4))
                    return current[run.incarnation]
            self.pause(0.01)
        raise ChaosError("task 0 did not start")

    def restart_redis(self, server: Any) -> None:
        self.pause(self.rng.uniform(*GAP))
        number = len(self.faults) + 1
        live = {consumer.incarnation for consumer in self.fleet.consumers}
        down = self.run_log.append("fault", number, "redis-down")
        server.stop(kill=True)
        server.start()  # Same port, same directory: the append-only file is read back.
        up = self.run_log.append("fault", number, "redis-up")
        runs = [run for run in self.run_log.runs(up) if run.index not in self.poison]
        # A worker's latest run before the outage, and any it began during it (taken just
        # before): the previous one may have lost its acknowledgement to the outage.
        latest = latest_per_slot([run for run in runs if run.position < down], live)
        during = [run for run in runs if run.position > down]
        candidates = {run.position for run in [*latest.values(), *during]}
        # But each worker had one task in flight when the server died.
        workers = len({run.slot for run in [*latest.values(), *during]})
        in_flight = min(workers, self.lease_count()) if self.leased else workers
        self.faults.append(
            Fault(number, "redis-restart", down, frozenset(candidates), in_flight, ())
        )

    def drained(self) -> bool:
        storage = self.app.huey.storage
        try:
            return (
                storage.queue_size() == 0
                and storage.schedule_size() == 0
                and self.lease_count() == 0
            )
        except Exception:  # The server is coming back: not yet.
            return False

    def wait_drained(self, deadline: float) -> bool:
        while not self.drained():
            if time.monotonic() > deadline:
                return False
            self.pause(0.05)
        return True

    def report(self, drained: bool, clean: bool, wall_time: float, directory: Path) -> ChaosReport:
        config = self.config
        huey = self.app.huey
        runs = self.run_log.runs()
        counts = dict.fromkeys(range(config.tasks), 0)
        poison_runs = dict.fromkeys(self.poison, 0)
        for run in runs:
            if run.index in poison_runs:
                poison_runs[run.index] += 1
            else:
                counts[run.index] += 1
        values: dict[int, Any] = {}
        failed: dict[int, str] = {}
        for index in counts:
            try:
                values[index] = huey.result(self.ids[index], preserve=True)
            except TaskException as exc:  # Stored as the task's outcome: present, but an error.
                values[index] = failed[index] = str(exc)
        lost = [index for index, value in values.items() if value is None]
        wrong = [i for i, value in values.items() if value not in (None, i) and i not in failed]
        letters = []
        for letter in huey.dead_letters():
            task_index = letter.task.args[0] if letter.task is not None else None
            letters.append(Letter(task_index, letter.name, letter.deliveries, letter.reason))
        kills = sum(1 for fault in self.faults if fault.kind != "redis-restart")
        restarts = len(self.faults) - kills
        return ChaosReport(
            config=config,
            max_deliveries=config.effective_max_deliveries,
            kills=kills - self.unexpected_exits,
            redis_restarts=restarts,
            unexpected_exits=self.unexpected_exits,
            results=len(values) - len(lost),
            lost=lost,
            wrong=wrong,
            failed=failed,
            run_counts=counts,
            poison_runs=poison_runs,
            duplicated=sum(count - 1 for count in counts.values() if count > 1),
            bound=sum(fault.in_flight for fault in self.faults),
            ceiling=config.workers * (kills + restarts * config.consumers),
            unexplained=unexplained_duplicates(runs, self.faults, self.poison),
            interrupted=sorted({index for fault in self.faults for index in fault.interrupted}),
            dead_letters=letters,
            faults=list(self.faults),
            drained=drained,
            stopped_cleanly=clean,
            wall_time=wall_time,
            directory=directory,
        )


def run_chaos(config: ChaosConfig, progress: Callable[[str], object] | None = None) -> ChaosReport:
    """Run the chaos scenario of ``config`` with real processes and report what happened."""
    say = progress or (lambda message: None)
    if config.backend not in ("sqlite", "redis"):
        raise ChaosError(f"unknown backend {config.backend!r}")
    if config.redis_restarts and config.backend != "redis":
        raise ChaosError("Redis restarts need --backend redis")
    if config.tasks < 1 or config.consumers < 1 or config.workers < 1:
        raise ChaosError("tasks, consumers and workers must be at least 1")
    with contextlib.ExitStack() as stack:
        if config.directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-")))
        else:
            directory = config.directory
            directory.mkdir(parents=True, exist_ok=True)
        server = None
        if config.backend == "redis":
            server = stack.enter_context(_redis_server())
            location = str(server.port)
        else:
            location = str(directory / "chaos.db")
        run = _Run(config, directory, location)
        stack.callback(run.fleet.kill_all)  # Whatever happens, no consumer outlives the run.
        say(f"enqueueing {config.tasks} tasks on {config.backend} ({location})")
        run.enqueue()
        started = time.monotonic()
        for slot in range(config.consumers):
            run.fleet.start(slot)
        for consumer in run.fleet.consumers:
            run.fleet.wait_up(consumer)
        say(f"{config.consumers} consumer(s) up")
        plan = ["kill"] * config.kills + ["redis"] * config.redis_restarts
        run.rng.shuffle(plan)
        if config.kills:  # The kill that lands mid-task goes first, while task 0 runs.
            plan.remove("kill")
            plan.insert(0, "kill")
        for number, kind in enumerate(plan):
            if kind == "kill":
                run.kill(targeted=number == 0 and config.long_task_seconds > 0)
            else:
                run.restart_redis(server)
            say(f"fault {number + 1}/{len(plan)}: {kind}")
        drained = run.wait_drained(started + config.timeout)
        wall_time = time.monotonic() - started
        say("drained; stopping the consumers" if drained else "did not drain in time")
        clean = run.fleet.stop()
        return run.report(drained, clean, wall_time, directory)
    raise AssertionError("unreachable")  # For type checkers: ExitStack may swallow exceptions.


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--backend", choices=["sqlite", "redis"], default="sqlite")
    add("--workers", type=int, default=4, help="workers per consumer (default 4)")
    add("--worker-type", choices=["thread", "process"], default="thread")
    add("--consumers", type=int, default=1, help="consumer processes on the queue (default 1)")
    add("--tasks", type=int, default=2000, help="tasks to enqueue (default 2000)")
    add("--kills", type=int, default=5, help="consumers to SIGKILL and restart (default 5)")
    add("--redis-restarts", type=int, default=0, help="times to SIGKILL and restart Redis")
    add("--delivery", choices=[AT_LEAST_ONCE, AT_MOST_ONCE], default=AT_LEAST_ONCE)
    add("--visibility-timeout", type=float, default=2.0, help="seconds (default 2)")
    add("--max-deliveries", type=int, help="default: the faults planned + 1, at least 5")
    add("--poison", type=int, default=0, help="tasks that SIGKILL their worker (process workers)")
    add("--seed", type=int, help="seed of the random fault timing")
    add("--timeout", type=float, default=300.0, help="seconds to wait for the queue to drain")
    add("--keep", type=Path, help="keep the database, run log and consumer logs in this directory")
    args = parser.parse_args(argv)
    config = ChaosConfig(
        backend=args.backend,
        workers=args.workers,
        worker_type=args.worker_type,
        consumers=args.consumers,
        tasks=args.tasks,
        kills=args.kills,
        redis_restarts=args.redis_restarts,
        delivery=args.delivery,
        visibility_timeout=args.visibility_timeout,
        max_deliveries=args.max_deliveries,
        poison=args.poison,
        seed=args.seed,
        timeout=args.timeout,
        directory=args.keep,
    )
    try:
        report = run_chaos(config, progress=lambda message: print(f"... {message}", flush=True))
    except ChaosError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
