"""``CySqliteStorage``: ``SqliteStorage`` driven by the ``cysqlite`` package instead of
the standard library's ``sqlite3`` (``pip install 'huey-sqlite[cysqlite]'``).

The file, tables and behaviour are ``SqliteStorage``'s, so the two (and huey 3.5.4's
``SqliteHuey`` and ``CySqliteHuey``) share one database. Only the connection differs: it is
tuned by an open-ended ``pragmas`` mapping, applied to every connection the storage opens.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from huey.backends.sqlite._storage import SqliteStorage
from huey.exceptions import ConfigurationError

INSTALL_HINT = (
    "CySqliteStorage needs the cysqlite package: pip install 'huey-sqlite[cysqlite]' "
    "(or pip install cysqlite)"
)


def _import_cysqlite() -> ModuleType:
    try:
        return importlib.import_module("cysqlite")  # An optional dependency: the extra.
    except ImportError as exc:
        raise ConfigurationError(INSTALL_HINT) from exc


class CySqliteStorage(SqliteStorage):
    """A queue in an SQLite database file, through ``cysqlite``.

    ``pragmas`` maps pragma names to values for every connection; ``journal_mode`` defaults to
    ``wal``. ``SqliteStorage``'s ``cache_mb``, ``fsync`` and ``journal_mode`` are accepted too,
    as the ``cache_size``, ``synchronous`` and ``journal_mode`` pragmas they stand for (and
    win over the same pragma in ``pragmas``). Other keyword arguments go to
    ``cysqlite.connect()``.
    """

    def __init__(
        self,
        name: str = "huey",
        filename: str = "huey.db",
        pragmas: Mapping[str, Any] | None = None,
        timeout: float = 5,
        strict_fifo: bool = False,
        create_tables: bool = True,
        *,
        cache_mb: int | None = None,
        fsync: bool | None = None,
        journal_mode: str | None = None,
        blocking: bool = True,
        read_timeout: float = 1,
        **kwargs: Any,
    ) -> None:
        self._cysqlite = _import_cysqlite()
        self._operational_error = self._cysqlite.OperationalError
        merged: dict[str, Any] = {"journal_mode": "wal", **(pragmas or {})}
        if cache_mb is not None:
            merged["cache_size"] = -1000 * int(cache_mb)
        if fsync is not None:
            merged["synchronous"] = 2 if fsync else 1  # FULL, or NORMAL.
        if journal_mode is not None:
            merged["journal_mode"] = journal_mode
        self.pragmas = merged
        super().__init__(
            name,
            filename=filename,
            timeout=timeout,
            strict_fifo=strict_fifo,
            blocking=blocking,
            read_timeout=read_timeout,
            create_tables=create_tables,
            journal_mode=str(merged["journal_mode"]),
            **kwargs,
        )

    def _connect(self) -> Any:
        try:
            conn = self._cysqlite.connect(
                self.filename, timeout=self.timeout, **self._connect_kwargs
            )
        except TypeError as exc:
            raise TypeError(f"invalid cysqlite.connect argument: {exc}") from exc
        for pragma, value in self.pragmas.items():
            # Retried like every statement: switching to WAL may meet another writer's lock.
            self._with_retry(functools.partial(conn.pragma, pragma, value))
        return conn


__all__ = ["CySqliteStorage"]
