"""The packaging tests' one build of every distribution, shared by their modules."""

from __future__ import annotations

import pytest
from packaging_toolchain import Toolchain, build_toolchain


@pytest.fixture(scope="package")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Toolchain:
    return build_toolchain(tmp_path_factory.mktemp("packaging"))
