"""Redis Cluster storages: the Redis storages on redis-py's ``redis.cluster.RedisCluster``.

huey 3.5.4 does not run on a cluster. Here every storage of ``_storage`` has a cluster twin
(``RedisClusterStorage``, ``PriorityRedisClusterStorage``, ``RedisClusterExpireStorage``,
``PriorityRedisClusterExpireStorage``) that differs in two things only:

- the client is a ``RedisCluster``, which sends each command to the master owning its key's
  hash slot and follows ``MOVED``/``ASK`` redirections and topology changes;
- the key names carry the queue name as a hash tag (``huey.redis.{name}``,
  ``huey.results.{name}``, ``huey.notify.{name}.<key>``, ``huey.r.{name}.<key>``...; see
  ``HashTaggedKeyLayout``), so every key of one queue is in one slot, on one master.

Everything else is the Redis storages' own code: one queue's commands and Lua scripts (every
script declares its keys in ``KEYS``, all of one queue) run on the one master owning the
queue's slot, blocking ``BRPOP``/``BZPOPMIN``/``BLPOP`` included, and different queues spread
over the masters. Those key names differ from ``RedisStorage``'s: a cluster queue is not
readable by ``RedisHuey`` on a single server, nor by huey 3.5.4.

Where the cluster is: ``cluster=`` (a ready ``RedisCluster``, used as it is), or
``startup_nodes=`` (``ClusterNode``s, ``(host, port)`` pairs or ``"host:port"`` strings),
``url=`` (``redis://host:port``) or ``host=``/``port=``, plus any ``RedisCluster`` argument
(``retry``, ``require_full_coverage``...) or per-node connection argument (``password``,
``ssl``, ``socket_timeout``...); an unknown one is a ``TypeError``. Unless given, connections
get ``RedisStorage``'s outage-safe timeouts.
Storages given the same arguments share one client, made on first use: building a storage
never connects, so an application imports while the cluster is down and a consumer started
then logs the errors and carries on once it is up.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, ClassVar, cast

import redis
from huey.api import Huey
from huey.backends.redis._connection import _freeze, _parameters, with_defaults
from huey.backends.redis._keys import HashTaggedKeyLayout, KeyLayout
from huey.backends.redis._storage import (
    PriorityRedisExpireStorage,
    PriorityRedisStorage,
    RedisExpireStorage,
    RedisStorage,
)
from redis.cluster import REDIS_ALLOWED_KEYS, ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.crc import key_slot

# Arguments of RedisCluster() itself, and the connection arguments it hands to every node's
# client (it silently drops any other). Not: db (a cluster has only database 0), a
# connection_pool (per node, made by the client) and the client's own hooks.
_CLUSTER_ARGUMENTS = frozenset(
    (_parameters(RedisCluster.__init__) - {"kwargs"})
    | (set(REDIS_ALLOWED_KEYS) - {"db", "connection_pool", "redis_connect_func", "nodes_flag"})
)


class ClusterKeyLayout(HashTaggedKeyLayout):
    """``HashTaggedKeyLayout`` refusing a queue name whose hash tag would be empty: Redis then
    hashes each whole key name, and the queue's keys would scatter over the slots."""

    def __init__(self, name: str) -> None:
        if not name or name.startswith("}"):
            raise ValueError(
                f"queue name {name!r} cannot be a Redis Cluster hash tag (it must not be empty "
                "or start with '}' once cleaned)"
            )
        super().__init__(name)


def startup_node(node: Any) -> tuple[str, int]:
    """``(host, port)`` of a startup node given as a ``ClusterNode``, a ``(host, port)`` pair,
    a ``{"host": ..., "port": ...}`` mapping or a ``"host:port"`` string."""
    if isinstance(node, ClusterNode):
        return str(node.host), int(node.port)
    if isinstance(node, str):
        host, sep, port = node.rpartition(":")
        if not sep or not host:
            raise ValueError(f"startup node {node!r} is not 'host:port'")
        return host.strip("[]"), int(port)
    if isinstance(node, Mapping):
        return str(node["host"]), int(node["port"])
    host, port = node
    return str(host), int(port)


