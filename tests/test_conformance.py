"""The storage conformance suite run against every installed backend, and checks of the suite.

``TestConformance`` collects every test of ``huey.testing.conformance.StorageConformance`` once
per backend registered for conformance in ``tests/conftest.py`` (test ids end in ``[memory]``,
``[file]``, ...). The other tests check the backend registry against what is installed, and run
the suite the way a third party would, against deliberately broken storages, to show that it
catches what it claims to.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from huey.storage import BaseStorage
from huey.testing.conformance import StorageConformance, StorageFactory

TESTS_DIR = Path(__file__).parent


class TestConformance(StorageConformance):
    @pytest.fixture
    def storage_factory(self, backend_factory: StorageFactory) -> StorageFactory:
        return backend_factory


def test_discovered_backends_are_the_expected_ones(
    backend_registry: dict[str, Any], discovered_backends: dict[str, type[BaseStorage]]
) -> None:
    expected, found = set(backend_registry), set(discovered_backends)
    assert found == expected, (
        f"missing: {sorted(expected - found)} (not installed?); "
        f"unexpected: {sorted(found - expected)} (add them to BACKENDS in tests/conftest.py)"
    )
    for name, storage_class in discovered_backends.items():
        assert isinstance(storage_class, type) and issubclass(storage_class, BaseStorage), name


def test_excluded_backends_have_their_own_tests(backend_registry: dict[str, Any]) -> None:
    excluded = {name: entry for name, entry in backend_registry.items() if hasattr(entry, "reason")}
    assert "blackhole" in excluded
    for name, entry in excluded.items():
        assert entry.reason.strip(), name
        assert (TESTS_DIR / entry.tests).is_file(), (
            f"{name} is excluded but {entry.tests} is missing"
        )


def test_known_divergences_name_suite_tests(backend_registry: dict[str, Any]) -> None:
    suite_tests = {name for name in dir(StorageConformance) if name.startswith("test_")}
    for name, entry in backend_registry.items():
        unknown = set(getattr(entry, "divergences", {})) - suite_tests
        assert not unknown, f"{name}: divergences name no suite test: {sorted(unknown)}"


def test_importing_huey_does_not_import_pytest() -> None:
    code = (
        "import sys, huey, huey.api, huey.storage, huey.testing; "
        "assert 'pytest' not in sys.modules, 'pytest was imported'; "
        "assert 'huey.testing.conformance' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# A third party's test module: good storages, one per capability combination, and broken ones,
# each with a defect some test of the suite must catch.
THIRD_PARTY_MODULE = """
import datetime as dt
import threading
import time

import pytest

from huey.storage import MemoryStorage
from huey.testing.conformance import StorageConformance


class NoPriorityStorage(MemoryStorage):
    supports_priority = False

    def enqueue(self, data, priority=None):
        self.check_priority(priority)
        super().enqueue(data)


class BlockingStorage(MemoryStorage):
    supports_blocking_dequeue = True

    def dequeue(self):
        deadline = time.monotonic() + 0.2
        while True:
            data = super().dequeue()
            if data is not None or time.monotonic() >= deadline:
                return data
            time.sleep(0.005)


class LifoStorage(NoPriorityStorage):
    def dequeue(self):
        with self._lock:
            if not self._queue:
                return None
            newest = max(self._queue, key=lambda item: item[1])
            self._queue.remove(newest)
            return newest[2]


class ExclusiveCutoffStorage(MemoryStorage):
    def read_schedule(self, ts):
        return super().read_schedule(ts - dt.timedelta(microseconds=1))


class RacyPutIfEmptyStorage(MemoryStorage):
    def put_if_empty(self, key, value):
        if self.has_data_for_key(key):
            return False
        time.sleep(0.01)
        self.put_data(key, value)
        return True


class IgnoredTtlStorage(MemoryStorage):
    def put_if_empty(self, key, value, ttl=None):
        return super().put_if_empty(key, value)


class BytesKeysApartStorage(MemoryStorage):
    def put_data(self, key, value, is_result=False):
        with self._lock:
            self._results[key] = value


class IgnoredPriorityStorage(MemoryStorage):
    def enqueue(self, data, priority=None):
        super().enqueue(data)


class FakeBlockingStorage(MemoryStorage):
    supports_blocking_dequeue = True


class LostIncrementStorage(MemoryStorage):
    def incr(self, key, amount=1):
        value = self._counters.get(key, 0)
        time.sleep(0.0005)
        self._counters[key] = value + amount
        return value + amount


class TestMemory(StorageConformance):
    def make_storage(self, name):
        return MemoryStorage(name)


class TestNoPriority(StorageConformance):
    @pytest.fixture
    def storage_factory(self, tmp_path):
        return NoPriorityStorage


class TestBlocking(StorageConformance):
    def make_storage(self, name):
        return BlockingStorage(name)


class TestLifo(StorageConformance):
    def make_storage(self, name):
        return LifoStorage(name)


class TestExclusiveCutoff(StorageConformance):
    def make_storage(self, name):
        return ExclusiveCutoffStorage(name)


class TestRacyPutIfEmpty(StorageConformance):
    def make_storage(self, name):
        return RacyPutIfEmptyStorage(name)


class TestIgnoredTtl(StorageConformance):
    def make_storage(self, name):
        return IgnoredTtlStorage(name)


class TestBytesKeysApart(StorageConformance):
    def make_storage(self, name):
        return BytesKeysApartStorage(name)


class TestIgnoredPriority(StorageConformance):
    def make_storage(self, name):
        return IgnoredPriorityStorage(name)


