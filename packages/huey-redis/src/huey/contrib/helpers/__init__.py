"""Helpers on top of the Redis storages: ``RedisSemaphore`` and ``lock_task_semaphore``.

A semaphore lets up to ``value`` holders in at once, where ``Huey.lock_task`` lets one. It is
a sorted set at ``<huey name>.lock.<name>`` (huey 3.5.4's key and layout, so holders of both
implementations count against one limit): each holder is a member scored by the server time
(seconds) of its last acquire or renewal, and a holder not renewed for ``timeout`` seconds is
dropped, so the slot of a killed worker comes back on its own. Every step is one Lua script,
timed by the server's clock.

It needs a storage with a redis-py client (``storage.conn``): ``RedisHuey`` and its variants,
cluster ones included. There is no waiting: an acquire either gets a slot or does not.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from huey.exceptions import ConfigurationError, TaskLockedException

if TYPE_CHECKING:
    from huey.api import Huey

logger = logging.getLogger("huey.contrib.helpers")

F = TypeVar("F", bound=Callable[..., Any])

#: How long (seconds) a holder keeps its slot without renewing it, unless told otherwise.
DEFAULT_TIMEOUT = 300

# Shared by the scripts: ``now`` in seconds (server clock), and holders older than
# ``timeout`` dropped. Since Redis 5 a script that reads TIME may write; older servers need
# replicate_commands().
_PRUNE = """
if redis.replicate_commands then
    redis.replicate_commands()
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local timeout = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - timeout)
"""

# KEYS[1] the semaphore; ARGV[1] holder, ARGV[2] timeout (s), ARGV[3] value. 1 when the holder
# has a slot (taken now, or already its own and refreshed), 0 when all are taken.
_ACQUIRE = (
    _PRUNE
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
        and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(timeout))
return 1
"""
)

# KEYS[1] the semaphore; ARGV[1] holder, ARGV[2] timeout (s). 1 when the holder still had its
# slot (refreshed), 0 when it lapsed: a lapsed holder cannot renew its way back in.
_RENEW = (
    _PRUNE
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(timeout))
return 1
"""
)


class RedisSemaphore:
    """Up to ``value`` holders of ``name`` at once, each keeping its slot ``timeout`` seconds
    (default 300) past its last acquire or renewal.

    ``acquire()`` returns the holder's name (a new uuid unless one is given), or None when
    every slot is taken; acquiring again under a held name refreshes it. ``renew(name)``
    refreshes a held slot (False once it lapsed); ``release(name)`` gives it back (1, or 0
    when it was not held). The storage is checked on first use: one without a redis-py client
    raises ``ConfigurationError`` then.
    """

    def __init__(self, huey: Huey, name: str, value: int = 1, timeout: float | None = None) -> None:
        if value < 1:
            raise ValueError(f"a semaphore needs value >= 1, not {value!r}")
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.huey = huey
        self.name = name
        self.value = value
        self.timeout = timeout
        self.key = f"{huey.name}.lock.{name}"
        self._scripts: tuple[Any, Any] | None = None

    @property
    def conn(self) -> Any:
        """The storage's redis-py client."""
        conn = getattr(self.huey.storage, "conn", None)
        if conn is None or not hasattr(conn, "register_script"):
            raise ConfigurationError(
                f"RedisSemaphore needs a Redis storage with a redis-py client (RedisHuey and "
                f"its variants), not {type(self.huey.storage).__name__}"
            )
        return conn

    def _script(self, index: int) -> Any:
        if self._scripts is None:
            conn = self.conn
            self._scripts = (conn.register_script(_ACQUIRE), conn.register_script(_RENEW))
        return self._scripts[index]

    def acquire(self, name: str | None = None) -> str | None:
        holder = name or str(uuid.uuid4())
        args = [holder, self.timeout, self.value]
        return holder if self._script(0)(keys=[self.key], args=args) else None

    def renew(self, name: str) -> bool:
        return bool(self._script(1)(keys=[self.key], args=[name, self.timeout]))

    def release(self, name: str) -> int:
        return int(self.conn.zrem(self.key, name))

    def _keep_renewed(self, name: str, stop: threading.Event) -> None:
        """Renew ``name`` three times per ``timeout`` until ``stop`` is set."""
        while not stop.wait(self.timeout / 3):
            try:
                if not self.renew(name):
                    logger.warning("semaphore %s: slot %s lapsed while held", self.key, name)
            except Exception:  # Redis unreachable for now: the next round tries again.
                logger.exception("semaphore %s: could not renew slot %s", self.key, name)


def lock_task_semaphore(
    huey: Huey, lock_name: str, value: int = 1, timeout: float | None = None
) -> Callable[[F], F]:
    """A decorator letting up to ``value`` calls of the function run at once (default 1).

    A call that finds every slot taken raises ``TaskLockedException`` (a task then retries if
    it has retries). A running call's slot is renewed in a thread every ``timeout / 3``
    seconds, so ``timeout`` (default 300) only bounds how long the slot of a killed worker
    stays taken. Place it below ``@huey.task()``::

        @huey.task(retries=2, retry_delay=60)
        @lock_task_semaphore(huey, "reports", 3)
        def report(): ...
    """
    semaphore = RedisSemaphore(huey, lock_name, value, timeout)

    def take() -> tuple[str, threading.Event, threading.Thread]:
        holder = semaphore.acquire()
        if holder is None:
            raise TaskLockedException(f"unable to acquire lock {lock_name}")
        stop = threading.Event()
        renewer = threading.Thread(
            target=semaphore._keep_renewed,
            args=(holder, stop),
            name=f"semaphore-{lock_name}",
            daemon=True,
        )
        renewer.start()
        return holder, stop, renewer

    def give_back(holder: str, stop: threading.Event, renewer: threading.Thread) -> None:
        stop.set()
        renewer.join()
        semaphore.release(holder)

    def decorator(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):  # Held until the coroutine is done, not created.

            @functools.wraps(fn)
            async def ainner(*args: Any, **kwargs: Any) -> Any:
                held = take()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    give_back(*held)

            return ainner  # type: ignore[return-value]

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            held = take()
            try:
                return fn(*args, **kwargs)
            finally:
                give_back(*held)

        return inner  # type: ignore[return-value]

    return decorator


__all__ = ["DEFAULT_TIMEOUT", "RedisSemaphore", "lock_task_semaphore"]
