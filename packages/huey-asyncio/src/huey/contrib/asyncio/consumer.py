"""The ``asyncio`` worker type: ``huey_consumer app.huey -k asyncio -w 500``.

One event loop, on a thread of the consumer process, runs up to ``-w`` tasks at once:

* an ``async def`` task is awaited on the loop (``task.coroutine()``), held to its timeout by
  asyncio: the body is cancelled when the time is up and the task fails with ``TaskTimeout``;
* a plain task runs on a thread pool (threads started as needed, at most ``-w``) so it never
  blocks the loop; its timeout is cooperative, as with thread workers
  (``task.check_timeout()``);
* storage calls (taking tasks off the queue, and what core does before and after an async
  body: ``Huey.begin_execution`` and ``Huey.finish_execution``) run on a few threads of their
  own, so a slow storage never stalls running tasks.

Execution is core's (``Huey.execute`` for plain tasks, its two halves around an async body), so
retries, locks, rate limits, pipelines, chords, hooks and signals behave as under every worker
type.

Stopping follows the consumer's contract (``huey._workers``): a graceful stop (SIGINT, and
SIGHUP before a restart) takes no new task and lets running ones finish; an interrupt
(SIGTERM, a second SIGINT) cancels async bodies, raises ``WorkerInterrupted`` in plain ones, and
sends ``SIGNAL_INTERRUPTED`` for each task it stopped. A task taken off the queue while the pool
is being interrupted, or for a loop that has died, is put back unrun. A task raising
``SystemExit`` ends only itself; should the loop die all the same, health checks start a new one.

``on_startup`` and ``on_shutdown`` hooks run once per pool, on the loop's thread, before the
first task and after the last.

The event loop is the pool's one worker for ``-M``/``max_tasks``: once it has taken that many
tasks it takes no more, lets them finish, runs the shutdown hooks and ends, and the health
check starts a new loop (with its startup hooks).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from huey._tasklog import seconds
from huey._workers import (
    INTERRUPT_GRACE,
    Backoff,
    WorkerInterrupted,
    WorkerPool,
    WorkerSettings,
)
from huey._workers.loop import debug_traceback, one_line
from huey._workers.thread import raise_in_thread
from huey.exceptions import MessageError

if TYPE_CHECKING:
    from huey._task import Task
    from huey.api import Huey

logger = logging.getLogger("huey.consumer.asyncio")

T = TypeVar("T")


class AsyncioPool(WorkerPool):
    """Up to ``settings.workers`` tasks at once on one event loop (see the module docstring)."""

    worker_type = "asyncio"
    supports_max_tasks = True
    #: Coroutines taking tasks off the queue at once (each holds a task slot while it waits).
    fetchers: ClassVar[int] = 2
    #: Threads for the storage calls made around async bodies, besides the fetchers' own.
    storage_threads: ClassVar[int] = 4

    def __init__(self, huey: Huey, settings: WorkerSettings) -> None:
        super().__init__(huey, settings)
        self._service: _Service | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def _launch(self) -> None:
        service = _Service(
            self.huey,
            self.settings,
            fetchers=max(1, min(self.fetchers, self.settings.workers)),
            storage_threads=self.storage_threads,
        )
        thread = threading.Thread(target=service.run, name="AsyncioPool", daemon=True)
        self._service, self._thread = service, thread
        thread.start()
        service.ready.wait()

    # -- the WorkerPool contract ---------------------------------------------------------------
    def start(self) -> None:
        self._launch()

    def alive(self) -> int:
        return int(self._thread is not None and self._thread.is_alive())

    def check_health(self) -> int:
        if self._stopping or self.alive():
            return 0
        if self._service is not None and self._service.recycled:
            logger.info("the asyncio worker loop was recycled, starting a new one")
        else:
            logger.warning("the asyncio worker loop ended, starting a new one")
        self._launch()
        return 1

    def request_stop(self) -> None:
        self._stopping = True
        if self._service is not None:
            self._service.call(self._service.stop)

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive()

    def interrupt(self, grace: float = INTERRUPT_GRACE) -> None:
        self._stopping = True
        if self._service is None:
            return
        self._service.call(self._service.interrupt)
        if self.join(grace):
            return
        # Stuck: a plain body in a blocking call, or a coroutine that will not be cancelled.
        logger.warning("the asyncio worker loop did not stop; abandoning it")
        self.huey.notify_interrupted_tasks()

    def describe(self) -> str:
        return f"1 event loop running up to {self.settings.workers} tasks at once"


class _Service:
    """One life of the pool's event loop: its thread runs ``run()``."""

    def __init__(
        self, huey: Huey, settings: WorkerSettings, fetchers: int, storage_threads: int
    ) -> None:
        self.huey = huey
        self.settings = settings
        self.max_tasks = settings.max_tasks
        self.fetchers = fetchers
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.storage_pool = ThreadPoolExecutor(
            fetchers + storage_threads, thread_name_prefix="huey-asyncio-storage"
        )
        self.body_pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="huey-asyncio")
        self.stopping = asyncio.Event()
        self.slots = asyncio.Semaphore(settings.workers)
        self.running: set[asyncio.Task[None]] = set()
        self.plain_bodies: set[threading.Thread] = set()
        # Tasks taken off the queue and not yet run by the loop: if the loop dies, they go back.
        self.fetched: set[Task] = set()
        self.interrupted = False
        # For max_tasks: ``reserved`` counts trips to the queue under way and those that brought
        # a task, ``received`` the tasks taken; ``recycled`` once the loop has taken its last.
        self.reserved = 0
        self.received = 0
        self.recycled = False

    # -- from the consumer's thread ------------------------------------------------------------
    def call(self, fn: Callable[[], None]) -> None:
        try:
            self.loop.call_soon_threadsafe(fn)
        except RuntimeError:  # The loop is closed: it has stopped already.
            pass

    # -- on the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.serve())
        except BaseException:
            logger.exception("the asyncio worker loop failed")
        finally:
            self.ready.set()  # Never leave start() waiting.
            # A dequeue still under way when the loop died ends here; its task goes back.
            self.storage_pool.shutdown(wait=True, cancel_futures=True)
            self.body_pool.shutdown(wait=False, cancel_futures=True)
            for task in list(self.fetched):
                self.put_back(task)
            self.loop.close()

    async def serve(self) -> None:
        self.huey.run_startup_hooks()
        self.ready.set()
        try:
            await asyncio.gather(*(self.fetch(index) for index in range(self.fetchers)))
            while self.running:
                await asyncio.wait(set(self.running))
        finally:
            if self.interrupted:
                # Storage steps under way (a result being stored) and plain bodies finish
                # first: what is still in flight after them was stopped.
                await asyncio.to_thread(self.storage_pool.shutdown)
                await asyncio.to_thread(self.body_pool.shutdown)
                self.huey.notify_interrupted_tasks()
            self.huey.run_shutdown_hooks()

    def stop(self) -> None:
        self.stopping.set()

    def interrupt(self) -> None:
        self.interrupted = True
        self.stopping.set()
        for wrapper in list(self.running):
            wrapper.cancel()
        for thread in list(self.plain_bodies):
            raise_in_thread(thread, WorkerInterrupted)

    async def pause(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less if a stop is requested meanwhile."""
        try:
            async with asyncio.timeout(delay):
                await self.stopping.wait()
        except TimeoutError:
            pass

    async def storage(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a storage thread; cancelling the caller never abandons the call
        half-way (its outcome is still what happened)."""
        return await asyncio.shield(self.loop.run_in_executor(self.storage_pool, fn, *args))

    async def fetch(self, index: int) -> None:
        poll = Backoff(self.settings.initial_delay, self.settings.backoff, self.settings.max_delay)
        retry = Backoff(
            self.settings.initial_delay, max(self.settings.backoff, 2.0), self.settings.max_delay
        )
        blocking = self.huey.storage.supports_blocking_dequeue
        failures = 0
        while not self.stopping.is_set():
            await self.slots.acquire()
            if self.stopping.is_set():
                self.slots.release()
                break
            if self.max_tasks is not None and self.reserved >= self.max_tasks:
                # The last tasks are on their way in other fetchers (or those come back empty).
                self.slots.release()
                await self.pause(poll.next())
                continue
            try:
                taken = await self.take_counted()
            except MessageError:  # Dead-lettered by Huey.dequeue().
                self.slots.release()
                continue
            except Exception as exc:
                self.slots.release()
                failures += 1
                delay = retry.next()
                if failures == 1:  # One line; the client's traceback only at DEBUG.
                    logger.error(
                        "cannot read the queue, retrying in %s: %s",
                        seconds(delay),
                        one_line(exc),
                        exc_info=debug_traceback(logger, exc),
                    )
                else:
                    logger.warning(
                        "queue still unavailable (%d tries): %s", failures, one_line(exc)
                    )
                await self.pause(delay)
                continue
            if failures:
                logger.warning("storage available again")
                failures = 0
                retry.reset()
            if taken is None:
                self.slots.release()
                if not blocking:  # A blocking dequeue has waited already.
                    await self.pause(poll.next())
                continue
            poll.reset()
            self.received += 1
            if self.max_tasks is not None and self.received >= self.max_tasks:
                logger.info("the asyncio worker loop took %d tasks, recycling", self.received)
                self.recycled = True
                self.stopping.set()  # This one and those running finish; the loop then ends.
            task, began = taken
            self.fetched.discard(task)
            if began is None and self.interrupted:
                self.slots.release()
                await self.storage(self.put_back, task)
            elif began is False or self.interrupted:
                # Not to run (scheduled, revoked, expired, canceled), or begun as the pool was
                # being interrupted: then it stays in flight and is reported interrupted.
                self.slots.release()
            else:
                wrapper = self.loop.create_task(self.execute(task), name=f"huey {task}")
                self.running.add(wrapper)
                wrapper.add_done_callback(self.finished)

    async def take_counted(self) -> tuple[Task, bool | None] | None:
        """``take()`` on a storage thread, counted towards ``max_tasks`` before the trip (the
        fetchers together never take more) and uncounted when it brings no task."""
        self.reserved += 1
        taken = None
        try:
            taken = await self.storage(self.take)
        finally:
            if taken is None:
                self.reserved -= 1
        return taken

    def take(self) -> tuple[Task, bool | None] | None:
        """On a storage thread: the next task and, for an async one, whether its body is to
        run (``Huey.begin_execution``, in the same trip to a thread); None for a plain task,
        which ``Huey.execute`` runs whole on a body thread."""
        task = self.huey.dequeue()
        if task is None:
            return None
        self.fetched.add(task)
        if not task.is_async or self.interrupted:
            return task, None
        try:
            return task, self.huey.begin_execution(task)
        except Exception:
            logger.exception("unhandled error executing %s", task)
            return task, False

    def put_back(self, task: Task) -> None:
        """Return a task taken off the queue but never run (as it was, unsignalled)."""
        self.fetched.discard(task)
        try:
            self.huey.storage.enqueue(self.huey.serialize_task(task), task.priority)
        except Exception:
            logger.exception("could not put %s back on the queue; it is lost", task)
        else:
            logger.info("put %s back on the queue", task)

    def finished(self, wrapper: asyncio.Task[None]) -> None:
        self.running.discard(wrapper)
        self.slots.release()
        if not wrapper.cancelled() and wrapper.exception() is not None:
            logger.error(
                "unhandled error running %s", wrapper.get_name(), exc_info=wrapper.exception()
            )

    async def execute(self, task: Task) -> None:
        try:
            if task.is_async:
                await self.execute_async(task)
            else:
                await asyncio.shield(
                    self.loop.run_in_executor(self.body_pool, self.execute_plain, task)
                )
        except asyncio.CancelledError:
            if not self.interrupted:
                raise
            # Interrupted: the task stays in flight and is reported once the pool has stopped.
        except (SystemExit, KeyboardInterrupt) as exc:
            # It would end the loop and every task on it: only this task ends (in flight, as
            # a thread worker's task that ends its thread).
            logger.error("task %s ended by %r", task, exc)

    async def execute_async(self, task: Task) -> None:
        """The body of a task ``take()`` has begun, then ``Huey.finish_execution``."""
        value: Any = None
        exception: Exception | None = None
        try:
            value = await task.coroutine()
        except asyncio.CancelledError as exc:
            if self.interrupted:
                raise
            # The body was cancelled from within (not by us): a failure like any other.
            exception = RuntimeError(f"the body of task {task} was cancelled")
            exception.__cause__ = exc
        except Exception as exc:
            exception = exc
        await self.storage(self.huey.finish_execution, task, value, exception)

    def execute_plain(self, task: Task) -> None:
        """On a body thread: ``Huey.execute`` with the body open to ``interrupt()``."""
        thread = threading.current_thread()
        body = task.execute

        def guarded() -> Any:
            self.plain_bodies.add(thread)
            try:
                return body()
            finally:
                self.plain_bodies.discard(thread)

        vars(task)["execute"] = guarded
        try:
            self.huey.execute(task)
        except WorkerInterrupted:
            logger.warning("task %s interrupted", task)
        except Exception:
            logger.exception("unhandled error executing %s", task)
        finally:
            vars(task).pop("execute", None)
