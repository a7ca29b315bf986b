"""SQLite storage for huey: ``SqliteHuey`` and ``SqliteStorage``, and ``CySqliteHuey`` and
``CySqliteStorage`` on the ``cysqlite`` driver (the ``huey-sqlite[cysqlite]`` extra).

All are also reachable at their documented paths (``huey.SqliteHuey``,
``huey.storage.SqliteStorage``, ...) through the ``huey.exports`` entry points.
"""

from huey.api import Huey
from huey.backends.sqlite._cysqlite import CySqliteStorage
from huey.backends.sqlite._storage import SqliteStorage
from huey.backends.sqlite._version import __version__


class SqliteHuey(Huey):
    """Huey on an SQLite file (``filename``, default ``huey.db``); priorities supported."""

    storage_class = SqliteStorage


class CySqliteHuey(Huey):
    """Huey on an SQLite file through ``cysqlite``, tuned by a ``pragmas`` mapping."""

    storage_class = CySqliteStorage


__all__ = ["CySqliteHuey", "CySqliteStorage", "SqliteHuey", "SqliteStorage", "__version__"]
