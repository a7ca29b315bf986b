"""Redis storage for huey: ``RedisHuey``, ``PriorityRedisHuey``, ``RedisExpireHuey``,
``PriorityRedisExpireHuey`` and their storages.

All are also reachable at their documented paths (``huey.RedisHuey``,
``huey.storage.RedisStorage``, ...) through the ``huey.exports`` entry points, and the
storages are registered in ``huey.storages`` as ``redis``, ``priority_redis``,
``redis_expire`` and ``priority_redis_expire``.

Redis Cluster, which huey 3.x does not support, has twins of each (``RedisClusterHuey``, ...)
on redis-py's ``RedisCluster``: every key of a queue is hash-tagged into one slot.
"""

from huey.api import Huey
from huey.backends.redis._cluster import (
    PriorityRedisClusterExpireHuey,
    PriorityRedisClusterExpireStorage,
    PriorityRedisClusterHuey,
    PriorityRedisClusterStorage,
    RedisClusterExpireHuey,
    RedisClusterExpireStorage,
    RedisClusterHuey,
    RedisClusterStorage,
)
from huey.backends.redis._keys import HashTaggedKeyLayout, KeyLayout
from huey.backends.redis._storage import (
    PriorityRedisExpireStorage,
    PriorityRedisStorage,
    RedisExpireStorage,
    RedisStorage,
)
from huey.backends.redis._version import __version__


class RedisHuey(Huey):
    """Huey on Redis: a list for the queue, a hash for results (no priorities)."""

    storage_class = RedisStorage


class PriorityRedisHuey(Huey):
    """Huey on Redis with task priorities (Redis 5.0 or newer)."""

    storage_class = PriorityRedisStorage


class RedisExpireHuey(Huey):
    """Huey on Redis whose results expire (``expire_time`` seconds, default one day)."""

    storage_class = RedisExpireStorage


class PriorityRedisExpireHuey(Huey):
    """``PriorityRedisHuey`` whose results expire, as ``RedisExpireHuey``'s do."""

    storage_class = PriorityRedisExpireStorage


__all__ = [
    "HashTaggedKeyLayout",
    "KeyLayout",
    "PriorityRedisClusterExpireHuey",
    "PriorityRedisClusterExpireStorage",
    "PriorityRedisClusterHuey",
    "PriorityRedisClusterStorage",
    "PriorityRedisExpireHuey",
    "PriorityRedisExpireStorage",
    "PriorityRedisHuey",
    "PriorityRedisStorage",
    "RedisClusterExpireHuey",
    "RedisClusterExpireStorage",
    "RedisClusterHuey",
    "RedisClusterStorage",
    "RedisExpireHuey",
    "RedisExpireStorage",
    "RedisHuey",
    "RedisStorage",
    "__version__",
]
