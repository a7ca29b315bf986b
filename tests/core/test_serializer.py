"""Serializer and SignedSerializer: round trips, compression detection, signatures, bad input."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import hmac
import json
import pickle
import zlib
from typing import Any

import pytest

from huey.serializer import Serializer, SignedSerializer

OBJ: dict[str, Any] = {
    "id": "0b3b6c9e",
    "args": (1, 2.5, None, True),
    "kwargs": {"when": datetime.datetime(2024, 1, 7, 12, 30), "blob": b"\x00\x01:\xff"},
    "text": "repetitive " * 200,
}

# Compression settings: (compression, use_zlib) and the header each writes.
SETTINGS = [(False, False), (True, False), (True, True)]
HEADERS = {(False, False): b"\x80", (True, False): b"\x1f\x8b", (True, True): b"\x78"}

# Written by huey 3.5.4 (Python 3.11) for {"a": 1, "b": [1, 2, 3], "s": "x" * 50}: plain,
# gzip and zlib Serializers, and SignedSerializer(secret="s3cret") plain / salt="pepper" / gzip /
# zlib.
VECTOR_OBJ = {"a": 1, "b": [1, 2, 3], "s": "x" * 50}
_PICKLE = (
    "80059552000000000000007d94288c0161944b018c0162945d94284b014b024b03658c0173948c32"
    + "78" * 50
    + "94752e"
)
HUEY_354 = {
    "plain": bytes.fromhex(_PICKLE),
    "gzip": bytes.fromhex(
        "1f8b08008dd4016b00ff6b609d1ac40001b553347a1813a77833f630264d899da2e1cde8cde4cd9cdac3583c"
        "a5c7a8826430a5540f001847b0b05d000000"
    ),
    "zlib": bytes.fromhex(
        "789c6b609d1ac40001b553347a1813a77833f630264d899da2e1cde8cde4cd9cdac3583ca5c7a8826430a5"
        "540f009af92355"
    ),
    "signed": bytes.fromhex(_PICKLE) + b":6b724ed36d45d9bb88efee85af322a825461a847",
    "signed_salt": bytes.fromhex(_PICKLE) + b":1e96799cd40a0c28d82c7f1ee666b44d218c963e",
    "signed_gzip": bytes.fromhex(
        "1f8b08008dd4016b00ff6b609d1ac40001b553347a1813a77833f630264d899da2e1cde8cde4cd9cdac3583c"
        "a5c7a8826430a554cfca2cc9dcc82435c5d82cc5c434c53229c9c222352d35d5c23431cdd8c828d1c2c8d4c4"
        "cc30d1c2c41c004d4825ff86000000"
    ),
    "signed_zlib": bytes.fromhex(
        "789c6b609d1ac40001b553347a1813a77833f630264d899da2e1cde8cde4cd9cdac3583ca5c7a8826430a5"
        "54cfca2cc9dcc82435c5d82cc5c434c53229c9c222352d35d5c23431cdd8c828d1c2c8d4c4cc30d1c2c41c00"
        "368a2e93"
    ),
}


class JSONSerializer(Serializer):
    def _serialize(self, data: Any) -> bytes:
        return json.dumps(data, sort_keys=True).encode("utf-8")

    def _deserialize(self, data: bytes) -> Any:
        return json.loads(data.decode("utf-8"))


# Serializer


@pytest.mark.parametrize(("compression", "use_zlib"), SETTINGS)
def test_round_trip(compression: bool, use_zlib: bool) -> None:
    s = Serializer(compression=compression, use_zlib=use_zlib)
    data = s.serialize(OBJ)
    assert isinstance(data, bytes)
    assert data.startswith(HEADERS[compression, use_zlib])
    assert s.deserialize(data) == OBJ


def test_uncompressed_is_highest_protocol_pickle() -> None:
    data = Serializer().serialize(OBJ)
    assert data == pickle.dumps(OBJ, pickle.HIGHEST_PROTOCOL)


def test_gzip_and_zlib_formats() -> None:
    raw = pickle.dumps(OBJ, pickle.HIGHEST_PROTOCOL)
    gz = Serializer(compression=True).serialize(OBJ)
    zl = Serializer(compression=True, use_zlib=True).serialize(OBJ)
    assert gzip.decompress(gz) == raw
    assert zlib.decompress(zl) == raw
    assert len(gz) < len(raw) and len(zl) < len(raw)


def test_use_zlib_without_compression_does_not_compress() -> None:
    data = Serializer(use_zlib=True).serialize(OBJ)
    assert data == pickle.dumps(OBJ, pickle.HIGHEST_PROTOCOL)


def test_compression_level_changes_output() -> None:
    stored = Serializer(compression=True, use_zlib=True, compression_level=0).serialize(OBJ)
    best = Serializer(compression=True, use_zlib=True, compression_level=9).serialize(OBJ)
    assert len(best) < len(stored)
    assert Serializer().deserialize(stored) == Serializer().deserialize(best) == OBJ


@pytest.mark.parametrize("level", [-1, 10])
def test_compression_level_out_of_range(level: int) -> None:
    with pytest.raises(ValueError, match="compression_level"):
        Serializer(compression=True, compression_level=level)


@pytest.mark.parametrize("writer", SETTINGS)
@pytest.mark.parametrize("reader", SETTINGS)
def test_cross_reading(writer: tuple[bool, bool], reader: tuple[bool, bool]) -> None:
    data = Serializer(compression=writer[0], use_zlib=writer[1]).serialize(OBJ)
    assert Serializer(compression=reader[0], use_zlib=reader[1]).deserialize(data) == OBJ


def test_accepts_bytearray_and_memoryview() -> None:
    data = Serializer(compression=True).serialize(OBJ)
    assert Serializer().deserialize(bytearray(data)) == OBJ  # type: ignore[arg-type]
    assert Serializer().deserialize(memoryview(data)) == OBJ  # type: ignore[arg-type]


def test_rejects_non_bytes() -> None:
    with pytest.raises(TypeError, match="expected bytes"):
        Serializer().deserialize("not bytes")  # type: ignore[arg-type]


def test_subclass_hooks_are_used() -> None:
    s = JSONSerializer()
    data = s.serialize({"b": (1, 2), "a": "x"})
    assert data == b'{"a": "x", "b": [1, 2]}'
    # The tuple comes back as a list: proof the JSON hooks, not pickle, did the work.
    assert s.deserialize(data) == {"a": "x", "b": [1, 2]}


@pytest.mark.parametrize(("compression", "use_zlib"), SETTINGS)
def test_subclass_hooks_with_compression(compression: bool, use_zlib: bool) -> None:
    value = {"numbers": list(range(300)), "name": "json"}
    data = JSONSerializer(compression=compression, use_zlib=use_zlib).serialize(value)
    assert data.startswith(HEADERS[compression, use_zlib] if compression else b"{")
    assert JSONSerializer().deserialize(data) == value


def test_subclass_deserialize_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        JSONSerializer().deserialize(b"{not json")


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"garbage",
        b"\x80\x05truncated",
        pickle.dumps(OBJ, pickle.HIGHEST_PROTOCOL)[:-10],
    ],
)
def test_garbage_raises_value_error(garbage: bytes) -> None:
    with pytest.raises(ValueError, match="cannot unpickle") as info:
        Serializer().deserialize(garbage)
    assert info.value.__cause__ is not None


def test_corrupt_gzip_raises_value_error() -> None:
    data = bytearray(Serializer(compression=True).serialize(OBJ))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ValueError, match="corrupt gzip data"):
        Serializer().deserialize(bytes(data))
    with pytest.raises(ValueError, match="corrupt gzip data"):
        Serializer().deserialize(b"\x1f\x8b" + b"rubbish")


def test_corrupt_zlib_raises_value_error() -> None:
    data = Serializer(compression=True, use_zlib=True).serialize(OBJ)
    with pytest.raises(ValueError, match="corrupt zlib data") as info:
        Serializer().deserialize(data[:-8])
    assert isinstance(info.value.__cause__, zlib.error)


def test_reads_huey_354_data() -> None:
    for name in ("plain", "gzip", "zlib"):
        assert Serializer().deserialize(HUEY_354[name]) == VECTOR_OBJ, name


def test_writes_huey_354_data() -> None:
    assert Serializer().serialize(VECTOR_OBJ) == HUEY_354["plain"]
    zl = Serializer(compression=True, use_zlib=True).serialize(VECTOR_OBJ)
    assert zlib.decompress(zl) == zlib.decompress(HUEY_354["zlib"])


# SignedSerializer


def expected_signature(payload: bytes, secret: bytes = b"s3cret", salt: bytes = b"huey") -> bytes:
    key = hashlib.sha1(salt + secret).digest()
    return hmac.new(key, payload, hashlib.sha1).hexdigest().encode()


@pytest.mark.parametrize(("compression", "use_zlib"), SETTINGS)
def test_signed_round_trip(compression: bool, use_zlib: bool) -> None:
    s = SignedSerializer("s3cret", compression=compression, use_zlib=use_zlib)
    data = s.serialize(OBJ)
    assert data.startswith(HEADERS[compression, use_zlib])
    assert s.deserialize(data) == OBJ


def test_signed_layout() -> None:
    data = SignedSerializer(secret="s3cret").serialize(OBJ)
    payload, sep, sig = data.rpartition(b":")
    assert sep == b":"
    assert payload == pickle.dumps(OBJ, pickle.HIGHEST_PROTOCOL)
    assert sig == expected_signature(payload)
    assert len(sig) == 40


def test_signed_compression_wraps_the_signature() -> None:
    gz = SignedSerializer(secret="s3cret", compression=True).serialize(OBJ)
    plain = SignedSerializer(secret="s3cret").serialize(OBJ)
    assert gzip.decompress(gz) == plain


def test_signed_matches_huey_354_byte_for_byte() -> None:
    assert SignedSerializer(secret="s3cret").serialize(VECTOR_OBJ) == HUEY_354["signed"]
    salted = SignedSerializer(secret="s3cret", salt="pepper").serialize(VECTOR_OBJ)
    assert salted == HUEY_354["signed_salt"]


@pytest.mark.parametrize("name", ["signed", "signed_gzip", "signed_zlib"])
def test_signed_reads_huey_354_data(name: str) -> None:
    assert SignedSerializer(secret="s3cret").deserialize(HUEY_354[name]) == VECTOR_OBJ
    with pytest.raises(ValueError, match="signature does not match"):
        SignedSerializer(secret="other").deserialize(HUEY_354[name])


def test_signed_salt_vector_needs_its_salt() -> None:
    assert SignedSerializer("s3cret", salt="pepper").deserialize(HUEY_354["signed_salt"]) == (
        VECTOR_OBJ
    )
    with pytest.raises(ValueError, match="signature does not match"):
        SignedSerializer("s3cret").deserialize(HUEY_354["signed_salt"])


def test_payload_containing_separator() -> None:
    s = SignedSerializer(secret="s3cret")
    value = b"a:b:c:" + b":" * 10
    assert s.deserialize(s.serialize(value)) == value


def test_bytes_and_str_secret_agree() -> None:
    a = SignedSerializer(secret="s3cret", salt="pepper")
    b = SignedSerializer(secret=b"s3cret", salt=b"pepper")
    assert a.serialize(OBJ) == b.serialize(OBJ)
    assert b.deserialize(a.serialize(OBJ)) == OBJ


@pytest.mark.parametrize(("compression", "use_zlib"), SETTINGS)
def test_tampering_is_detected(compression: bool, use_zlib: bool) -> None:
    s = SignedSerializer("s3cret", compression=compression, use_zlib=use_zlib)
    plain = SignedSerializer("s3cret").serialize(OBJ)
    sig_start = len(plain) - 40
    # Flip one byte of the pickle, and one hex digit of the signature, then re-apply the
    # serializer's compression so the change reaches the signature check.
    for index in (len(plain) // 2, sig_start + 5):
        tampered = bytearray(plain)
        tampered[index] ^= 0x01
        data = bytes(tampered)
        if compression:
            data = zlib.compress(data) if use_zlib else gzip.compress(data)
        with pytest.raises(ValueError, match="signature does not match"):
            s.deserialize(data)


def test_flipped_byte_in_compressed_signed_data() -> None:
    data = bytearray(SignedSerializer("s3cret", compression=True).serialize(OBJ))
    data[len(data) // 2] ^= 0x01
    with pytest.raises(ValueError):
        SignedSerializer("s3cret").deserialize(bytes(data))


def test_wrong_secret_or_salt() -> None:
    data = SignedSerializer("s3cret").serialize(OBJ)
    with pytest.raises(ValueError, match="signature does not match"):
        SignedSerializer("wrong").deserialize(data)
    with pytest.raises(ValueError, match="signature does not match"):
        SignedSerializer("s3cret", salt="other").deserialize(data)


def test_unsigned_data_is_refused() -> None:
    unsigned = Serializer().serialize(12345)
    assert b":" not in unsigned
    with pytest.raises(ValueError, match="not signed"):
        SignedSerializer("s3cret").deserialize(unsigned)


def test_signed_garbage() -> None:
    with pytest.raises(ValueError, match="signature does not match"):
        SignedSerializer("s3cret").deserialize(b"rubbish:deadbeef")
    # A valid signature over bytes that are not a pickle still fails to deserialize, clearly.
    forged = b"rubbish:" + expected_signature(b"rubbish")
    with pytest.raises(ValueError, match="cannot unpickle"):
        SignedSerializer("s3cret").deserialize(forged)


@pytest.mark.parametrize("secret", ["", b"", None])
def test_secret_is_required(secret: Any) -> None:
    with pytest.raises(ValueError, match="secret"):
        SignedSerializer(secret)


def test_signed_with_json_hooks() -> None:
    class SignedJSON(SignedSerializer):
        _serialize = JSONSerializer._serialize
        _deserialize = JSONSerializer._deserialize

    s = SignedJSON("s3cret", compression=True)
    data = s.serialize({"a": [1, 2]})
    assert gzip.decompress(data) == b'{"a": [1, 2]}:' + expected_signature(b'{"a": [1, 2]}')
    assert s.deserialize(data) == {"a": [1, 2]}
