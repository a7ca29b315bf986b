"""The storage conformance suite against ``ValkeyGlideStorage`` on a private redis-server.

Three configurations: blocking dequeue (BRPOP; a short read timeout keeps empty-queue checks
quick), polling dequeue (``blocking=False``: RPOP) and result notification
(``notify_result=True``: ``wait_result`` blocks on the notification list).
"""

from __future__ import annotations

from typing import Any

import pytest

from huey.contrib.valkey_glide import ValkeyGlideStorage
from huey.testing.conformance import StorageConformance, StorageFactory

VARIANTS: dict[str, dict[str, Any]] = {
    "blocking": {"read_timeout": 0.25},
    "polling": {"blocking": False},
    "notify": {"read_timeout": 0.25, "notify_result": True},
}


class TestValkeyGlideConformance(StorageConformance):
    @pytest.fixture(params=sorted(VARIANTS))
    def storage_factory(self, request: pytest.FixtureRequest, port: int) -> StorageFactory:
        options = VARIANTS[request.param]
        return lambda name: ValkeyGlideStorage(name, port=port, **options)
