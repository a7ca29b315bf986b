"""huey on Valkey or Redis OSS through the official valkey-glide client.

``ValkeyGlideHuey`` is a ``Huey`` whose storage, ``ValkeyGlideStorage``, talks to the server
with valkey-glide (``pip install 'huey-redis[glide]'``; import name ``glide``) instead of
redis-py::

    from huey.contrib.valkey_glide import ValkeyGlideHuey

    huey = ValkeyGlideHuey("my-app", host="10.0.0.5", port=6379)

The keys and values are exactly those of ``RedisHuey``:

=====================================  =================================================
``huey.redis.<name>``                  list: LPUSH, consumed from the right (BRPOP/RPOP)
``huey.schedule.<name>``               sorted set, scored by the eta as a unix timestamp
``huey.results.<name>``                hash: results, locks, revocations, other entries
``huey.counters.<name>``               hash of counters (HINCRBY)
``huey.notify.<name>.<key>``           with ``notify_result=True``: result-ready list
``huey.leases.<name>``                 leases: hash, lease id -> ``<deliveries>:<message>``
``huey.lease_deadlines.<name>``        leases: sorted set, lease id -> deadline (ms)
``huey.dead.<name>``                   dead letters: hash
=====================================  =================================================

where ``<name>`` is the queue name without characters outside ``[A-Za-z0-9_]``. A queue
written by ``RedisHuey`` (this project's or huey 3.x's) is therefore read by
``ValkeyGlideHuey`` and the reverse, and both kinds of consumer can serve one queue.

Task priorities are not supported (``supports_priority`` is False), as with ``RedisHuey``;
a ``PriorityRedisHuey`` queue (a sorted set under the same key) cannot be shared.
``dequeue`` blocks (BRPOP, ``read_timeout`` seconds) unless ``blocking=False``. Leases
(``supports_leases``, for at-least-once delivery) and dead letters are those of ``RedisHuey``,
on the same keys and through the same Lua scripts.

The storage is synchronous and usable from any thread, from forked worker processes and
from gevent-patched greenlets (``huey_consumer -k thread``, ``-k process``, ``-k greenlet``):
glide's asyncio client runs on a private event loop of each process (on a thread of its own,
a greenlet once gevent has patched ``threading``). Non-blocking commands share one connection
per process; each thread that blocks in ``dequeue`` gets a connection of its own.
"""

from __future__ import annotations

from huey.api import Huey
from huey.contrib.valkey_glide._storage import ValkeyGlideStorage, key_name


class ValkeyGlideHuey(Huey):
    """Huey on Valkey/Redis through valkey-glide; see ``ValkeyGlideStorage`` for parameters."""

    storage_class = ValkeyGlideStorage


__all__ = ["ValkeyGlideHuey", "ValkeyGlideStorage", "key_name"]
