"""Tasks, results and key/value entries move between huey 3.5.4 and this package, both ways.

For each direction and each serializer setting, one round trip of three subprocesses:

1. the producer (A) enqueues or serializes a set of cases in a MemoryHuey and hands over the
   message bytes, plus its key/value entries (revocations, a held lock, a rate-limit window)
   and the rate-limit counter;
2. the consumer (B) loads those entries, deserializes every message and executes it as a
   worker does; pipeline children, error handlers and chord callbacks run from B's own queue;
   B hands over its whole result store;
3. A loads B's result store and reads each result and error result.

Every test asserts on the real outcome: what B ran and returned, and what A reads back.

Known incompatibilities of this package (``interop_support.py``) run as strict xfails where
this package is the side that differs: fixing one turns its tests into failures until the
xfail is removed.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import pickle
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
from interop_support import (
    DIRECTIONS,
    Side,
)

pytestmark = pytest.mark.slow

SECRET = "interop-secret"
SERIALIZERS: dict[str, dict[str, Any]] = {
    "pickle": {},
    "gzip": {"compression": True},
    "zlib": {"compression": True, "use_zlib": True},
    "signed": {"secret": SECRET},
    "signed-gzip": {"secret": SECRET, "compression": True},
}
# Cases that the general tests leave to a test of their own.
SEPARATE_CASES = {"custom_name"}
# The only huey classes that may be named inside stored bytes: both implementations have them.
MESSAGE_GLOBALS = {("huey.registry", "Message")}
RESULT_GLOBALS = {("huey.utils", "Error"), ("huey.utils", "SKIPPED")}


@dataclass
class RoundTrip:
    producer: str
    consumer: str
    config: dict[str, Any]
    produced: dict[str, Any]
    consumed: dict[str, Any]
    read: dict[str, Any]

    def sent(self, case: str) -> dict[str, Any]:
        return self.produced["cases"][case]

    def ran(self, case: str) -> dict[str, Any]:
        """What the consumer reported for ``case``."""
        return self.consumed["cases"][case]

    def readback(self, case: str) -> dict[str, Any]:
        """The results of ``case`` as the producer reads them from the consumer's store."""
        return self.read["read"][case]


@pytest.fixture(
    scope="module",
    params=[(d, s) for d in DIRECTIONS for s in SERIALIZERS],
    ids=[f"{d}-{s}" for d in DIRECTIONS for s in SERIALIZERS],
)
def trip(
    request: pytest.FixtureRequest,
    sides: dict[str, Side],
    tmp_path_factory: pytest.TempPathFactory,
) -> RoundTrip:
    direction, serializer = request.param
    producer, consumer = (sides[name] for name in DIRECTIONS[direction])
    config = SERIALIZERS[serializer]
    work = tmp_path_factory.mktemp(f"core-{direction}-{serializer}")
    produced = producer.step("core-produce", {}, work, config)
    consumed = consumer.step("core-consume", produced, work, config)
    ids = {name: case["results"] for name, case in produced["cases"].items()}
    read = producer.step("core-read", {"results": consumed["results"], "ids": ids}, work, config)
    return RoundTrip(producer.name, consumer.name, config, produced, consumed, read)


def _value(value: Any) -> dict[str, Any]:
    return {"present": True, "value": value}


ABSENT = {"present": False, "value": None}


# -- bytes on the wire ---------------------------------------------------------------------
def _unwrap(data: bytes, config: dict[str, Any]) -> bytes:
    """The pickle inside ``data``, checked against the documented layout, by hand."""
    if config.get("compression"):
        if config.get("use_zlib"):
            assert data[:1] == b"\x78", data[:4]
            data = zlib.decompress(data)
        else:
            assert data[:2] == b"\x1f\x8b", data[:4]
            data = gzip.decompress(data)
    if config.get("secret"):
        payload, sep, signature = data.rpartition(b":")
        assert sep, "signed data has no ':' separator"
        key = hashlib.sha1(b"huey" + config["secret"].encode()).digest()
        assert signature == hmac.new(key, payload, hashlib.sha1).hexdigest().encode()
        data = payload
    assert data[:1] == b"\x80", "not a pickle of protocol 2 or higher"
    return data


def _huey_globals(data: bytes) -> set[tuple[str, str]]:
    """The huey classes a pickle names (loaded here, in this package's huey)."""
    seen: set[tuple[str, str]] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module.split(".")[0] == "huey":
                seen.add((module, name))
            return super().find_class(module, name)

    Recorder(io.BytesIO(data)).load()
    return seen


def test_message_bytes_have_the_documented_layout(trip: RoundTrip) -> None:
    for name, case in trip.produced["cases"].items():
        for message in case["messages"]:
            payload = _unwrap(bytes.fromhex(message), trip.config)
            assert _huey_globals(payload) <= MESSAGE_GLOBALS, name
    for key, value in trip.consumed["results"].items():
        payload = _unwrap(bytes.fromhex(value), trip.config)
        assert _huey_globals(payload) <= RESULT_GLOBALS, key
    if trip.config.get("secret"):  # And the consumer really checks the signature.
        assert trip.consumed["wrong_secret"] not in ("accepted", None)


