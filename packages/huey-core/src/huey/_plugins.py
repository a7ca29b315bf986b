"""Discovery of storages and add-on names through entry points.

Core never imports another distribution by name: storages register in ``huey.storages`` and
public names that add-ons contribute to ``huey``, ``huey.api`` and ``huey.storage`` (such as
``RedisHuey``) register in ``huey.exports``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

CORE_DISTRIBUTION = "huey-core"
STORAGE_GROUP = "huey.storages"
EXPORT_GROUP = "huey.exports"

# Names documented by the huey reference that this project publishes in separate distributions.
# Only used to tell users what to install when such a name is missing; lookups go through
# entry points.
_INSTALL_HINTS = {
    **dict.fromkeys(
        ("SqliteHuey", "SqliteStorage", "CySqliteHuey", "CySqliteStorage"), "huey-sqlite"
    ),
    **dict.fromkeys(
        (
            "RedisHuey",
            "PriorityRedisHuey",
            "RedisExpireHuey",
            "PriorityRedisExpireHuey",
            "RedisStorage",
            "PriorityRedisStorage",
            "RedisExpireStorage",
            "PriorityRedisExpireStorage",
        ),
        "huey-redis",
    ),
}


@dataclass(frozen=True)
class Backend:
    """An installed storage backend, as listed by ``huey.list_backends()``."""

    name: str
    storage_class: type
    distribution: str
    version: str


def _entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


@functools.cache
def _exports() -> dict[str, metadata.EntryPoint]:
    return _entry_points(EXPORT_GROUP)


def resolve_export(name: str, module: str) -> Any:
    """Load the add-on object published under ``name``; explain what to install if missing."""
    entry_point = _exports().get(name)
    if entry_point is not None:
        return entry_point.load()
    hint = _INSTALL_HINTS.get(name)
    if hint is not None:
        raise ImportError(
            f"{name} is provided by the {hint!r} distribution, which is not installed: "
            f"pip install {hint}",
            name=module,
        )
    raise AttributeError(f"module {module!r} has no attribute {name!r}")


def list_backends() -> list[Backend]:
    """Every storage registered in the ``huey.storages`` entry-point group, sorted by name.

    Loading a backend imports its module; a backend whose import fails raises that error.
    """
    backends = []
    for name, entry_point in sorted(_entry_points(STORAGE_GROUP).items()):
        dist = entry_point.dist
        backends.append(
            Backend(
                name=name,
                storage_class=entry_point.load(),
                distribution=dist.name if dist else "unknown",
                version=dist.version if dist else "unknown",
            )
        )
    return backends


def _requires_core(dist: metadata.Distribution) -> bool:
    for requirement in dist.requires or ():
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        if name and _canonical(name.group()) == CORE_DISTRIBUTION:
            return True
    return False


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions() -> list[tuple[str, str]]:
    """``(distribution, version)`` of huey-core, then of every installed distribution that
    depends on it (this project's add-ons and third-party ones), sorted by name."""
    try:
        core = [(CORE_DISTRIBUTION, metadata.version(CORE_DISTRIBUTION))]
    except metadata.PackageNotFoundError:  # Imported from a source tree, not installed.
        from huey._version import __version__

        core = [(CORE_DISTRIBUTION, __version__)]
    addons = {
        _canonical(dist.name): dist.version
        for dist in metadata.distributions()
        if dist.name and _canonical(dist.name) != CORE_DISTRIBUTION and _requires_core(dist)
    }
    return core + sorted(addons.items())


def get_storage_class(name: str) -> type:
    """The storage class registered under ``name`` (for example ``"sqlite"``)."""
    entry_point = _entry_points(STORAGE_GROUP).get(name)
    if entry_point is None:
        known = ", ".join(sorted(_entry_points(STORAGE_GROUP))) or "none"
        raise LookupError(f"no storage named {name!r} is installed (installed: {known})")
    return entry_point.load()
