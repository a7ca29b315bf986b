"""huey: a lightweight task queue.

Core names are defined here; names contributed by other distributions of this project (for
example ``RedisHuey`` from huey-redis, ``SqliteHuey`` from huey-sqlite) resolve lazily through
entry points, and a missing one tells what to install.
"""

from pkgutil import extend_path

# Other distributions ship subpackages of ``huey``; find them in every install location,
# editable ones included.
__path__ = extend_path(__path__, __name__)

from huey._conflict import check_no_published_huey  # noqa: E402

check_no_published_huey()

from typing import TYPE_CHECKING, Any  # noqa: E402

from huey._crontab import crontab  # noqa: E402
from huey._plugins import Backend, list_backends, resolve_export  # noqa: E402
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

if TYPE_CHECKING:  # Resolved lazily at run time; visible to type checkers.
    from huey.backends.redis import (  # type: ignore[import-not-found]
        PriorityRedisExpireHuey,
        PriorityRedisHuey,
        RedisExpireHuey,
        RedisHuey,
    )
    from huey.backends.sqlite import SqliteHuey  # type: ignore[import-not-found]

__all__ = [
    "Backend",
    "BlackHoleHuey",
    "CancelExecution",
    "FileHuey",
    "Huey",
    "MemoryHuey",
    "PriorityRedisExpireHuey",
    "PriorityRedisHuey",
    "RedisExpireHuey",
    "RedisHuey",
    "RetryTask",
    "SqliteHuey",
    "__version__",
    "chord",
    "crontab",
    "group",
    "list_backends",
]


def __getattr__(name: str) -> Any:
    return resolve_export(name, __name__)
