"""The public surface, pinned: ``huey.__all__`` exactly, and the documented names at every
documented import path.

Names that add-on distributions contribute (``RedisHuey``, ``SqliteStorage``...) are checked
against what is installed: present and loadable when their distribution is installed, and
otherwise no attribute at all, only an ``ImportError`` that names the distribution to install.

``tests/packaging/test_wheels.py`` reuses ``DOCUMENTED`` and ``ADDON_NAMES`` to check the same
paths from wheels in a fresh virtualenv.
"""

from __future__ import annotations

import importlib
import inspect
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

import huey

# Exactly what ``from huey import *`` gives, whichever add-ons are installed.
HUEY_ALL = {
    "SKIPPED",
    "Backend",
    "BlackHoleHuey",
    "CancelExecution",
    "Error",
    "FileHuey",
    "Huey",
    "MemoryHuey",
    "RetryTask",
    "__version__",
    "chord",
    "crontab",
    "group",
    "list_backends",
}

# Modules that define ``__all__``: pinned exactly.
EXACT_ALL = {
    "huey": HUEY_ALL,
    "huey.api": {
        "BlackHoleHuey",
        "ChordResult",
        "FileHuey",
        "Huey",
        "MemoryHuey",
        "PeriodicTask",
        "RateLimit",
        "Result",
        "ResultGroup",
        "Task",
        "TaskLock",
        "TaskWrapper",
        "chord",
        "crontab",
        "group",
    },
    "huey.serializer": {"Serializer", "SignedSerializer"},
    "huey.storage": {
        "BaseStorage",
        "BlackHoleStorage",
        "EmptyData",
        "Lease",
        "FileStorage",
        "MemoryStorage",
        # For storage authors: the key type the contract takes (str or UTF-8 bytes), its
        # normal form, and the check of put_if_empty's ttl.
        "Key",
        "key_text",
        "check_ttl",
    },
}

SIGNALS = {
    "SIGNAL_CANCELED": "canceled",
    "SIGNAL_COMPLETE": "complete",
    "SIGNAL_ERROR": "error",
    "SIGNAL_EXECUTING": "executing",
    "SIGNAL_EXPIRED": "expired",
    "SIGNAL_LOCKED": "locked",
    "SIGNAL_RETRYING": "retrying",
    "SIGNAL_REVOKED": "revoked",
    "SIGNAL_SCHEDULED": "scheduled",
    "SIGNAL_INTERRUPTED": "interrupted",
    "SIGNAL_ENQUEUED": "enqueued",
    "SIGNAL_TIMEOUT": "timeout",
    "SIGNAL_RATE_LIMITED": "rate-limited",
}

EXCEPTIONS = {
    "HueyException",
    "ConfigurationError",
    "TaskLockedException",
    "ResultTimeout",
    "TaskTimeout",
    "RateLimitExceeded",
    "CancelExecution",
    "RetryTask",
    "TaskException",
}

# Every documented import path and the names documented (or relied on by huey code in the
# wild) there. Core provides all of them; a module may hold more.
DOCUMENTED: dict[str, set[str]] = {
    **EXACT_ALL,
    "huey.exceptions": EXCEPTIONS,
    "huey.signals": {*SIGNALS, "Signal"},
    "huey.registry": {"Message"},
    "huey.utils": {"Error", "SKIPPED"},
    "huey.constants": {"EmptyData"},
    "huey.consumer": {"Consumer"},
    # Used by code that runs the consumer from its own command line (djhuey's run_huey).
    "huey.consumer_options": {"ConsumerConfig", "OptionParserHandler"},
    "huey.contrib.mini": {"MiniHuey"},
    "huey.testing.conformance": set(),
    "huey.bin.huey_consumer": {"main"},
}