def test_every_message_field_survives(trip: RoundTrip) -> None:
    """id, name, args, kwargs, eta, retries, delays, priority, expiry, timeout, pipeline,
    error handler and chord configuration read the same on the consumer as on the producer."""
    for name, case in trip.produced["cases"].items():
        if name in SEPARATE_CASES:
            continue
        assert "failed" not in trip.ran(name), trip.ran(name)["failed"]
        assert trip.ran(name)["tasks"] == case["tasks"], name


def test_custom_task_name(trip: RoundTrip) -> None:
    """``@huey.task(name="renamed_task")`` in module interop_app."""
    message = _unwrap(bytes.fromhex(trip.sent("custom_name")["messages"][0]), trip.config)
    assert pickle.loads(message).name == "interop_app.renamed_task"
    assert "failed" not in trip.ran("custom_name"), trip.ran("custom_name")["failed"]
    assert trip.ran("custom_name")["values"] == ["custom name"]
    assert trip.readback("custom_name")["value"] == _value("custom name")


# -- running and results ---------------------------------------------------------------------
PLAIN_CASES = {
    "args": ("sum", 3),
    "kwargs": ("value", {"k": [1, 2], "s": "x", "t": [1, "two"]}),
    "string": ("value", "héllo ✓"),
    "none": ("value", None),  # Stored (store_none=True): present, and None.
    "serialize_task": ("sum", 42),
    "eta_past": ("sum", 10),
    "priority": ("sum", 7),
    "timeout": ("value", "timeout"),
    "timeout_decorator": ("value", "decorator timeout"),
}


@pytest.mark.parametrize("case", sorted(PLAIN_CASES))
def test_task_runs_and_result_reads_back(trip: RoundTrip, case: str) -> None:
    label, expected = PLAIN_CASES[case]
    assert trip.ran(case)["values"] == [expected]
    assert trip.ran(case)["signals"] == ["executing", "complete"]
    assert trip.readback(case)[label] == _value(expected)


def test_future_eta_is_scheduled_then_runs(trip: RoundTrip) -> None:
    ran = trip.ran("eta_future")
    assert ran["values"] == [None]
    assert ran["scheduled_after_execute"] == 1
    assert ran["due_now"] == 0
    assert [task["id"] for task in ran["due_later"]] == [ran["tasks"][0]["id"]]
    assert ran["due_later"][0]["eta"] == trip.sent("eta_future")["tasks"][0]["eta"]
    assert ran["later_values"] == [4]
    assert trip.readback("eta_future")["sum"] == _value(4)


@pytest.mark.parametrize("case", ["expires_int", "expires_timedelta", "expires_datetime"])
def test_expiry_is_obeyed(trip: RoundTrip, case: str) -> None:
    ran = trip.ran(case)
    assert ran["expired_value"] is None
    assert ran["expired_result"] == ABSENT
    assert "expired" in ran["expired_signals"]
    assert "executing" not in ran["expired_signals"]
    tag = trip.sent(case)["tasks"][0]["args"][0]
    assert ran["values"] == [tag]
    assert trip.readback(case)["value"] == _value(tag)


def _error(result: dict[str, Any], error: str, retries: int, task_id: str) -> None:
    assert result["present"] is True
    metadata = result["error"]
    assert set(metadata) >= {"error", "retries", "traceback", "task_id"}
    assert metadata["error"] == error
    assert metadata["retries"] == retries
    assert metadata["task_id"] == task_id
    exception = error.split("(")[0]
    assert "Traceback (most recent call last)" in metadata["traceback"]
    assert f"{exception}: " in metadata["traceback"]


def _delay_was(measured: float, configured: float) -> bool:
    """A retry's eta, measured just after it was scheduled, is ``configured`` s ahead, less a
    moment."""
    return 0 <= configured - measured < 3


def test_retries_and_backoff(trip: RoundTrip) -> None:
    task_id = trip.sent("retries")["results"]["error"]
    attempts = trip.ran("retries")["attempts"]
    assert [(a["retries"], a["retry_delay"]) for a in attempts] == [(2, 30), (1, 60), (0, 120)]
    # Each retry was scheduled retry_delay seconds ahead (30, then 30 * backoff 2).
    assert _delay_was(attempts[0]["next_eta_in"], 30)
    assert _delay_was(attempts[1]["next_eta_in"], 60)
    for attempt, left in zip(attempts, (2, 1, 0), strict=True):
        _error(attempt["stored"], "RuntimeError('boom')", left, task_id)
    _error(trip.readback("retries")["error"], "RuntimeError('boom')", 0, task_id)


def test_per_call_retries(trip: RoundTrip) -> None:
    task_id = trip.sent("retries_per_call")["results"]["error"]
    attempts = trip.ran("retries_per_call")["attempts"]
    assert [(a["retries"], a["retry_delay"]) for a in attempts] == [(1, 7), (0, 7)]
    assert _delay_was(attempts[0]["next_eta_in"], 7)
    _error(trip.readback("retries_per_call")["error"], "ValueError('once more')", 0, task_id)


