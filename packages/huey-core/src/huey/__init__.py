"""huey: a lightweight task queue.

Core names are defined here; names contributed by other distributions of this project (for
example ``RedisHuey`` from huey-redis, ``SqliteHuey`` from huey-sqlite) resolve lazily through
entry points, and a missing one tells what to install.
"""

import typing as _typing
from pkgutil import extend_path as _extend_path

# Other distributions ship subpackages of ``huey``; find them in every install location,
# editable ones included.
__path__ = _extend_path(__path__, __name__)

from huey._conflict import check_no_published_huey as _check_no_published_huey

_check_no_published_huey()

from huey._crontab import crontab  # noqa: E402
from huey._plugins import Backend, list_backends  # noqa: E402
from huey._plugins import resolve_export as _resolve_export  # noqa: E402
from huey._version import __version__  # noqa: E402
from huey.api import (  # noqa: E402
    BlackHoleHuey,
    FileHuey,
    Huey,
    MemoryHuey,
    chord,
    group,
)
from huey.exceptions import CancelExecution, RetryTask  # noqa: E402
from huey.utils import SKIPPED, Error  # noqa: E402

if _typing.TYPE_CHECKING:  # Resolved lazily at run time; visible to type checkers.
    from huey.backends.redis import PriorityRedisExpireHuey as PriorityRedisExpireHuey  # type: ignore[import-not-found, import-untyped]
    from huey.backends.redis import PriorityRedisHuey as PriorityRedisHuey  # type: ignore[import-not-found, import-untyped]
    from huey.backends.redis import RedisExpireHuey as RedisExpireHuey  # type: ignore[import-not-found, import-untyped]
    from huey.backends.redis import RedisHuey as RedisHuey  # type: ignore[import-not-found, import-untyped]
    from huey.backends.sqlite import SqliteHuey as SqliteHuey  # type: ignore[import-not-found]

# Only names that are always importable: add-on names (``RedisHuey``, ``SqliteHuey``...) resolve
# through ``__getattr__`` and stay out of ``__all__``, so ``from huey import *`` and ``help(huey)``
# work whichever add-ons are installed.
__all__ = [
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
]


def __getattr__(name: str) -> _typing.Any:
    return _resolve_export(name, __name__)
