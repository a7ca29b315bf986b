"""Shared fixtures of the monorepo test suite, and the registry of storage backends.

``BACKENDS`` names every backend the test environment must discover in the ``huey.storages``
entry-point group (``huey.list_backends()``) and says how the storage conformance harness
(``tests/test_conformance.py``) builds a fresh, isolated instance of it, or why it is left out
of the conformance run. The set of discovered backends must equal its keys, so a backend that
failed to install fails the run instead of shrinking it.

Adding a backend is one entry: ``"name": Conformance(builder)``, where
``builder(storage_class, request, tmp_path)`` returns ``factory(queue_name) -> storage``. Every
storage the factory builds within one test must use the same location (directory, database
file, server database) and that location must start empty. A builder may request fixtures
through ``request.getfixturevalue`` (for example a session-scoped server); when the service it
needs is missing it calls ``service_unavailable``, which skips locally and fails under CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

# Before the suite is imported anywhere, so its asserts report values.
pytest.register_assert_rewrite("huey.testing")

from huey import list_backends  # noqa: E402
from huey.storage import BaseStorage  # noqa: E402

StorageFactory = Callable[[str], BaseStorage]
FactoryBuilder = Callable[[type[BaseStorage], pytest.FixtureRequest, Path], StorageFactory]

TESTS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Conformance:
    """Run the conformance suite against this backend, built by ``build``.

    ``divergences`` maps a suite test this backend fails by documented design to the reason.
    Such a test still runs, as a strict xfail: once the backend passes it, the run fails until
    the entry is removed.
    """

    build: FactoryBuilder
    divergences: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Excluded:
    """Not run through the conformance suite: ``reason`` says why; ``tests`` covers it instead."""

    reason: str
    tests: str


def service_unavailable(what: str) -> NoReturn:
    """A service a backend needs (``redis-server``, ...) is missing: fail in CI, skip locally."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not available; CI must run every backend", pytrace=False)
    pytest.skip(f"{what} is not available (under CI=true this fails)")


def _memory(
    cls: type[BaseStorage], request: pytest.FixtureRequest, tmp_path: Path
) -> StorageFactory:
    return lambda name: cls(name)


def _file(cls: type[BaseStorage], request: pytest.FixtureRequest, tmp_path: Path) -> StorageFactory:
    path = str(tmp_path / "files")
    return lambda name: cls(name, path=path)


def _sqlite(
    cls: type[BaseStorage], request: pytest.FixtureRequest, tmp_path: Path
) -> StorageFactory:
    filename = str(tmp_path / "huey.db")  # Several queue names share one file, as in the recipe.
    return lambda name: cls(name=name, filename=filename)


_REDIS_CONFORMANCE_SERVER = pytest.StashKey[tuple]()
_REDIS_DATABASES = 1024


def _redis(
    cls: type[BaseStorage], request: pytest.FixtureRequest, tmp_path: Path
) -> StorageFactory:
    """A fresh database of one private redis-server started for the run (never 6379).

    Each test gets the next database number; one reused after wrapping around is flushed
    first (the server and its databases are this run's own).
    """
    from redis_servers import REDIS_SERVER, RedisServer

    state = request.config.stash.get(_REDIS_CONFORMANCE_SERVER, None)
    if state is None:
        if REDIS_SERVER is None:
            service_unavailable("redis-server")
        server = RedisServer(f"databases {_REDIS_DATABASES}").start()
        request.config.add_cleanup(server.close)
        state = request.config.stash[_REDIS_CONFORMANCE_SERVER] = (server, [0])
    server, counter = state
    counter[0] += 1
    db = counter[0] % _REDIS_DATABASES
    if counter[0] >= _REDIS_DATABASES:
        import redis

        with redis.Redis(port=server.port, db=db) as client:
            client.flushdb()
    return lambda name: cls(name, port=server.port, db=db)


