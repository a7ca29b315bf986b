"""From Django settings to Huey instances: ``settings.HUEY`` and the named ``HUEY_QUEUES``.

``settings.HUEY`` is a Huey instance, used as it is, or a dict:

- ``huey_class``: a Huey subclass or its dotted path (default ``"huey.RedisHuey"``);
- ``name``: the queue's name (default: the name of the ``default`` database);
- ``immediate``: run tasks synchronously (default ``settings.DEBUG``);
- ``connection``: storage arguments (Redis host, port, db, url, connection_pool...);
- ``consumer``: ``run_huey`` options (workers, worker_type...), overridden by its command line;
- anything else (``results``, ``store_none``, ``utc``, ``blocking``, ``immediate_use_memory``,
  ``filename``, ``url``...) is passed to the Huey class as a keyword argument.

``settings.HUEY_QUEUES`` maps more queue names to the same kind of value. A dict entry is laid
over the ``HUEY`` dict (its ``connection`` and ``consumer`` sub-dicts key by key) and is named
after its key unless it sets ``name``; ``None`` takes an inherited key away. The ``HUEY`` queue
itself is called ``"default"``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from huey.api import Huey
from huey.consumer_options import ConsumerConfig
from huey.exceptions import ConfigurationError

DEFAULT_QUEUE = "default"
DEFAULT_HUEY_CLASS = "huey.RedisHuey"

# Keys of a settings dict that are not Huey constructor arguments.
_OWN_KEYS = frozenset({"huey_class", "name", "connection", "consumer"})


@dataclass
class Queue:
    """One configured queue: its Huey instance and the ``run_huey`` defaults from settings."""

    name: str
    huey: Huey
    consumer: dict[str, Any] = field(default_factory=dict)
    # Class, name and storage arguments (dict settings only), to spot two queues that would
    # silently share one queue.
    identity: tuple[Any, ...] | None = None


def default_queue_name(settings: Any) -> str:
    """The documented default ``name``: the default database's ``NAME``, else ``"huey"``."""
    databases = getattr(settings, "DATABASES", None) or {}
    name = (databases.get(DEFAULT_QUEUE) or {}).get("NAME")
    return os.fspath(name) if name else "huey"


def load_huey_class(value: Any, setting: str) -> type[Huey]:
    """The Huey subclass named by ``value`` (a class or a dotted path such as huey.SqliteHuey)."""
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            # huey.RedisHuey without huey-redis says "pip install huey-redis": keep that text.
            raise ImproperlyConfigured(
                f"{setting}['huey_class'] = {value!r} cannot be imported: {exc}"
            ) from exc
    if not (isinstance(value, type) and issubclass(value, Huey)):
        raise ImproperlyConfigured(
            f"{setting}['huey_class'] must be a Huey subclass or its dotted path, got {value!r}"
        )
    return value


def _sub_dict(config: Mapping[str, Any], key: str, setting: str) -> dict[str, Any]:
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"{setting}['{key}'] must be a dict, got {value!r}")
    return dict(value)


def check_consumer_options(options: Mapping[str, Any], setting: str) -> dict[str, Any]:
    """Refuse consumer settings that ``run_huey`` would not know."""
    unknown = sorted(set(options) - set(ConsumerConfig.option_names()))
    if unknown:
        raise ImproperlyConfigured(
            f"{setting}['consumer'] has unknown options: {', '.join(unknown)} (known: "
            f"{', '.join(ConsumerConfig.option_names())})"
        )
    return dict(options)


def build_queue(
    queue: str,
    value: Any,
    *,
    debug: bool,
    default_name: str,
    setting: str = "settings.HUEY",
) -> Queue:
    """A Queue from one settings value: a Huey instance, a dict, or None (every default)."""
    if isinstance(value, Huey):
        return Queue(queue, value)
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"{setting} must be a dict or a Huey instance, got {type(value).__name__}"
        )
    huey_class = load_huey_class(value.get("huey_class") or DEFAULT_HUEY_CLASS, setting)
    name = value.get("name") or default_name
    connection = _sub_dict(value, "connection", setting)
    consumer = check_consumer_options(_sub_dict(value, "consumer", setting), setting)
    kwargs = {key: item for key, item in value.items() if key not in _OWN_KEYS}
    if kwargs.get("immediate") is None:
        # Not set explicitly: DEBUG runs tasks synchronously, as the reference documents.
        kwargs["immediate"] = bool(debug)
    both = sorted(set(kwargs) & set(connection))
    if both:
        raise ImproperlyConfigured(
            f"{setting} sets {', '.join(both)} both at the top level and in 'connection'"
        )
    kwargs.update(connection)
    try:
        huey = huey_class(name, **kwargs)
    except (TypeError, ValueError, ConfigurationError) as exc:
        raise ImproperlyConfigured(f"{setting}: {huey_class.__name__}: {exc}") from exc
    storage = sorted((key, repr(item)) for key, item in huey.storage_kwargs.items())
    return Queue(queue, huey, consumer, (huey_class, name, repr(storage)))


def _merge(base: Mapping[str, Any], entry: Mapping[str, Any], queue: str) -> dict[str, Any]:
    """A HUEY_QUEUES dict entry laid over the HUEY dict."""
    merged = {key: value for key, value in base.items() if key != "name"}
    for key, value in entry.items():
        if key in ("connection", "consumer") and isinstance(value, Mapping):
            merged[key] = {**(merged.get(key) or {}), **value}
        elif value is None and key in base:
            merged.pop(key, None)  # None takes an inherited key away.
        else:
            merged[key] = value
    merged.setdefault("name", queue)
    return merged


def load_queues(settings: Any) -> dict[str, Queue]:
    """Every configured queue, ``"default"`` (settings.HUEY) first."""
    debug = bool(getattr(settings, "DEBUG", False))
    default_name = default_queue_name(settings)
    base = getattr(settings, "HUEY", None)
    queues = {
        DEFAULT_QUEUE: build_queue(DEFAULT_QUEUE, base, debug=debug, default_name=default_name)
    }

    extra = getattr(settings, "HUEY_QUEUES", None) or {}
    if not isinstance(extra, Mapping):
        raise ImproperlyConfigured("settings.HUEY_QUEUES must be a dict of queue name to settings")
    for queue, value in extra.items():
        setting = f"settings.HUEY_QUEUES[{queue!r}]"
        if not isinstance(queue, str) or not queue or queue == DEFAULT_QUEUE:
            raise ImproperlyConfigured(
                f"{setting}: a queue name is a non-empty string other than {DEFAULT_QUEUE!r} "
                "(settings.HUEY is the default queue)"
            )
        if isinstance(value, Mapping):
            value = _merge(base if isinstance(base, Mapping) else {}, value, queue)
        queues[queue] = build_queue(
            queue, value, debug=debug, default_name=default_name, setting=setting
        )

    seen: dict[tuple[Any, ...], str] = {}
    for queue in queues.values():
        if queue.identity is None:
            continue
        if queue.identity in seen:
            raise ImproperlyConfigured(
                f"queues {seen[queue.identity]!r} and {queue.name!r} have the same huey_class, "
                "name and connection: they would share one queue; give each its own 'name'"
            )
        seen[queue.identity] = queue.name
    return queues