class TestFakeBlocking(StorageConformance):
    def make_storage(self, name):
        return FakeBlockingStorage(name)


class TestLostIncrement(StorageConformance):
    def make_storage(self, name):
        return LostIncrementStorage(name)


class TestSharedLocation(StorageConformance):
    @pytest.fixture
    def storage_factory(self):
        shared = MemoryStorage("conformance")
        return lambda name: shared


class TestNoFactory(StorageConformance):
    pass
"""

# Tests that must fail for each broken storage (others may fail too).
MUST_FAIL = {
    "TestLifo": {
        "test_dequeue_is_fifo",
        "test_dequeue_interleaved_with_enqueue_stays_fifo",
        "test_binary_messages_round_trip",
    },
    "TestExclusiveCutoff": {"test_read_schedule_cutoff_is_inclusive", "test_huey_scheduled_task"},
    "TestRacyPutIfEmpty": {"test_put_if_empty_is_atomic_across_threads"},
    "TestIgnoredPriority": {"test_priority_order", "test_huey_priority_tasks_run_highest_first"},
    "TestIgnoredTtl": {"test_put_if_empty_entry_expires", "test_huey_lock_and_revoke"},
    "TestBytesKeysApart": {"test_bytes_keys_name_the_same_entries_as_text"},
    "TestFakeBlocking": {"test_blocking_dequeue_waits_on_empty_queue"},
    "TestLostIncrement": {"test_incr_is_atomic_across_threads"},
    "TestSharedLocation": {"test_different_names_are_isolated"},
}
GOOD = ("TestMemory", "TestNoPriority", "TestBlocking")


@pytest.fixture(scope="module")
def third_party_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, tuple]]:
    """Run the suite as a third party would, in a separate pytest; outcomes by class, test."""
    root = tmp_path_factory.mktemp("third_party")
    (root / "pytest.ini").write_text("[pytest]\ntimeout = 240\n")
    (root / "conftest.py").write_text(
        'import pytest\n\npytest.register_assert_rewrite("huey.testing.conformance")\n'
    )
    (root / "test_third_party.py").write_text(textwrap.dedent(THIRD_PARTY_MODULE))
    report = root / "report.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(root / "pytest.ini"),
            "--rootdir",
            str(root),
            f"--junitxml={report}",
            str(root),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.is_file(), proc.stdout + proc.stderr
    outcomes: dict[str, dict[str, tuple]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
                message = (child.get("message") or "") + (child.text or "")
        outcomes.setdefault(cls, {})[case.get("name", "")] = (outcome, message)
    return outcomes


SUITE_TESTS = sorted(name for name in dir(StorageConformance) if name.startswith("test_"))


@pytest.mark.slow
@pytest.mark.parametrize("cls", GOOD)
def test_suite_passes_for_correct_storages(
    third_party_run: dict[str, dict[str, tuple]], cls: str
) -> None:
    results = third_party_run[cls]
    assert sorted(results) == SUITE_TESTS, "a third party must get every test of the suite"
    bad = {
        name: message
        for name, (outcome, message) in results.items()
        if outcome in ("failure", "error")
    }
    assert not bad, bad


@pytest.mark.slow
def test_skips_name_the_capability_flag(third_party_run: dict[str, dict[str, tuple]]) -> None:
    expected = {
        # MemoryStorage: supports_priority, no blocking dequeue.
        ("TestMemory", "test_priority_refused_without_supports_priority"): "supports_priority",
        ("TestMemory", "test_blocking_dequeue_waits_on_empty_queue"): "supports_blocking_dequeue",
        ("TestNoPriority", "test_priority_order"): "supports_priority",
        ("TestNoPriority", "test_huey_priority_tasks_run_highest_first"): "supports_priority",
        ("TestBlocking", "test_dequeue_returns_promptly_without_blocking_dequeue"): (
            "supports_blocking_dequeue"
        ),
    }
    for (cls, name), flag in expected.items():
        outcome, message = third_party_run[cls][name]
        assert outcome == "skipped", (cls, name, outcome)
        assert flag in message, (cls, name, message)
    # The companion tests run where the flag is off.
    assert (
        third_party_run["TestNoPriority"]["test_priority_refused_without_supports_priority"][0]
        == "passed"
    )
    assert (
        third_party_run["TestMemory"]["test_dequeue_returns_promptly_without_blocking_dequeue"][0]
        == "passed"
    )
    assert third_party_run["TestBlocking"]["test_blocking_dequeue_waits_on_empty_queue"][0] == (
        "passed"
    )


@pytest.mark.slow
@pytest.mark.parametrize("cls", sorted(MUST_FAIL))
def test_suite_catches_broken_storages(
    third_party_run: dict[str, dict[str, tuple]], cls: str
) -> None:
    results = third_party_run[cls]
    failed = {name for name, (outcome, _) in results.items() if outcome == "failure"}
    missed = MUST_FAIL[cls] - failed
    assert not missed, f"{cls}: the suite did not catch the defect in {sorted(missed)}"
    assert len(failed) < len(results) / 2, f"{cls}: too much failed to be about its defect"


@pytest.mark.slow
def test_suite_without_a_factory_says_what_to_override(
    third_party_run: dict[str, dict[str, tuple]],
) -> None:
    results = third_party_run["TestNoFactory"]
    assert sorted(results) == SUITE_TESTS
    for name, (outcome, message) in results.items():
        assert outcome in ("failure", "error"), name
        assert "storage_factory" in message and "make_storage" in message, (name, message)
