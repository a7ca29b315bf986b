"""The storage conformance suite on a real three-master Redis Cluster, for every cluster
storage: ``RedisClusterStorage``, ``PriorityRedisClusterStorage``, ``RedisClusterExpireStorage``
and ``PriorityRedisClusterExpireStorage``.

All tests share the session's cluster (one database): the factory empties each queue name the
first time a test asks for it, and again when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis_servers import RedisClusterHandle

from huey.backends.redis._cluster import (
    PriorityRedisClusterExpireStorage,
    PriorityRedisClusterStorage,
    RedisClusterExpireStorage,
    RedisClusterStorage,
)
from huey.testing.conformance import StorageConformance, StorageFactory

CLUSTER_STORAGES = [
    RedisClusterStorage,
    PriorityRedisClusterStorage,
    RedisClusterExpireStorage,
    PriorityRedisClusterExpireStorage,
]


class TestClusterConformance(StorageConformance):
    @pytest.fixture(params=CLUSTER_STORAGES, ids=lambda cls: cls.__name__)
    def storage_factory(
        self,
        request: pytest.FixtureRequest,
        redis_cluster: RedisClusterHandle,
        wipe_queue: Callable[[str], None],
    ) -> StorageFactory:
        storage_class = request.param
        nodes = redis_cluster.startup_nodes

        def make(name: str) -> RedisClusterStorage:
            wipe_queue(name)
            return storage_class(name, startup_nodes=nodes)

        return make