# Documented names that other distributions provide, per module that resolves them lazily.
_REDIS_HUEYS = {"RedisHuey", "PriorityRedisHuey", "RedisExpireHuey", "PriorityRedisExpireHuey"}
_REDIS_STORAGES = {
    "RedisStorage",
    "PriorityRedisStorage",
    "RedisExpireStorage",
    "PriorityRedisExpireStorage",
}
ADDON_NAMES: dict[str, dict[str, str]] = {
    "huey": {**dict.fromkeys(_REDIS_HUEYS, "huey-redis"), "SqliteHuey": "huey-sqlite"},
    "huey.api": {**dict.fromkeys(_REDIS_HUEYS, "huey-redis"), "SqliteHuey": "huey-sqlite"},
    "huey.storage": {
        **dict.fromkeys(_REDIS_STORAGES, "huey-redis"),
        "SqliteStorage": "huey-sqlite",
    },
}

MESSAGE_FIELDS = (
    "id",
    "name",
    "eta",
    "retries",
    "retry_delay",
    "priority",
    "args",
    "kwargs",
    "on_complete",
    "on_error",
    "expires",
    "expires_resolved",
    "timeout",
    "chord_config",
    "retry_backoff",
)

CORE_PYPROJECT = Path(__file__).resolve().parents[2] / "packages" / "huey-core" / "pyproject.toml"


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def _addon_cases() -> list[tuple[str, str, str]]:
    return [
        (module, name, dist)
        for module, names in ADDON_NAMES.items()
        for name, dist in sorted(names.items())
    ]


def test_huey_all_is_pinned() -> None:
    assert len(huey.__all__) == len(set(huey.__all__))
    assert set(huey.__all__) == HUEY_ALL


