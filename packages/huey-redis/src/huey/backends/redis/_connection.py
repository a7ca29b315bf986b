"""Redis clients for the storages: argument checks, outage-safe defaults, shared pools.

- Every keyword argument the storages do not know is a redis-py client argument; an unknown
  one is a ``TypeError`` at construction, not a failure at the first command.
- Unless the caller sets them, connections time out (``socket_connect_timeout``,
  ``socket_timeout``) and retry a failed command once after a short pause: a call made while
  the server is down raises ``redis.exceptions.ConnectionError`` instead of hanging, and a
  socket timeout never cuts a blocking pop short.
- Storages built with the same connection arguments share one ``ConnectionPool``, however
  many queues (``Huey`` instances) use it; a ``connection_pool`` given by the caller is used
  as it is.
- The per-task commands go through :class:`ThreadConnections`: a connection per thread made
  from the pool's settings, because checking one out of the pool and back costs more CPU than
  the command itself.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import threading
import weakref
from collections.abc import Hashable, Mapping
from typing import Any

import redis
from huey.exceptions import ConfigurationError
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

#: Seconds to establish a connection before ``ConnectionError``.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds to wait for any reply; raised to ``read_timeout`` plus this margin when needed.
DEFAULT_SOCKET_TIMEOUT = 5.0
#: How much longer than the longest blocking pop a socket timeout must be.
BLOCKING_MARGIN = 2.0
#: A failed command is tried this many more times (a connection dropped by a server restart
#: or an idle timeout reconnects without bothering the caller).
DEFAULT_RETRIES = 1


def _parameters(callable_: Any) -> set[str]:
    return {
        name
        for name, parameter in inspect.signature(callable_).parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    } - {"self"}


# What ``Redis(...)`` accepts; with a URL, ``ConnectionPool.from_url`` also passes pool and
# connection options through.
_CLIENT_ARGUMENTS = frozenset(_parameters(redis.Redis.__init__) - {"connection_pool"})
_URL_ARGUMENTS = frozenset(
    _CLIENT_ARGUMENTS
    | _parameters(redis.ConnectionPool.__init__)
    | _parameters(redis.connection.AbstractConnection.__init__)
    | _parameters(redis.connection.Connection.__init__)
)


# Arguments that say where the server is, as a url does too.
_LOCATION_ARGUMENTS = ("host", "port", "db", "unix_socket_path")


class ConflictingArguments(ConfigurationError, TypeError):
    """Two ways to say where Redis is were given (huey 3.5.4 raises ConfigurationError)."""


def check_arguments(storage: str, params: Mapping[str, Any], url: str | None) -> None:
    """Refuse keyword arguments that no redis-py client or pool accepts, and a url given with
    arguments that place the server too."""
    placed = [name for name in _LOCATION_ARGUMENTS if name in params]
    if url and placed:
        raise ConflictingArguments(
            f"{storage}(): url= says where Redis is; drop {', '.join(placed)} (or the url)"
        )
    known = _URL_ARGUMENTS if url else _CLIENT_ARGUMENTS
    unknown = sorted(set(params) - known)
    if unknown:
        raise TypeError(
            f"{storage}() got unexpected keyword arguments: {', '.join(unknown)} (neither "
            "storage options nor redis.Redis arguments)"
        )


def with_defaults(params: Mapping[str, Any], read_timeout: float) -> dict[str, Any]:
    """``params`` plus timeouts that keep an outage from hanging a call."""
    options = dict(params)
    options.setdefault("socket_connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    options.setdefault(
        "socket_timeout", max(DEFAULT_SOCKET_TIMEOUT, float(read_timeout) + BLOCKING_MARGIN)
    )
    return options


def default_retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), DEFAULT_RETRIES)


class _Identity:
    """An unhashable argument (a Retry, an SSL context...) compared by identity in pool keys."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.value is self.value