class SharedCluster:
    """One ``RedisCluster``, made on first use (its discovery needs a reachable node) and
    shared by every storage built with the same arguments; attribute access is delegated."""

    def __init__(
        self, url: str | None, nodes: list[tuple[str, int]], options: Mapping[str, Any]
    ) -> None:
        self.url = url
        self.nodes = nodes
        self.options = dict(options)
        self._client: RedisCluster | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> RedisCluster:
        """The client, discovering the cluster first if this is the first use. Raises
        ``redis.exceptions.RedisClusterException`` when no startup node answers; the next
        use tries again."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
                client = self._client
        return client

    def _connect(self) -> RedisCluster:
        options = dict(self.options)
        if not (self.url or self.nodes or "host" in options):
            options["host"] = "localhost"  # As RedisStorage: localhost:6379 by default.
        startup = [ClusterNode(host, port) for host, port in self.nodes]
        return RedisCluster(url=self.url, startup_nodes=startup or None, **options)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # Not delegated (nor looked up before __init__ ran).
            raise AttributeError(name)
        return getattr(self.client, name)

    def __repr__(self) -> str:
        if self.url:
            where = self.url
        elif self.nodes:
            where = ",".join(f"{host}:{port}" for host, port in self.nodes)
        else:
            where = f"{self.options.get('host', 'localhost')}:{self.options.get('port', 6379)}"
        return f"<SharedCluster {where}>"


_clusters: weakref.WeakValueDictionary[Hashable, SharedCluster] = weakref.WeakValueDictionary()
_clusters_lock = threading.Lock()


def shared_cluster(
    url: str | None, nodes: list[tuple[str, int]], options: Mapping[str, Any]
) -> SharedCluster:
    """The client of every storage connecting with ``url``, ``nodes`` and ``options``."""
    key = (url, tuple(nodes), *sorted((name, _freeze(value)) for name, value in options.items()))
    with _clusters_lock:
        shared = _clusters.get(key)
        if shared is None:
            shared = _clusters[key] = SharedCluster(url, nodes, options)
        return shared


class _ClusterMixin:
    """What turns a Redis storage into its cluster twin: the client and the key layout."""

    key_layout_class: ClassVar[type[KeyLayout]] = ClusterKeyLayout
    name: str
    conn: Any
    keys: KeyLayout
    _command: Callable[..., Any]

    def _connect(
        self,
        connection_pool: redis.ConnectionPool | None,
        url: str | None,
        client_name: str | None,
        read_timeout: float,
        connection_params: dict[str, Any],
    ) -> float | None:
        storage = type(self).__name__
        cluster = connection_params.pop("cluster", None)
        nodes = connection_params.pop("startup_nodes", None)
        if connection_pool is not None:
            raise TypeError(
                f"{storage}(): connection_pool= is one server's pool; give cluster= (a "
                "redis.cluster.RedisCluster), startup_nodes=, url= or host=/port="
            )
        if cluster is not None:
            given = sorted(connection_params) + ["url"] * bool(url)
            given += ["startup_nodes"] * (nodes is not None)
            given += ["client_name"] * (client_name is not None)
            if given:
                raise TypeError(
                    f"{storage}(): cluster= is used as it is; configure {', '.join(given)} "
                    "on the client instead"
                )
            if not isinstance(cluster, RedisCluster):
                raise TypeError(
                    f"{storage}(): cluster= must be a redis.cluster.RedisCluster, not "
                    f"{type(cluster).__name__}"
                )
            options: Mapping[str, Any] = cluster.nodes_manager.connection_kwargs
            self.cluster_client: RedisCluster | SharedCluster = cluster
        else:
            unknown = sorted(set(connection_params) - _CLUSTER_ARGUMENTS)
            if unknown:
                raise TypeError(
                    f"{storage}() got unexpected keyword arguments: {', '.join(unknown)} "
                    "(neither storage options nor redis.cluster.RedisCluster arguments)"
                )
            if client_name is not None:
                connection_params["client_name"] = client_name
            options = with_defaults(connection_params, read_timeout)
            startup = [startup_node(node) for node in _as_list(nodes)]
            self.cluster_client = shared_cluster(url, startup, options)
        if options.get("decode_responses"):
            raise ValueError(
                f"{storage}(): decode_responses must be off: messages and results are bytes"
            )
        # The storages' commands are the same on RedisCluster as on Redis; the client routes
        # each to the master of its key's slot.
        self.conn = cast(Any, self.cluster_client)
        self._command = lambda *args: self.conn.execute_command(*args)
        timeout = options.get("socket_timeout")
        return None if timeout is None else float(timeout)

    @property
    def cluster(self) -> RedisCluster:
        """The ``RedisCluster`` client (connecting to the cluster if it has not yet)."""
        client = self.cluster_client
        return client.client if isinstance(client, SharedCluster) else client

    def _script(self, source: str) -> Script:
        # As register_script() does, without making the client (and connecting) already.
        return Script(self.conn, source.encode())

    def hash_slot(self) -> int:
        """The cluster hash slot holding every key of this queue."""
        return int(key_slot(self.keys.queue.encode()))

    def close(self) -> bool:
        """Nothing to give back: the client is shared (or the caller's) and stays open; a
        shared client is closed once no storage uses it any more."""
        return True

    def __repr__(self) -> str:
        client = self.cluster_client
        if isinstance(client, SharedCluster):
            where = repr(client)
        else:
            where = ",".join(node.name for node in client.get_primaries()) or repr(client)
        return f"<{type(self).__name__} {self.name!r} on {where}>"


def _as_list(nodes: Any) -> list[Any]:
    if nodes is None:
        return []
    if isinstance(nodes, str | ClusterNode | Mapping):
        return [nodes]  # One node.
    return list(cast(Iterable[Any], nodes))


class RedisClusterStorage(_ClusterMixin, RedisStorage):
    """``RedisStorage`` on a Redis Cluster: each queue's keys are hash-tagged into one slot.

    Arguments are ``RedisStorage``'s, except where the cluster is: ``cluster`` (a
    ``redis.cluster.RedisCluster``, used as it is), or ``startup_nodes``, ``url`` or
    ``host``/``port``, with any ``RedisCluster`` or connection argument; ``connection_pool``
    is refused.
    """


class PriorityRedisClusterStorage(_ClusterMixin, PriorityRedisStorage):
    """``PriorityRedisStorage`` on a Redis Cluster (see ``RedisClusterStorage``)."""


class RedisClusterExpireStorage(_ClusterMixin, RedisExpireStorage):
    """``RedisExpireStorage`` on a Redis Cluster (see ``RedisClusterStorage``): each result and
    counter key carries the queue's hash tag too (listing them scans every master)."""