def test_pipeline_children_get_the_parent_result(trip: RoundTrip) -> None:
    ran = trip.ran("pipeline")
    assert ran["values"] == [3]
    assert [(step["task"]["args"], step["value"]) for step in ran["drained"]] == [
        ([3, 3], 6),
        ([4, 6], 10),
    ]
    read = trip.readback("pipeline")
    assert [read[k] for k in ("first", "second", "third")] == [_value(3), _value(6), _value(10)]


def test_error_handler_gets_the_exception(trip: RoundTrip) -> None:
    ran = trip.ran("error_handler")
    assert [step["task"]["name"] for step in ran["drained"]] == ["interop_app.handle_error"]
    assert ran["drained"][0]["value"] == "handled:ValueError:bad"
    read = trip.readback("error_handler")
    _error(read["failed"], "ValueError('bad')", 0, trip.sent("error_handler")["results"]["failed"])
    assert read["handler"] == _value("handled:ValueError:bad")


def test_chord_members_run_and_callback_is_enqueued(trip: RoundTrip) -> None:
    ran = trip.ran("chord")
    assert ran["values"] == [2, 4, 6]
    assert [step["task"]["name"] for step in ran["drained"]] == ["interop_app.collect"]
    read = trip.readback("chord")
    assert [read[f"member{i}"] for i in range(3)] == [_value(2), _value(4), _value(6)]
    assert read["callback"]["present"] is True


def test_chord_callback_gets_results_after_its_own_arguments(trip: RoundTrip) -> None:
    callback = {"label": "sum", "values": [2, 4, 6], "impl": trip.consumer}
    assert trip.ran("chord")["drained"][0]["value"] == callback
    assert trip.readback("chord")["callback"] == _value(callback)


def test_revoked_chord_member_counts_as_skipped(trip: RoundTrip) -> None:
    """The callback gets SKIPPED for the revoked member; the stored result pickles it."""
    ran = trip.ran("chord_revoked")
    assert ran["values"] == [2, None]
    assert "revoked" in ran["signals"]
    callback = {"label": "skip", "values": [2, {"skipped": True}], "impl": trip.consumer}
    assert [step["value"] for step in ran["drained"]] == [callback]
    read = trip.readback("chord_revoked")
    assert read == {"first": _value(2), "second": ABSENT, "callback": _value(callback)}


def test_failed_chord_member_reaches_the_callback_as_its_error(trip: RoundTrip) -> None:
    """The callback gets the member's Error (its metadata), whichever side ran the member."""
    ran = trip.ran("chord_failed")
    assert ran["values"] == [2, None]
    (step,) = ran["drained"]
    value = step["value"]
    assert (value["label"], value["impl"]) == ("fail", trip.consumer)
    two, error = value["values"]
    assert two == 2 and set(error) == {"error"}
    metadata = error["error"]
    assert metadata["error"] == "ValueError('member')" and metadata["retries"] == 0
    assert metadata["task_id"] == trip.sent("chord_failed")["results"]["second"]
    read = trip.readback("chord_failed")
    assert read["callback"] == _value(value)  # The stored Error reads back on the producer.
    assert read["second"]["error"]["error"] == "ValueError('member')"


def test_revocations_set_by_the_producer_are_obeyed(trip: RoundTrip) -> None:
    ran = trip.ran("revocation")
    # by id, once (twice), lapsed revoke_until, pending revoke_until, whole task (rt: key)
    assert ran["is_revoked"] == [True, True, True, False, True, True]
    assert ran["values"] == [None, None, "once", "lapsed", None, None]
    assert ran["signals"].count("revoked") == 4
    read = trip.readback("revocation")
    assert read == {
        "by_id": ABSENT,
        "once": _value("once"),
        "lapsed": _value("lapsed"),
        "until": ABSENT,
        "whole": ABSENT,
    }


def test_lock_held_by_the_producer(trip: RoundTrip) -> None:
    ran = trip.ran("lock")
    assert ran["locked_before"] is True
    assert ran["acquired"] is False
    assert ran["first"] is None
    assert ran["flushed"] == ["interop-lock"]
    assert ran["locked_after"] is False
    assert ran["second"] == "ran under the lock"
    read = trip.readback("lock")
    assert read["while_held"]["error"]["error"].startswith("TaskLockedException(")
    assert read["after_clear"] == _value("ran under the lock")


def test_flush_locks_clears_every_lock_made_by_lock_task(trip: RoundTrip) -> None:
    """Not data, but the same application behaving the same after the upgrade."""
    assert trip.ran("lock")["flush_all"] == ["context-lock"]


def test_rate_limit_used_by_the_producer(trip: RoundTrip) -> None:
    assert trip.produced["rate_limit_usage"] == 2
    ran = trip.ran("rate_limit")
    assert ran["usage_before"] == 2
    assert ran["values"] == [None]
    assert "rate-limited" in ran["signals"]
    assert ran["scheduled"] == 1  # Retried in the next window.
    assert ran["acquire"] == "RateLimitExceeded"
    assert trip.readback("rate_limit")["limited"] == ABSENT
