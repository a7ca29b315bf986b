"""SQLite storage for huey: ``SqliteHuey`` and ``SqliteStorage``.

Both are also reachable at their documented paths, ``huey.SqliteHuey`` and
``huey.storage.SqliteStorage``, through the ``huey.exports`` entry points.
"""

from huey.api import Huey
from huey.backends.sqlite._storage import SqliteStorage
from huey.backends.sqlite._version import __version__


class SqliteHuey(Huey):
    """Huey on an SQLite file (``filename``, default ``huey.db``); priorities supported."""

    storage_class = SqliteStorage


__all__ = ["SqliteHuey", "SqliteStorage", "__version__"]