class PriorityRedisClusterExpireStorage(_ClusterMixin, PriorityRedisExpireStorage):
    """``PriorityRedisExpireStorage`` on a Redis Cluster (see ``RedisClusterStorage``)."""


class RedisClusterHuey(Huey):
    """``RedisHuey`` on a Redis Cluster: ``RedisClusterHuey("app", startup_nodes=[...])``."""

    storage_class = RedisClusterStorage


class PriorityRedisClusterHuey(Huey):
    """``PriorityRedisHuey`` on a Redis Cluster."""

    storage_class = PriorityRedisClusterStorage


class RedisClusterExpireHuey(Huey):
    """``RedisExpireHuey`` on a Redis Cluster."""

    storage_class = RedisClusterExpireStorage


class PriorityRedisClusterExpireHuey(Huey):
    """``PriorityRedisExpireHuey`` on a Redis Cluster."""

    storage_class = PriorityRedisClusterExpireStorage


__all__ = [
    "ClusterKeyLayout",
    "PriorityRedisClusterExpireHuey",
    "PriorityRedisClusterExpireStorage",
    "PriorityRedisClusterHuey",
    "PriorityRedisClusterStorage",
    "RedisClusterExpireHuey",
    "RedisClusterExpireStorage",
    "RedisClusterHuey",
    "RedisClusterStorage",
    "SharedCluster",
    "shared_cluster",
    "startup_node",
]
