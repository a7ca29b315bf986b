"""Turning task messages and results into bytes and back.

``Serializer`` pickles by default; subclasses change the format by overriding ``_serialize`` and
``_deserialize``. Optional compression (gzip, or zlib with ``use_zlib=True``) wraps those hooks.

Reading detects compression from the data's own header, whatever this serializer's settings: a
gzip stream starts ``1f 8b`` and a zlib stream starts ``78`` followed by a valid zlib flag byte.
Data with neither header is passed to ``_deserialize`` unchanged. A pickle of protocol 2 or
higher always starts with ``80`` (the PROTO opcode), so for the default serializer the three
cases never overlap. A custom ``_serialize`` whose output could start with those bytes (not the
case for JSON text, for example) should not be mixed with compression detection.

``SignedSerializer`` appends ``b':'`` and a hex HMAC-SHA1 of the serialized payload, keyed with
``sha1(salt + secret)``; compression, if enabled, is applied to the signed bytes. This is the
layout huey 3.5.4 writes and reads, so signed data moves between the two in both directions.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import pickle
import zlib
from typing import Any

__all__ = ["Serializer", "SignedSerializer"]

_GZIP_MAGIC = b"\x1f\x8b"


def _is_zlib(data: bytes) -> bool:
    # RFC 1950 header: CM=8 with a 32K window (0x78), FCHECK making the pair a multiple of 31,
    # and no preset dictionary (FDICT bit clear), which is all zlib.compress ever writes.
    return (
        len(data) >= 2
        and data[0] == 0x78
        and (data[0] << 8 | data[1]) % 31 == 0
        and not data[1] & 0x20
    )


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"huey.serializer: expected bytes to deserialize, got {type(data).__name__}")


class Serializer:
    """Pickle-based serializer with optional gzip (default) or zlib compression.

    ``compression_level`` runs from 0 (fastest) to 9 (smallest). Override ``_serialize`` and
    ``_deserialize`` to use another format; ``serialize``/``deserialize`` add compression.
    """

    def __init__(
        self, compression: bool = False, compression_level: int = 6, use_zlib: bool = False
    ) -> None:
        if isinstance(compression_level, bool) or not isinstance(compression_level, int):
            raise TypeError("compression_level must be an int from 0 to 9")
        if not 0 <= compression_level <= 9:
            raise ValueError(f"compression_level must be from 0 to 9, not {compression_level}")
        self.compression = compression
        self.compression_level = compression_level
        self.use_zlib = use_zlib

    def _serialize(self, data: Any) -> bytes:
        return pickle.dumps(data, pickle.HIGHEST_PROTOCOL)

    def _deserialize(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise ValueError(
                f"huey.serializer: cannot unpickle {len(data)} bytes ({type(exc).__name__}: {exc})"
            ) from exc

    def _compress(self, data: bytes) -> bytes:
        if self.use_zlib:
            return zlib.compress(data, self.compression_level)
        return gzip.compress(data, self.compression_level)

    def _decompress(self, data: bytes) -> bytes:
        if data.startswith(_GZIP_MAGIC):
            kind = "gzip"
        elif _is_zlib(data):
            kind = "zlib"
        else:
            return data
        try:
            return gzip.decompress(data) if kind == "gzip" else zlib.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                f"huey.serializer: corrupt {kind} data ({len(data)} bytes): {exc}"
            ) from exc

    def serialize(self, data: Any) -> bytes:
        """Return ``data`` as bytes, compressed if this serializer compresses."""
        payload = self._serialize(data)
        return self._compress(payload) if self.compression else payload

    def deserialize(self, data: bytes) -> Any:
        """Return the object in ``data``, which may be gzip-, zlib- or un-compressed.

        Raises ``ValueError`` if the data cannot be decompressed or deserialized.
        """
        return self._deserialize(self._decompress(_as_bytes(data)))


class SignedSerializer(Serializer):
    """A ``Serializer`` that signs what it writes and refuses data it cannot verify.

    Before compression the data is ``payload + b':' + hex(HMAC-SHA1(key, payload))`` where
    ``payload`` is the output of ``_serialize`` and ``key = sha1(salt + secret)``. ``secret`` and
    ``salt`` may be str (UTF-8 encoded) or bytes. Signing does not encrypt.

    Compressed data is decompressed before its signature can be checked (the signature is inside
    the compressed stream, as in huey 3.5.4).
    """

    def __init__(self, secret: str | bytes, salt: str | bytes = "huey", **kwargs: Any) -> None:
        if not isinstance(secret, str | bytes) or not secret:
            raise ValueError("SignedSerializer requires a non-empty str or bytes secret")
        if not isinstance(salt, str | bytes):
            raise TypeError("SignedSerializer salt must be str or bytes")
        super().__init__(**kwargs)
        self.salt = salt
        raw_secret = secret.encode() if isinstance(secret, str) else secret
        raw_salt = salt.encode() if isinstance(salt, str) else salt
        self._key = hashlib.sha1(raw_salt + raw_secret).digest()

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha1).hexdigest().encode("ascii")

    def serialize(self, data: Any) -> bytes:
        payload = self._serialize(data)
        signed = payload + b":" + self._signature(payload)
        return self._compress(signed) if self.compression else signed

    def deserialize(self, data: bytes) -> Any:
        """Verify the signature, then deserialize; ``ValueError`` if it is missing or wrong."""
        payload, sep, signature = self._decompress(_as_bytes(data)).rpartition(b":")
        if not sep:
            raise ValueError("huey.serializer: data is not signed (no b':' signature separator)")
        if not hmac.compare_digest(signature, self._signature(payload)):
            raise ValueError(
                "huey.serializer: signature does not match; the data was tampered with "
                "or signed with a different secret or salt"
            )
        return self._deserialize(payload)
