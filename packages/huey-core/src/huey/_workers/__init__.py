"""The consumer's moving parts, and the plugin interface for worker types.

Worker types
============

``huey_consumer -k NAME`` and ``huey.create_consumer(worker_type=NAME)`` look ``NAME`` up in the
entry-point group ``huey.workers``. Core registers ``thread``, ``process`` and ``greenlet``;
another distribution adds a type without touching core::

    [project.entry-points."huey.workers"]
    asyncio = "huey.contrib.asyncio.consumer:AsyncioPool"

The entry point names a subclass of :class:`WorkerPool` (also importable as
``huey.consumer.WorkerPool``): a whole pool, not one worker, so a type may run its workers
however it likes (N threads, N processes, N greenlets, or a single event loop running up to
N tasks at once). The consumer creates the pool as
``PoolClass(huey, settings)`` (:class:`WorkerSettings`: ``workers``, ``initial_delay``,
``backoff``, ``max_delay``, ``graceful_signal``, ``max_tasks``) and calls, always from its one
supervisor thread:

``setup_process()`` (classmethod)
    Only from ``huey_consumer``, before the application is imported (gevent monkey-patching).
``start()``
    Start ``settings.workers`` workers and return. Each worker runs the ``on_startup`` hooks
    once when it starts and the ``on_shutdown`` hooks once when it ends.
``alive()``
    The number of running workers.
``check_health()``
    Replace workers that ended (died, or were recycled: see ``max_tasks`` below); return how
    many. Every ``health_check_interval`` seconds unless health checks are disabled.
``request_stop()``
    Graceful stop (SIGINT, and SIGHUP before a restart): take no new task, let running ones
    finish; return at once.
``join(timeout)``
    Wait up to ``timeout`` seconds (None: forever) for all workers to end; True if they have.
``interrupt(grace)``
    Forced stop (SIGTERM, a second SIGINT, the shutdown timeout): interrupt running tasks
    now, and make sure ``SIGNAL_INTERRUPTED`` is sent for each of them in the process where it
    ran (raise :class:`WorkerInterrupted` in the task body and let the worker call
    ``huey.notify_interrupted_tasks()``); after ``grace`` seconds end what remains by force.
``describe()``
    A short text for the startup banner.

Class attributes: ``worker_type`` (the name shown in logs), ``shares_memory`` (False when
workers live in other processes; the consumer then warns about in-memory storages) and
``supports_max_tasks`` (True when the pool honours ``settings.max_tasks``, ``-M``: a worker
that has run that many tasks ends after recording the last one, and ``check_health()``
replaces it; the consumer refuses ``max_tasks`` for a pool without it).

A restart (SIGHUP) is ``request_stop()``, ``join()`` and then a new pool's ``start()``: pools are
used once.

Building blocks for pools: :class:`Worker` runs one worker's loop (hooks, dequeue with the
polling backoff of ``-d``/``-b``/``-m`` for storages without ``supports_blocking_dequeue``,
bad messages dead-lettered by ``Huey.dequeue``, storage errors retried with backoff,
``Huey.execute``, ending by itself after ``max_tasks`` tasks with ``recycled`` set); its
``run_body`` argument holds a task body to its timeout
(``ProcessEnvironment.timeout`` for processes, ``run_with_gevent_timeout`` for greenlets;
threads rely on ``task.check_timeout()``) and its ``in_body`` flag tells when an interrupt may
be raised. ``WorkerSettings.graceful_signal`` tells pools of other processes which signal their
workers ignore and which one interrupts them.
"""

from huey._workers.base import (
    ENTRY_POINT_GROUP,
    INTERRUPT_GRACE,
    WorkerInterrupted,
    WorkerPool,
    WorkerSettings,
    load_worker_type,
    missing_worker_type,
    shutdown_signals,
    worker_types,
)
from huey._workers.loop import Backoff, BodyRunner, StopFlag, Worker, run_plain

__all__ = [
    "ENTRY_POINT_GROUP",
    "INTERRUPT_GRACE",
    "Backoff",
    "BodyRunner",
    "StopFlag",
    "Worker",
    "WorkerInterrupted",
    "WorkerPool",
    "WorkerSettings",
    "load_worker_type",
    "missing_worker_type",
    "run_plain",
    "shutdown_signals",
    "worker_types",
]
