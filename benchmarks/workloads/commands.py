"""``commands-per-task``: the Redis commands a consumer issues per task, by command.

For each implementation, variant (default settings, ``notify_result=True``) and round, on a
fresh private ``redis-server``:

1. with no consumer running, ``apps/fill_client.py`` (that implementation) queues ``tasks``
   ``echo`` tasks and exits; the harness checks they are all in the queue;
2. the harness starts ``MONITOR`` on a connection of its own, sends a marker (``ECHO``), and
   starts ``huey_consumer bench_app.huey -w 1`` with the queue already full;
3. it polls ``HLEN`` of the results hash until every task has its result, marks the end of the
   draining, waits ``SETTLE_SECONDS``, then marks a quiet period of ``quiet_seconds`` (the
   consumer idle: its background commands only) and its end;
4. ``MONITOR`` stops before the consumer is stopped (shutdown commands are not counted).

Attribution: the producer has exited before ``MONITOR`` starts, and the harness's own
connections (markers, polling, ``MONITOR``) are known, so every other client address belongs
to the consumer; where ``/proc`` exists each of those addresses is also checked to be a socket
of the consumer process, and a run with a command from anyone else fails. ``MONITOR`` names
the commands Lua scripts run ``lua``: they are counted apart ("in scripts"), since the client
sent only the ``EVALSHA``.

Per task, for each command: (its count while draining - its rate in the quiet period x the
draining time) / tasks, never below 0. The draining time runs from the consumer's first
command to the end mark. One-time startup commands (connection setup, script loading) are
included, spread over ``tasks``. Round trips count the commands of a ``MULTI`` ... ``EXEC``
block (a redis-py transaction pipeline, sent at once) as one; a pipeline without ``MULTI``
cannot be told apart in ``MONITOR`` and would count one per command.

The table gives the totals; the command mix, per implementation and variant, is printed under
it, and every command is a metric of the JSON report (``cmd.NAME``; ``script.NAME`` for the
commands run inside scripts).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._backends import REDIS, Queue
from benchmarks._envs import Implementation
from benchmarks._harness import (
    LOWER,
    BenchmarkError,
    Metric,
    Option,
    Variant,
    Workload,
    WorkloadResult,
    register,
    wait_until,
)
from benchmarks._redis import (
    LUA,
    RESULTS_KEY,
    Monitor,
    Resp,
    Seen,
    local_addresses_of,
)
from benchmarks.workloads.roundtrip import DEFAULT, NOTIFY_RESULT, settings

SETTLE_SECONDS = 0.5  # Between the end of the draining and the quiet period.
POLL_SECONDS = 0.005
SHOWN_FROM = 0.005  # Commands below this per task in every run stay out of the table.
COMMAND, SCRIPT = "cmd.", "script."
MARK = "huey-bench:"


class CommandsPerTask(Workload):
    family = "commands-per-task"
    description = "Redis commands the consumer (-w 1) issues per task, queue filled beforehand"
    variants = (DEFAULT, NOTIFY_RESULT)
    metrics = (
        Metric("cmds_per_task", "cmds/task", better=LOWER),
        Metric("round_trips_per_task", "round trips/task", better=LOWER),
        Metric("script_calls_per_task", "in scripts/task"),
        Metric("idle_cmds_per_s", "idle cmds/s"),
    )
    options = (
        Option("tasks", int, 1000, 50, "tasks queued, then run by the consumer"),
        Option("quiet_seconds", float, 3.0, 1.0, "seconds of idle consumer measured"),
    )

    def headline(self, params: dict[str, Any]) -> str:
        return (
            f"{self.description}; {params['tasks']} no-op tasks with results, counted by "
            f"MONITOR on the consumer's connections, minus its idle rate over "
            f"{params['quiet_seconds']:g} s"
        )

    def all_metrics(self, runs: Sequence[dict[str, float]]) -> tuple[Metric, ...]:
        """The fixed metrics, then one per command seen (the most frequent first), then one
        per command run inside scripts: in the JSON report, and under the table as the mix."""
        found: dict[str, float] = {}
        for run in runs:
            for key, value in run.items():
                if key.startswith((COMMAND, SCRIPT)):
                    found[key] = found.get(key, 0.0) + value
        order = sorted(found, key=lambda key: (key.startswith(SCRIPT), -found[key], key))
        extra = tuple(Metric(key, key, missing=0.0, table=False) for key in order)
        return self.metrics + extra

    def notes(self, result: WorkloadResult) -> list[str]:
        """The command mix of each row: the commands sent per task, then those run inside
        scripts (``lua:``), each shown from ``SHOWN_FROM`` per task."""
        width = max(len(impl.label) for impl in result.impls)
        variant_width = max(len(variant.label) for variant in self.variants)
        lines = [
            f"command mix per task (medians across rounds; under {SHOWN_FROM} left out, "
            "they are in the JSON report; lua: run inside scripts):"
        ]
        for variant in self.variants:
            summary = result.summary()[variant.key]
            for impl in result.impls:
                metrics = summary[impl.key]
                parts = []
                for prefix in (COMMAND, SCRIPT):
                    mix = [
                        f"{key.removeprefix(prefix)} {value:.2f}"
                        for key, value in metrics.items()
                        if key.startswith(prefix) and value >= SHOWN_FROM
                    ]
                    if prefix == SCRIPT and mix:
                        mix[0] = f"lua: {mix[0]}"
                    parts += mix
                lines.append(
                    f"  {impl.label:<{width}}  {variant.label:<{variant_width}}  "
                    + ("  ".join(parts) or "-")
                )
        lines += [
            "cmds/task: commands the consumer sent (MONITOR, its own connections), per task, "
            "its idle rate subtracted;",
            "round trips/task: the same with a MULTI...EXEC block as one; in scripts/task: "
            "commands Lua scripts ran (one EVALSHA each);",
            "idle cmds/s: the consumer's commands per second with an empty queue.",
        ]
        return lines

    def run_once(
        self,
        impl: Implementation,
        params: dict[str, Any],
        workdir: Path,
        seed: int,
        variant: Variant | None = None,
    ) -> dict[str, float]:
        tasks = params["tasks"]
        with REDIS.open(impl, workdir, settings(variant)) as queue:
            queue.fill(tasks)
            assert queue.redis_port is not None
            with Resp(queue.redis_port) as control:
                seen, consumer_clients = self._observe(impl, params, queue, control)
            harness = {control.address}
        return self._count(impl, tasks, seen, harness, consumer_clients)

    def _observe(
        self,
        impl: Implementation,
        params: dict[str, Any],
        queue: Queue,
        control: Resp,
    ) -> tuple[list[Seen], set[str] | None]:
        """The commands MONITOR saw from the start mark to the end mark, and the local
        addresses of the consumer's sockets (None without ``/proc``)."""
        tasks = params["tasks"]
        assert queue.redis_port is not None
        monitor = Monitor(queue.redis_port)
        try:
            control.command("ECHO", f"{MARK}start")
            with queue.consumer("-w", "1") as consumer:
                # Polled on the harness's marked connection: queue.results() would be a
                # client MONITOR could not attribute.
                wait_until(
                    lambda: control.command("HLEN", RESULTS_KEY) >= tasks,
                    consumer,
                    120 + tasks * 0.05,
                    f"{impl.label}: the results did not all arrive",
                    POLL_SECONDS,
                )
                control.command("ECHO", f"{MARK}drained")
                time.sleep(SETTLE_SECONDS)
                control.command("ECHO", f"{MARK}quiet")
                time.sleep(params["quiet_seconds"])
                control.command("ECHO", f"{MARK}end")
                monitor.wait_for(control.address, "echo", f"{MARK}end")
                consumer.check()
                owned = local_addresses_of(consumer.pid)
                seen = monitor.stop()  # Before the consumer stops.
        finally:
            monitor.stop()
        return seen, owned

    def _count(
        self,
        impl: Implementation,
        tasks: int,
        seen: list[Seen],
        harness: set[str],
        owned: set[str] | None,
    ) -> dict[str, float]:
        marks = {
            s.arg.removeprefix(MARK): index
            for index, s in enumerate(seen)
            if s.client in harness and s.name == "echo" and s.arg.startswith(MARK)
        }
        if set(marks) != {"start", "drained", "quiet", "end"}:
            raise BenchmarkError(f"{impl.label}: MONITOR missed marks, saw {sorted(marks)}")
        clients = {s.client for s in seen if s.client not in harness and s.client != LUA}
        if owned is not None and clients - owned:
            raise BenchmarkError(
                f"{impl.label}: commands from clients other than the consumer: "
                f"{sorted(clients - owned)} (consumer's sockets: {sorted(owned)})"
            )
        busy = seen[marks["start"] + 1 : marks["drained"]]
        quiet = seen[marks["quiet"] + 1 : marks["end"]]
        first = next((s.time for s in busy if s.client in clients), None)
        if first is None:
            raise BenchmarkError(f"{impl.label}: MONITOR saw no command from the consumer")
        busy_seconds = seen[marks["drained"]].time - first
        quiet_span = seen[marks["end"]].time - seen[marks["quiet"]].time

        metrics: dict[str, float] = {}
        totals = {COMMAND: 0.0, SCRIPT: 0.0}
        trips, idle_trips = _round_trips(busy, clients), _round_trips(quiet, clients)
        round_trips = max(0.0, trips - idle_trips / quiet_span * busy_seconds) / tasks
        for prefix, sent in ((COMMAND, clients), (SCRIPT, {LUA})):
            during = Counter(s.name for s in busy if s.client in sent)
            idle = Counter(s.name for s in quiet if s.client in sent)
            for command in during.keys() | idle.keys():
                background = idle[command] / quiet_span * busy_seconds
                per_task = max(0.0, during[command] - background) / tasks
                if during[command]:
                    metrics[prefix + command] = per_task
                totals[prefix] += per_task
        idle_commands = sum(1 for s in quiet if s.client in clients)
        metrics.update(
            {
                "cmds_per_task": totals[COMMAND],
                "round_trips_per_task": round_trips,
                "script_calls_per_task": totals[SCRIPT],
                "idle_cmds_per_s": idle_commands / quiet_span,
                # Not in the table; in the JSON report's rounds.
                "tasks": tasks,
                "draining_seconds": busy_seconds,
                "quiet_seconds": quiet_span,
                "commands_while_draining": sum(1 for s in busy if s.client in clients),
                "consumer_connections": len(clients),
            }
        )
        return metrics


def _round_trips(seen: list[Seen], clients: set[str]) -> int:
    """The requests among ``seen`` from ``clients``: a ``MULTI`` ... ``EXEC`` block is one."""
    count = 0
    in_block: set[str] = set()
    for s in seen:
        if s.client not in clients:
            continue
        if s.name == "multi":
            in_block.add(s.client)
            count += 1
        elif s.name in ("exec", "discard"):
            in_block.discard(s.client)
        elif s.client not in in_block:
            count += 1
    return count


register(CommandsPerTask(REDIS, name="commands-per-task"))
