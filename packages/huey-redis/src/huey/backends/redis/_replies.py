"""Replies of commands and scripts as the storages hand them on (shared with valkey-glide's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from huey.constants import EmptyData


def as_bytes(value: Any) -> bytes:
    """A reply as bytes (replies are bytes: the storages refuse ``decode_responses``)."""
    return value if isinstance(value, bytes) else bytes(value)


def revocation_fields(reply: Sequence[Any]) -> dict[str, Any]:
    """``[field, value, field, value...]`` of the results hash, as a script that read a
    message's revocation fields returns them, as a dict (``EmptyData`` for nil); a field name
    that is no text (it cannot be a key Huey asks for) is left out."""
    fields = {}
    for name, value in zip(reply[::2], reply[1::2], strict=True):
        try:
            # As pickle encodes text, so a name matches the key made of the task's id.
            key = name.decode("utf-8", "surrogatepass") if isinstance(name, bytes) else name
        except UnicodeDecodeError:
            continue
        fields[key] = EmptyData if value is None else as_bytes(value)
    return fields


__all__ = ["as_bytes", "revocation_fields"]
