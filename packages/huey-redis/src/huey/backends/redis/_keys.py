"""Where one queue's data lives in Redis: every key name the storages use is made here.

The names are those huey 3.5.4 uses, so a queue, its schedule and its results move between the
two in either direction:

=========================  ==================================  ============================
purpose                    key                                 type
=========================  ==================================  ============================
queue                      ``huey.redis.<name>``               list, or sorted set with
                                                               priorities
schedule                   ``huey.schedule.<name>``            sorted set
results and other data     ``huey.results.<name>``             hash
counters                   ``huey.counters.<name>``            hash
field deadlines            ``huey.expiry.<name>``              sorted set: results field
                                                               scored by when it expires
                                                               (server ms; servers without
                                                               HPEXPIRE only)
result notification        ``huey.notify.<name>.<key>``        list with a TTL
expire storages: data      ``huey.r.<name>.<key>``             string
expire storages: counters  ``huey.c.<name>.<key>``             string
leased messages            ``huey.leases.<name>``              hash: lease id ->
                                                               ``<deliveries>:<message>``
lease deadlines            ``huey.lease_deadlines.<name>``     sorted set: lease id scored
                                                               by its deadline (server ms)
dead letters               ``huey.dead.<name>``                hash: key -> record
=========================  ==================================  ============================

The last three are new (huey 3.5.4 has no leases) and appear only once leases or dead letters
are used: a queue that never leases stays exactly as huey 3.5.4 lays it out. So is the field
deadlines set, written only by ``put_if_empty(..., ttl=...)`` on a server without HPEXPIRE.

Every Lua script of the storages receives its keys from here, in ``KEYS``, and touches the
keys of one queue only. A Redis Cluster layout only has to put one queue's keys in one hash
slot: :class:`HashTaggedKeyLayout` wraps the queue name in a hash tag (``huey.redis.{name}``),
which keeps every script valid there. Those names differ from huey 3.5.4's, which never ran on
a cluster.
"""

from __future__ import annotations

import re

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_]")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def clean_name(name: str) -> str:
    """The queue name as Redis keys carry it: only ASCII letters, digits and underscores."""
    return _NOT_ALLOWED.sub("", name)


class KeyLayout:
    """The Redis key names of the queue ``name`` (already cleaned, if it is to be)."""

    def __init__(self, name: str) -> None:
        self.name = name
        part = self.name_part(name)
        self._part = part
        self.queue = f"huey.redis.{part}"
        self.schedule = f"huey.schedule.{part}"
        self.results = f"huey.results.{part}"
        self.counters = f"huey.counters.{part}"
        self.expiry = f"huey.expiry.{part}"
        self.leases = f"huey.leases.{part}"
        self.lease_deadlines = f"huey.lease_deadlines.{part}"
        self.dead_letters = f"huey.dead.{part}"
        self.notify_prefix = f"huey.notify.{part}."
        self._data_prefix = f"huey.r.{part}."
        self._counter_prefix = f"huey.c.{part}."

    @staticmethod
    def name_part(name: str) -> str:
        """How the queue name appears inside every key; the one place cluster mode changes."""
        return name

    # -- per-key names -------------------------------------------------------------------------
    def notify(self, key: str) -> str:
        """The list a result write pushes to, to wake readers blocked on ``key``."""
        return self.notify_prefix + key

    def data(self, key: str) -> str:
        """A key/value entry of an expire storage (a plain string key)."""
        return self._data_prefix + key

    def counter(self, key: str) -> str:
        """A counter of an expire storage (a plain string key)."""
        return self._counter_prefix + key

    # -- scanning the per-key names of expire storages -----------------------------------------
    @property
    def data_pattern(self) -> str:
        """A SCAN ``MATCH`` pattern for every :meth:`data` key of this queue."""
        return _glob_escape(self._data_prefix) + "*"

    @property
    def counter_pattern(self) -> str:
        """A SCAN ``MATCH`` pattern for every :meth:`counter` key of this queue."""
        return _glob_escape(self._counter_prefix) + "*"

    def data_key_name(self, redis_key: bytes) -> str:
        """The key/value key that :meth:`data` turned into ``redis_key``."""
        return redis_key[len(self._data_prefix.encode()) :].decode("utf-8")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {self.queue}, {self.results}, ...>"


class HashTaggedKeyLayout(KeyLayout):
    """The same names with the queue name as a hash tag: one queue, one cluster hash slot."""

    @staticmethod
    def name_part(name: str) -> str:
        return "{" + name + "}"


def _glob_escape(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


__all__ = ["HashTaggedKeyLayout", "KeyLayout", "clean_name"]
