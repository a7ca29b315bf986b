"""``huey_consumer path.to.huey_instance [options]``: run a consumer for a Huey instance.

Exit status: 0 after a normal stop, 1 when the instance cannot be imported or the consumer
fails, 2 for invalid options. Also runs as ``python -m huey.bin.huey_consumer``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from huey._tasklog import call_site, user_traceback
from huey._workers.loop import one_line
from huey.consumer_options import OptionParserHandler
from huey.exceptions import ConfigurationError

if TYPE_CHECKING:
    from huey.api import Huey

logger = logging.getLogger("huey.consumer")


class _NotAHuey(Exception):
    pass


def load_huey(path: str) -> Huey:
    """The object at dotted ``path`` (``package.module.attribute``), which must be a Huey."""
    from huey.api import Huey

    module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise _NotAHuey(f"{path!r} is not a dotted path such as myapp.tasks.huey")
    module = importlib.import_module(module_name)
    try:
        obj = getattr(module, attribute)
    except AttributeError:
        raise _NotAHuey(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(obj, Huey):
        raise _NotAHuey(f"{path!r} is a {type(obj).__name__}, not a Huey instance")
    return obj


def _fail(status: int, message: str) -> int:
    sys.stderr.write(f"huey_consumer: error: {message}\n")
    return status


def _import_failed(import_path: str, exc: Exception, verbose: bool) -> int:
    """One line when huey refused what the application asked of it (a storage that cannot open
    its file: the message says why), the traceback from the application's code otherwise or
    with -v."""
    site = call_site(exc)
    if site is None or verbose:
        traceback.print_exception(type(exc), exc, user_traceback(exc))
    where = "" if site is None else f" (at {site}{'' if verbose else '; -v shows the traceback'})"
    return _fail(1, f"cannot import {import_path!r}: {one_line(exc)}{where}")


def main(argv: Sequence[str] | None = None) -> int:
    import_path, config = OptionParserHandler().parse_args(argv)

    from huey._workers import load_worker_type

    try:
        pool_class = load_worker_type(config.worker_type)
    except ConfigurationError as exc:
        return _fail(2, str(exc))
    pool_class.setup_process()  # Before the application is imported (gevent's monkey-patch).
    config.setup_logger()

    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        huey = load_huey(import_path)
    except _NotAHuey as exc:
        return _fail(1, str(exc))
    except ModuleNotFoundError as exc:
        if exc.name and import_path.startswith(exc.name):  # The path itself, not a dependency.
            return _fail(1, f"cannot import {import_path!r}: {exc}")
        return _import_failed(import_path, exc, config.loglevel <= logging.DEBUG)
    except Exception as exc:
        return _import_failed(import_path, exc, config.loglevel <= logging.DEBUG)

    try:
        consumer = huey.create_consumer(**config.values)
        consumer.run()
    except ConfigurationError as exc:
        return _fail(2, str(exc))
    except Exception:
        logger.exception("consumer failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
