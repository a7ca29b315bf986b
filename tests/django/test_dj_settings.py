"""settings.HUEY and settings.HUEY_QUEUES: every documented key, its default, DEBUG's immediate
mode, Huey instances, several queues and the errors for what cannot work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

import huey
from huey import FileHuey, MemoryHuey, RedisHuey, SqliteHuey
from huey.backends.redis import PriorityRedisHuey
from huey.contrib.djhuey._config import build_queue, load_queues
from huey.storage import FileStorage, MemoryStorage

# Never a server: these Redis instances are inspected, not used.
DB_NAME = "/srv/app/db.sqlite3"


def _settings(**values: Any) -> SimpleNamespace:
    values.setdefault("DEBUG", False)
    values.setdefault("DATABASES", {"default": {"NAME": DB_NAME}})
    return SimpleNamespace(**values)


def _redis_kwargs(h: huey.Huey) -> dict[str, Any]:
    storage = getattr(h, "_live_storage", None) or h.storage
    return dict(storage.connection_pool.connection_kwargs)


def test_no_settings_is_redis_on_localhost_named_after_the_database() -> None:
    queues = load_queues(_settings())
    assert list(queues) == ["default"]
    h = queues["default"].huey
    assert type(h) is RedisHuey
    assert h.name == DB_NAME
    assert not h.immediate
    kwargs = _redis_kwargs(h)
    assert (kwargs["host"], kwargs["port"], kwargs.get("db", 0)) == ("localhost", 6379, 0)
    assert h.storage.blocking and h.storage.read_timeout == 1
    assert (h.results, h.store_none, h.utc) == (True, False, True)
    assert queues["default"].consumer == {}


def test_a_database_name_that_is_a_path_and_no_database() -> None:
    queues = load_queues(_settings(DATABASES={"default": {"NAME": Path("/a/b.db")}}))
    assert queues["default"].huey.name == "/a/b.db"
    assert load_queues(_settings(DATABASES={}))["default"].huey.name == "huey"


def test_every_documented_key_with_its_default() -> None:
    consumer = {
        "workers": 1,
        "worker_type": "thread",
        "initial_delay": 0.1,
        "backoff": 1.15,
        "max_delay": 10.0,
        "scheduler_interval": 1,
        "periodic": True,
        "check_worker_health": True,
        "health_check_interval": 1,
    }
    config = {
        "huey_class": "huey.RedisHuey",
        "name": DB_NAME,
        "results": True,
        "store_none": False,
        "immediate": False,
        "utc": True,
        "blocking": True,
        "connection": {
            "host": "localhost",
            "port": 6379,
            "db": 0,
            "connection_pool": None,
            "read_timeout": 1,
            "url": None,
        },
        "consumer": consumer,
    }
    queue = build_queue("default", config, debug=False, default_name="unused")
    h = queue.huey
    assert type(h) is RedisHuey and h.name == DB_NAME and not h.immediate
    assert (h.results, h.store_none, h.utc) == (True, False, True)
    assert h.storage.blocking and h.storage.read_timeout == 1
    kwargs = _redis_kwargs(h)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("localhost", 6379, 0)
    assert queue.consumer == consumer


def test_non_default_values_reach_huey_and_its_storage() -> None:
    config = {
        "huey_class": "huey.PriorityRedisHuey",
        "name": "my-app",
        "results": False,
        "store_none": True,
        "utc": False,
        "blocking": False,
        "connection": {"host": "redis.internal", "port": 6380, "db": 3, "read_timeout": 2},
    }
    h = build_queue("default", config, debug=False, default_name="x").huey
    assert type(h) is PriorityRedisHuey
    assert (h.name, h.results, h.store_none, h.utc) == ("my-app", False, True, False)
    assert not h.storage.blocking and h.storage.read_timeout == 2
    kwargs = _redis_kwargs(h)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis.internal", 6380, 3)


def test_redis_url_at_the_top_level_or_in_connection() -> None:
    for config in (
        {"name": "a", "url": "redis://cache.internal:6390/?db=1"},
        {"name": "a", "connection": {"url": "redis://cache.internal:6390/?db=1"}},
    ):
        kwargs = _redis_kwargs(build_queue("default", config, debug=False, default_name="x").huey)
        assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.internal", 6390, 1)


def test_a_connection_pool() -> None:
    import redis

    pool = redis.ConnectionPool(host="pool.internal", port=6400, max_connections=20)
    config = {"name": "a", "connection": {"connection_pool": pool}}
    h = build_queue("default", config, debug=False, default_name="x").huey
    assert h.storage.connection_pool is pool


@pytest.mark.parametrize(
    ("path", "cls"),
    [
        ("huey.RedisHuey", RedisHuey),
        ("huey.PriorityRedisHuey", PriorityRedisHuey),
        ("huey.RedisExpireHuey", huey.RedisExpireHuey),
        ("huey.PriorityRedisExpireHuey", huey.PriorityRedisExpireHuey),
        ("huey.SqliteHuey", SqliteHuey),
        ("huey.FileHuey", FileHuey),
        ("huey.MemoryHuey", MemoryHuey),
        ("huey.backends.sqlite.SqliteHuey", SqliteHuey),
    ],
)
def test_huey_class_dotted_paths(path: str, cls: type, tmp_path: Path) -> None:
    extra: dict[str, Any] = {}
    if cls is SqliteHuey:
        extra = {"filename": str(tmp_path / "q.db")}
    elif cls is FileHuey:
        extra = {"path": str(tmp_path / "files")}
    h = build_queue("default", {"huey_class": path, **extra}, debug=False, default_name="n").huey
    assert type(h) is cls
    if cls is SqliteHuey:
        assert h.storage.filename == str(tmp_path / "q.db")
    if cls is FileHuey:
        assert isinstance(h.storage, FileStorage)


def test_huey_class_as_a_class() -> None:
    h = build_queue("default", {"huey_class": MemoryHuey}, debug=False, default_name="n").huey
    assert type(h) is MemoryHuey


def test_a_huey_instance_is_used_as_it_is() -> None:
    instance = MemoryHuey("mine")
    queue = build_queue("default", instance, debug=True, default_name="n")
    assert queue.huey is instance
    assert not instance.immediate  # DEBUG applies to dict settings only.


def test_a_missing_backend_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if huey-redis were not installed: no entry point publishes RedisHuey.
    from huey import _plugins

    monkeypatch.setattr(_plugins, "_exports", lambda: {})
    with pytest.raises(ImproperlyConfigured) as info:
        load_queues(_settings())
    assert "huey.RedisHuey" in str(info.value)
    assert "pip install huey-redis" in str(info.value)
    with pytest.raises(ImproperlyConfigured, match="pip install huey-sqlite"):
        build_queue("default", {"huey_class": "huey.SqliteHuey"}, debug=False, default_name="n")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"huey_class": "huey.NoSuchHuey"}, "NoSuchHuey"),
        ({"huey_class": "nowhere.Huey"}, "nowhere.Huey"),
        ({"huey_class": "huey.crontab"}, "must be a Huey subclass"),
        ({"huey_class": "huey.MemoryHuey", "colour": "blue"}, "colour"),
        ({"huey_class": "huey.MemoryHuey", "consumer": {"wokers": 2}}, "wokers"),
        ({"huey_class": "huey.MemoryHuey", "consumer": 4}, "'consumer'] must be a dict"),
        ({"url": "redis://a/", "connection": {"url": "redis://b/"}}, "both at the top level"),
        ({"huey_class": "huey.MemoryHuey", "delivery": "twice"}, "delivery must be"),
        ({"huey_class": "huey.MemoryHuey", "max_deliveries": 0}, "max_deliveries"),
    ],
)
def test_unusable_settings_say_what_is_wrong(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace(".", r"\.")):
        build_queue("default", config, debug=False, default_name="n")


def test_delivery_options_come_from_the_settings(tmp_path: Path) -> None:
    config = {
        "huey_class": "huey.SqliteHuey",
        "filename": str(tmp_path / "q.db"),
        "delivery": "at-least-once",
        "visibility_timeout": 120,
        "max_deliveries": 2,
    }
    h = build_queue("default", config, debug=False, default_name="n").huey
    assert (h.delivery, h.visibility_timeout, h.max_deliveries) == ("at-least-once", 120, 2)


def test_settings_huey_must_be_a_dict_or_an_instance() -> None:
    with pytest.raises(ImproperlyConfigured, match="dict or a Huey instance"):
        load_queues(_settings(HUEY="huey.RedisHuey"))


# -- DEBUG and immediate mode ----------------------------------------------------------------------
def test_debug_without_immediate_runs_tasks_synchronously_in_memory(tmp_path: Path) -> None:
    config = {"huey_class": "huey.SqliteHuey", "filename": str(tmp_path / "q.db")}
    h = build_queue("default", config, debug=True, default_name="n").huey
    assert h.immediate
    assert isinstance(h.storage, MemoryStorage)

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2).get() == 3
    h.immediate = False  # The configured storage comes back, untouched.
    assert type(h.storage).__name__ == "SqliteStorage"
    assert h.pending_count() == 0


def test_debug_with_immediate_use_memory_false_uses_the_live_storage(tmp_path: Path) -> None:
    config = {
        "huey_class": "huey.SqliteHuey",
        "filename": str(tmp_path / "q.db"),
        "immediate_use_memory": False,
    }
    h = build_queue("default", config, debug=True, default_name="n").huey
    assert h.immediate
    assert type(h.storage).__name__ == "SqliteStorage"

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    result = add(2, 2)
    assert result.get(preserve=True) == 4
    assert h.result_count() == 1  # Written to the SQLite file.


def test_debug_with_immediate_false_queues_tasks(tmp_path: Path) -> None:
    config = {
        "huey_class": "huey.SqliteHuey",
        "filename": str(tmp_path / "q.db"),
        "immediate": False,
    }
    h = build_queue("default", config, debug=True, default_name="n").huey
    assert not h.immediate

    @h.task()
    def add(a: int, b: int) -> int:
        return a + b

    add(1, 1)
    assert h.pending_count() == 1


def test_immediate_true_without_debug() -> None:
    h = build_queue("default", {"huey_class": "huey.MemoryHuey", "immediate": True}, debug=False,
                    default_name="n").huey  # fmt: skip
    assert h.immediate


def test_the_default_redis_in_debug_needs_no_server() -> None:
    h = load_queues(_settings(DEBUG=True))["default"].huey
    assert type(h) is RedisHuey and h.immediate and isinstance(h.storage, MemoryStorage)

    @h.task()
    def echo(value: str) -> str:
        return value

    assert echo("no server").get() == "no server"


# -- several queues --------------------------------------------------------------------------------
def test_named_queues_inherit_the_huey_dict(tmp_path: Path) -> None:
    base = {
        "huey_class": "huey.SqliteHuey",
        "name": "main",
        "filename": str(tmp_path / "q.db"),
        "consumer": {"workers": 4, "periodic": False},
    }
    queues = load_queues(
        _settings(
            HUEY=base,
            HUEY_QUEUES={
                "emails": {"consumer": {"workers": 8}},
                "reports": {"name": "monthly", "huey_class": "huey.MemoryHuey", "filename": None},
                "mine": MemoryHuey("instance"),
            },
        )
    )
    assert list(queues) == ["default", "emails", "reports", "mine"]
    emails = queues["emails"]
    assert type(emails.huey) is SqliteHuey and emails.huey.name == "emails"
    assert emails.huey.storage.filename == str(tmp_path / "q.db")
    assert emails.consumer == {"workers": 8, "periodic": False}
    assert queues["reports"].huey.name == "monthly"
    assert type(queues["reports"].huey) is MemoryHuey
    assert queues["mine"].huey.name == "instance"


def test_named_queues_under_debug_are_immediate_too() -> None:
    queues = load_queues(
        _settings(DEBUG=True, HUEY={"huey_class": "huey.MemoryHuey"}, HUEY_QUEUES={"b": {}})
    )
    assert queues["default"].huey.immediate and queues["b"].huey.immediate


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"default": {}}, "other than 'default'"),
        ({"": {}}, "non-empty string"),
        ({"b": {"name": "same"}}, "would share one queue"),
        ({"b": 3}, "must be a dict or a Huey instance"),
    ],
)
def test_unusable_named_queues(extra: dict[str, Any], message: str) -> None:
    settings = _settings(HUEY={"huey_class": "huey.MemoryHuey", "name": "same"}, HUEY_QUEUES=extra)
    with pytest.raises(ImproperlyConfigured, match=message):
        load_queues(settings)


def test_the_app_with_no_settings_at_all() -> None:
    """The real import path: INSTALLED_APPS only, in a fresh interpreter; nothing connects."""
    code = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["huey.contrib.djhuey"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "shop.db"}},
)
django.setup()
from huey.contrib.djhuey import HUEY, HUEYS
kwargs = HUEY.storage.connection_pool.connection_kwargs
print(type(HUEY).__name__, HUEY.name, kwargs["host"], kwargs["port"], HUEY.immediate, list(HUEYS))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "RedisHuey", "shop.db", "localhost", "6379", "False", "['default']"
    ]  # fmt: skip