def _freeze(value: Any) -> Hashable:
    if isinstance(value, list | tuple):
        return (type(value).__name__, *(_freeze(item) for item in value))
    if isinstance(value, dict):
        return ("dict", *sorted((str(k), _freeze(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return _Identity(value)
    return (type(value).__name__, value)


_pools: weakref.WeakValueDictionary[Hashable, redis.ConnectionPool] = weakref.WeakValueDictionary()
_pools_lock = threading.Lock()


def shared_pool(url: str | None, options: Mapping[str, Any]) -> redis.ConnectionPool:
    """The pool of every storage connecting with ``url`` and ``options``, made on first use."""
    key = (url, *sorted((name, _freeze(value)) for name, value in options.items()))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            kwargs = dict(options)
            kwargs.setdefault("retry", default_retry())
            if url:
                pool = redis.ConnectionPool.from_url(url, **kwargs)
            else:
                # Redis() turns its arguments into connection options (unix_socket_path, ssl,
                # ...); only its pool is kept, so no client ever closes a shared pool.
                client = redis.Redis(**kwargs)
                client.auto_close_connection_pool = False
                pool = client.connection_pool
            _pools[key] = pool
        return pool


class ThreadConnections:
    """Commands on a connection of the calling thread's (greenlet's, under gevent) own.

    The connections are made like the pool's (same class and options: a Sentinel pool's
    connections still find the current master) but stay with their thread, so a command is
    one round trip and no pool bookkeeping. A connection that fails is dropped and, if it had
    worked before (a server restart closed it while idle), the command is sent once more on a
    fresh one, as redis-py's own retry would. A forked child makes its own.
    """

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self._local = threading.local()
        self._opened: weakref.WeakSet[redis.connection.AbstractConnection] = weakref.WeakSet()
        self._opened_lock = threading.Lock()

    def execute(self, *args: Any) -> Any:
        """Send one command and return its reply, unparsed (bytes, ints, lists, None)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.conn = self.pool.connection_class(**self.pool.connection_kwargs)
            local.pid, local.used = os.getpid(), False
            with self._opened_lock:
                self._opened.add(local.conn)
        try:
            return self._round_trip(args)
        except redis.exceptions.ConnectionError:
            if not local.used:
                raise
            local.used = False
            return self._round_trip(args)

    def _round_trip(self, args: tuple[Any, ...]) -> Any:
        conn = self._local.conn
        try:
            # connect() first, as the pool does: it is a no-op once connected, and where a
            # connection must look its server up (Sentinel), only connect() does, not send.
            conn.connect()
            conn.send_packed_command(conn.pack_command(*args), check_health=False)
            reply = conn.read_response()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            conn.disconnect()
            raise
        self._local.used = True
        return reply

    def close(self) -> None:
        """Disconnect every thread's connection (one used again reconnects)."""
        with self._opened_lock:
            opened = list(self._opened)
        for conn in opened:
            conn.disconnect()


class ScriptCommand:
    """A Lua script run with ``EVALSHA`` through ``execute`` (loaded on a ``NOSCRIPT`` reply);
    called like redis-py's ``Script``: ``script(keys=[...], args=[...])``."""

    def __init__(self, execute: Any, source: str) -> None:
        self.execute = execute
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: list[Any] | tuple[()] = (), args: list[Any] | tuple[()] = ()) -> Any:
        try:
            return self.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self.execute("SCRIPT", "LOAD", self.source)
            return self.execute("EVALSHA", self.sha, len(keys), *keys, *args)


def socket_timeout_of(pool: redis.ConnectionPool) -> float | None:
    """The reply timeout of ``pool``'s connections (None: wait forever)."""
    value = pool.connection_kwargs.get("socket_timeout")
    return None if value is None else float(value)


__all__ = [
    "BLOCKING_MARGIN",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_RETRIES",
    "DEFAULT_SOCKET_TIMEOUT",
    "ScriptCommand",
    "ThreadConnections",
    "check_arguments",
    "shared_pool",
    "socket_timeout_of",
    "with_defaults",
]
