"""The cluster storages at their public paths: ``huey.backends.redis``, the ``huey.exports``
names (``huey.RedisClusterHuey``, ``huey.storage.RedisClusterStorage``...) and the
``huey.storages`` backends ``redis_cluster``, ``priority_redis_cluster``, ``redis_cluster_expire``
and ``priority_redis_cluster_expire``. Needs no server.
"""

from __future__ import annotations

import huey
import huey.api
import huey.backends.redis
import huey.storage
from huey.backends.redis import _cluster

HUEYS = {
    "RedisClusterHuey": "RedisClusterStorage",
    "PriorityRedisClusterHuey": "PriorityRedisClusterStorage",
    "RedisClusterExpireHuey": "RedisClusterExpireStorage",
    "PriorityRedisClusterExpireHuey": "PriorityRedisClusterExpireStorage",
}
BACKENDS = {
    "redis_cluster": "RedisClusterStorage",
    "priority_redis_cluster": "PriorityRedisClusterStorage",
    "redis_cluster_expire": "RedisClusterExpireStorage",
    "priority_redis_cluster_expire": "PriorityRedisClusterExpireStorage",
}


def test_package_exports() -> None:
    for huey_name, storage_name in HUEYS.items():
        for name in (huey_name, storage_name):
            assert getattr(huey.backends.redis, name) is getattr(_cluster, name)
            assert name in huey.backends.redis.__all__


def test_documented_style_paths() -> None:
    for huey_name, storage_name in HUEYS.items():
        huey_class = getattr(_cluster, huey_name)
        assert getattr(huey, huey_name) is huey_class
        assert getattr(huey.api, huey_name) is huey_class
        assert getattr(huey.storage, storage_name) is getattr(_cluster, storage_name)
        assert huey_class.storage_class is getattr(_cluster, storage_name)


def test_backends_are_registered() -> None:
    backends = {backend.name: backend for backend in huey.list_backends()}
    for name, storage_name in BACKENDS.items():
        assert name in backends, f"{name} is not in the huey.storages entry points"
        assert backends[name].storage_class is getattr(_cluster, storage_name)
        assert backends[name].distribution == "huey-redis"
