"""Storage backends: the ``BaseStorage`` contract and core's memory, file and black-hole storages.

Storages of other distributions (``SqliteStorage``, ``RedisStorage``, ...) resolve lazily here
through entry points; see ``huey.list_backends()``.
"""

from __future__ import annotations

import importlib
from typing import Any

from huey._file_storage import FileStorage
from huey._memory_storage import BlackHoleStorage, MemoryStorage
from huey._plugins import resolve_export
from huey._storage_base import BaseStorage, Key, Lease, check_ttl, key_text
from huey.constants import EmptyData

__all__ = [
    "BaseStorage",
    "BlackHoleStorage",
    "EmptyData",
    "FileStorage",
    "Key",
    "Lease",
    "MemoryStorage",
    "check_ttl",
    "key_text",
]


def __getattr__(name: str) -> Any:
    if name.endswith("Storage"):
        return resolve_export(name, __name__)
    if name == "cysqlite":  # As in huey 3.5.4: the optional driver, None when not installed.
        try:
            return importlib.import_module("cysqlite")
        except ImportError:
            return None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