def test_huey_namespace_holds_nothing_but_all() -> None:
    # httpx style: every public, non-module name of ``huey`` is in ``__all__``, so helpers
    # imported by ``huey/__init__.py`` do not leak into the public surface.
    public = {
        name
        for name, value in vars(huey).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public == HUEY_ALL - {"__version__"}


@pytest.mark.parametrize("module_name", sorted(EXACT_ALL))
def test_all_is_pinned_and_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert len(module.__all__) == len(set(module.__all__))
    assert set(module.__all__) == EXACT_ALL[module_name]
    for name in module.__all__:
        assert name in vars(module), f"{module_name}.{name} is in __all__ but not defined"


@pytest.mark.parametrize("module_name", sorted(DOCUMENTED))
def test_documented_names_at_documented_paths(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = sorted(name for name in DOCUMENTED[module_name] if name not in vars(module))
    assert not missing, f"{module_name} lacks {missing}"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from huey import *", namespace)
    assert set(namespace) - {"__builtins__"} == HUEY_ALL


def test_same_objects_at_every_path() -> None:
    import huey.api
    import huey.constants
    import huey.exceptions
    import huey.storage
    import huey.utils

    for name in ("Huey", "MemoryHuey", "FileHuey", "BlackHoleHuey", "chord", "group", "crontab"):
        assert getattr(huey, name) is getattr(huey.api, name)
    assert huey.CancelExecution is huey.exceptions.CancelExecution
    assert huey.RetryTask is huey.exceptions.RetryTask
    assert huey.Error is huey.utils.Error
    assert huey.SKIPPED is huey.utils.SKIPPED
    assert huey.storage.EmptyData is huey.constants.EmptyData
    assert huey.MemoryHuey.storage_class is huey.storage.MemoryStorage
    assert huey.FileHuey.storage_class is huey.storage.FileStorage
    assert huey.BlackHoleHuey.storage_class is huey.storage.BlackHoleStorage


def test_kinds_of_documented_names() -> None:
    import huey.exceptions
    import huey.registry
    import huey.signals
    import huey.storage

    for name in EXCEPTIONS:
        assert issubclass(getattr(huey.exceptions, name), Exception), name
    assert {name: getattr(huey.signals, name) for name in SIGNALS} == SIGNALS
    # Queued tasks are pickled Messages shared with huey 3.5.4: path, name and field order.
    assert huey.registry.Message.__module__ == "huey.registry"
    assert huey.registry.Message.__name__ == "Message"
    assert huey.registry.Message._fields == MESSAGE_FIELDS
    for name in ("Huey", "MemoryHuey", "FileHuey", "BlackHoleHuey"):
        assert issubclass(getattr(huey, name), huey.Huey)
    for name in ("MemoryStorage", "FileStorage", "BlackHoleStorage"):
        assert issubclass(getattr(huey.storage, name), huey.storage.BaseStorage)
    assert isinstance(huey.__version__, str)
    assert huey.__version__ == metadata.version("huey-core")


@pytest.mark.parametrize(("module_name", "name", "distribution"), _addon_cases())
def test_addon_names(module_name: str, name: str, distribution: str) -> None:
    module = importlib.import_module(module_name)
    if _installed(distribution):
        value = getattr(module, name)
        assert inspect.isclass(value)
        base = huey.storage.BaseStorage if name.endswith("Storage") else huey.Huey
        assert issubclass(value, base)
        (entry_point,) = metadata.entry_points(group="huey.exports", name=name)
        assert entry_point.dist is not None
        assert entry_point.dist.name == distribution
        return
    # Not installed: no attribute of any kind, only a lazy error that says what to install.
    assert name not in vars(module)
    assert name not in dir(module)
    assert name not in getattr(module, "__all__", ())
    with pytest.raises(ImportError, match=f"pip install {distribution}"):
        getattr(module, name)
    with pytest.raises(ImportError, match=f"pip install {distribution}"):
        exec(f"from {module_name} import {name}", {})


def test_exports_of_installed_addons_resolve() -> None:
    import huey.storage

    # Every name registered in ``huey.exports`` resolves where it is documented.
    for entry_point in metadata.entry_points(group="huey.exports"):
        target = huey.storage if entry_point.name.endswith("Storage") else huey
        assert getattr(target, entry_point.name) is entry_point.load(), entry_point


@pytest.mark.parametrize("module_name", ["huey", "huey.api", "huey.storage"])
def test_unknown_names_raise_attribute_error(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in ("NoSuchHuey", "NoSuchStorage", "no_such_thing"):
        with pytest.raises(AttributeError, match=name):
            getattr(module, name)
        assert not hasattr(module, name)


def test_list_backends() -> None:
    import huey.storage

    backends = huey.list_backends()
    assert [backend.name for backend in backends] == sorted(backend.name for backend in backends)
    by_name = {backend.name: backend for backend in backends}
    assert {"memory", "file", "blackhole"} <= set(by_name)
    expected = {
        "memory": huey.storage.MemoryStorage,
        "file": huey.storage.FileStorage,
        "blackhole": huey.storage.BlackHoleStorage,
    }
    for name, storage_class in expected.items():
        backend = by_name[name]
        assert backend == huey.Backend(name, storage_class, "huey-core", huey.__version__)
        assert (backend.name, backend.storage_class, backend.distribution, backend.version) == (
            name,
            storage_class,
            "huey-core",
            huey.__version__,
        )
    # Exactly the installed registrations: a backend that failed to register is missing here.
    registered = {ep.name: ep for ep in metadata.entry_points(group="huey.storages")}
    assert set(by_name) == set(registered)
    for name, backend in by_name.items():
        assert backend.storage_class is registered[name].load()
        assert issubclass(backend.storage_class, huey.storage.BaseStorage)
        dist = registered[name].dist
        assert dist is not None
        assert (backend.distribution, backend.version) == (dist.name, dist.version)


def test_console_scripts_resolve() -> None:
    scripts = tomllib.loads(CORE_PYPROJECT.read_text())["project"]["scripts"]
    assert set(scripts) == {"huey_consumer", "huey_consumer.py"}
    for target in scripts.values():
        module_name, _, attribute = target.partition(":")
        assert callable(getattr(importlib.import_module(module_name), attribute)), target


def test_storage_cysqlite_is_the_optional_driver_or_none() -> None:
    # huey 3.5.4 code tests ``huey.storage.cysqlite is not None`` before using CySqliteHuey.
    try:
        driver: ModuleType | None = importlib.import_module("cysqlite")
    except ImportError:
        driver = None
    assert huey.storage.cysqlite is driver
