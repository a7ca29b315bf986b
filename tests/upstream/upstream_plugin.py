"""Loaded (``-p upstream_plugin``) into the pytest subprocess that runs one huey 3.5.4 file.

huey's tests connect to Redis with redis-py's defaults (localhost:6379) and flush databases.
The shared server at 127.0.0.1:6379 belongs to nobody's tests, so every connection to the
default port goes to the private server the harness started instead
(``HUEY_UPSTREAM_REDIS_PORT``). Nothing else is changed.
"""

from __future__ import annotations

import os
from typing import Any

import redis.connection

DEFAULT_PORT = 6379
_private_port = int(os.environ["HUEY_UPSTREAM_REDIS_PORT"])
_connection_init = redis.connection.Connection.__init__


def _private_connection_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _connection_init(self, *args, **kwargs)
    if int(self.port) == DEFAULT_PORT:
        self.host, self.port = "127.0.0.1", _private_port


redis.connection.Connection.__init__ = _private_connection_init  # type: ignore[method-assign]


def pytest_deselected(items: list[Any]) -> None:
    """Record what was deselected, so the harness can tell a stale exclusion from a real one."""
    with open(os.environ["HUEY_UPSTREAM_DESELECTED"], "a") as record:
        record.writelines(f"{item.nodeid}\n" for item in items)
