"""huey.consumer's helpers named as in huey: ForkSafeFlag, ProcessEnvironment, ConsumerStopped."""

from __future__ import annotations

import os
import signal
import time

import pytest

from huey import MemoryHuey
from huey.consumer import (
    WORKER_TO_ENVIRONMENT,
    ConsumerStopped,
    ForkSafeFlag,
    ProcessEnvironment,
    ThreadEnvironment,
)
from huey.exceptions import TaskTimeout


def test_fork_safe_flag_is_seen_by_a_forked_waiter() -> None:
    flag = ForkSafeFlag()
    assert not flag.is_set() and not flag.wait(0)
    ready = ForkSafeFlag()
    waiter = ProcessEnvironment().create_process(
        lambda: (ready.set(), os._exit(0 if flag.wait(30) else 1)), "waiter"
    )
    waiter.start()
    assert ready.wait(30)
    flag.set()
    flag.set()  # Idempotent.
    waiter.join(30)
    assert waiter.exitcode == 0
    assert flag.is_set() and flag.wait(0) and flag.wait(None)


def test_a_waiter_killed_while_waiting_does_not_block_set() -> None:
    # With a multiprocessing.Event, set() could block forever here.
    flag, ready = ForkSafeFlag(), ForkSafeFlag()
    waiter = ProcessEnvironment().create_process(lambda: (ready.set(), flag.wait()), "waiter")
    waiter.start()
    assert ready.wait(30)
    assert waiter.pid is not None
    os.kill(waiter.pid, signal.SIGKILL)
    waiter.join(30)
    flag.set()
    assert flag.wait(0)


def test_a_reader_without_writer_sees_the_flag_set_once_the_writers_are_gone() -> None:
    flag, ready = ForkSafeFlag(), ForkSafeFlag()

    def child() -> None:
        flag.close_writer()
        ready.set()
        os._exit(0 if flag.wait(30) else 1)

    waiter = ProcessEnvironment().create_process(child, "reader")
    waiter.start()
    assert ready.wait(30)
    flag.close()  # The parent (the consumer) is gone.
    waiter.join(30)
    assert waiter.exitcode == 0


def test_process_environment_forks_and_times_out_below_a_second() -> None:
    env = ProcessEnvironment()
    assert env.mp.get_start_method() == "fork"
    assert (env.graceful, env.interrupt) == (signal.SIGINT, signal.SIGTERM)
    swapped = ProcessEnvironment("TERM")
    assert (swapped.graceful, swapped.interrupt) == (signal.SIGTERM, signal.SIGINT)
    with pytest.raises(TaskTimeout), env.timeout(0.15):
        time.sleep(5)
    with env.timeout(0.15):
        pass
    time.sleep(0.3)  # The cancelled alarm does not fire after the block.


def test_environments_by_worker_type() -> None:
    assert WORKER_TO_ENVIRONMENT["process"] is ProcessEnvironment
    assert WORKER_TO_ENVIRONMENT["thread"] is ThreadEnvironment
    for env_class in WORKER_TO_ENVIRONMENT.values():
        flag = env_class().get_stop_flag()
        assert not flag.wait(0)
        flag.set()
        assert flag.wait(0)


def test_a_consumer_names_its_environment() -> None:
    huey = MemoryHuey("environment")
    process = huey.create_consumer(worker_type="process", graceful_signal="TERM").environment
    assert isinstance(process, ProcessEnvironment)
    assert process.mp.get_start_method() == "fork"  # Whatever the platform's default.
    assert process.graceful == signal.SIGTERM
    assert isinstance(huey.create_consumer().environment, ThreadEnvironment)
    assert huey.create_consumer(worker_type="greenlet").environment is None


def test_a_consumer_runs_once() -> None:
    consumer = MemoryHuey("once").create_consumer(scheduler_interval=0.1)
    consumer.start()
    assert consumer.stop(graceful=True, timeout=20)
    with pytest.raises(ConsumerStopped, match="create a new one"):
        consumer.start()
    with pytest.raises(RuntimeError):  # What it raised before it had huey's name.
        consumer.run()
