"""Refuse to run beside the published ``huey`` distribution.

Both ship ``huey/__init__.py``; pip does not guard against two distributions owning the same
files, so installing, upgrading or removing either one silently corrupts the other.
"""

from __future__ import annotations

from importlib import metadata

_FIX = "pip uninstall -y huey && pip install --force-reinstall huey-core"


def check_no_published_huey() -> None:
    try:
        other = metadata.distribution("huey")
    except metadata.PackageNotFoundError:
        return
    raise ImportError(
        f"The published 'huey' distribution (version {other.version}) is installed beside "
        "huey-core. Both provide the 'huey' package and overwrite each other's files. "
        f"Remove it and repair huey-core with: {_FIX}"
    )
