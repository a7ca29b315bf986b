"""Helpers of the Redis Cluster tests: the keys of one queue, on the nodes that hold them."""

from __future__ import annotations

import redis
from redis_servers import RedisClusterHandle


def queue_keys(redis_cluster: RedisClusterHandle, tag: str) -> dict[int, list[bytes]]:
    """Every key carrying the hash tag ``{tag}``, by the port of the node holding it."""
    found: dict[int, list[bytes]] = {}
    for port in redis_cluster.ports:
        with redis.Redis(port=port) as node:
            keys = sorted(node.scan_iter(match=f"*{{{tag}}}*", count=1000))
        if keys:
            found[port] = keys
    return found


def wipe(redis_cluster: RedisClusterHandle, tag: str) -> None:
    """Delete every key carrying the hash tag ``{tag}`` (keys these tests wrote)."""
    for port, keys in queue_keys(redis_cluster, tag).items():
        with redis.Redis(port=port) as node:
            node.delete(*keys)