BACKENDS: dict[str, Conformance | Excluded] = {
    "memory": Conformance(_memory),
    "file": Conformance(
        _file,
        divergences={
            "test_different_names_are_isolated": "FileStorage(name, path): name is unused and "
            "the directory is the queue's identity, as huey's FileStorage reference documents",
            "test_leases_of_different_names_are_isolated": "FileStorage(name, path): name is "
            "unused, so two names on one directory share their leases and dead letters too",
        },
    ),
    "sqlite": Conformance(_sqlite),
    "cysqlite": Conformance(_sqlite),
    "redis": Conformance(_redis),
    "priority_redis": Conformance(_redis),
    "redis_expire": Conformance(_redis),
    "valkey_glide": Conformance(_redis),
    "priority_redis_expire": Conformance(_redis),
    "redis_cluster": Excluded(
        reason="needs a Redis Cluster; tests/redis_cluster runs the conformance suite on a "
        "three-master cluster it starts",
        tests="redis_cluster/test_cluster_conformance.py",
    ),
    "priority_redis_cluster": Excluded(
        reason="needs a Redis Cluster; tests/redis_cluster runs the conformance suite on a "
        "three-master cluster it starts",
        tests="redis_cluster/test_cluster_conformance.py",
    ),
    "redis_cluster_expire": Excluded(
        reason="needs a Redis Cluster; tests/redis_cluster runs the conformance suite on a "
        "three-master cluster it starts",
        tests="redis_cluster/test_cluster_conformance.py",
    ),
    "priority_redis_cluster_expire": Excluded(
        reason="needs a Redis Cluster; tests/redis_cluster runs the conformance suite on a "
        "three-master cluster it starts",
        tests="redis_cluster/test_cluster_conformance.py",
    ),
    "blackhole": Excluded(
        reason="discards every write and always reads empty by design, so it cannot keep "
        "the storage contract",
        tests="core/test_blackhole_storage.py",
    ),
}

# What huey.list_backends() must report, exactly.
EXPECTED_BACKENDS = frozenset(BACKENDS)
CONFORMANCE_BACKENDS = sorted(
    name for name, entry in BACKENDS.items() if isinstance(entry, Conformance)
)
EXCLUDED_BACKENDS = {name: entry for name, entry in BACKENDS.items() if isinstance(entry, Excluded)}


def pytest_report_header() -> list[str]:
    excluded = "; ".join(f"{name} ({entry.reason})" for name, entry in EXCLUDED_BACKENDS.items())
    divergences = [
        f"{name}: {test}"
        for name, entry in BACKENDS.items()
        if isinstance(entry, Conformance)
        for test in entry.divergences
    ]
    return [
        f"storage conformance backends: {', '.join(CONFORMANCE_BACKENDS)}",
        f"excluded from conformance: {excluded or 'none'}",
        f"known divergences (strict xfail): {', '.join(divergences) or 'none'}",
    ]


@pytest.fixture(scope="session")
def backend_registry() -> dict[str, Conformance | Excluded]:
    """``BACKENDS``, for test modules (which cannot import this conftest by name)."""
    return BACKENDS


@pytest.fixture(scope="session")
def discovered_backends() -> dict[str, type[BaseStorage]]:
    """Storage classes registered in the ``huey.storages`` entry-point group, by name."""
    return {backend.name: backend.storage_class for backend in list_backends()}


@pytest.fixture(params=CONFORMANCE_BACKENDS)
def backend_factory(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    discovered_backends: dict[str, type[BaseStorage]],
) -> StorageFactory:
    """``factory(queue_name) -> storage`` for each conformance backend, on a fresh location."""
    name: str = request.param
    if name not in discovered_backends:
        pytest.fail(
            f"backend {name!r} is registered in tests/conftest.py but huey.list_backends() "
            f"does not find it (found: {sorted(discovered_backends)}); is it installed?",
            pytrace=False,
        )
    entry = BACKENDS[name]
    assert isinstance(entry, Conformance)
    reason = entry.divergences.get(getattr(request.node, "originalname", ""))
    if reason is not None:
        request.node.add_marker(pytest.mark.xfail(reason=f"{name}: {reason}", strict=True))
    return entry.build(discovered_backends[name], request, tmp_path)
