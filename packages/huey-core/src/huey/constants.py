"""Sentinels shared by the storage layer and the API."""

from __future__ import annotations

from typing import Final


class _EmptyData:
    """Returned by storages when a key holds no value (``None`` is a valid stored value)."""

    _instance: _EmptyData | None = None

    def __new__(cls) -> _EmptyData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EmptyData"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "EmptyData"


EmptyData: Final = _EmptyData()
