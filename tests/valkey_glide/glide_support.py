"""Helpers of the valkey-glide storage tests (a uniquely named module, not ``conftest``, so
test modules import it unambiguously)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def service_unavailable(what: str) -> NoReturn:
    """As ``tests/conftest.py``'s: fail under CI, skip locally, with the reason."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not available; CI must run every backend", pytrace=False)
    pytest.skip(f"{what} is not available (under CI=true this fails)")
