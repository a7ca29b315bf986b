"""What the packaging tests share: the repository's packages built as wheels, fresh venvs.

``build_toolchain`` builds every distribution under ``packages/`` (and a throwaway add-on,
``huey-fakebackend``) as wheels in a temporary directory, with a builder venv whose pip drives
every other venv. The package index is used only to fetch build requirements (hatchling) and
third-party dependencies of the packages; our own distributions always come from local wheels
or source trees (``--no-index``). Without the index the tests skip, except in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
CHECK_SCRIPT = Path(__file__).resolve().parent / "_venv_check.py"
CORE = "huey-core"

# Documented modules built on an optional third-party package: from the wheels alone they may
# fail to import for lack of that package, and for nothing else.
OPTIONAL_DEPENDENCY = {"huey.contrib.mini": "gevent", "huey.testing.conformance": "pytest"}

FAKE = "huey-fakebackend"
FAKE_VERSION = "1.2.3"
FAKE_FILES = {
    "pyproject.toml": f"""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{FAKE}"
version = "{FAKE_VERSION}"
requires-python = ">=3.11"
dependencies = ["huey-core"]

[project.entry-points."huey.storages"]
fake = "huey.backends.fake:FakeStorage"

[project.entry-points."huey.exports"]
FakeHuey = "huey.backends.fake:FakeHuey"
FakeStorage = "huey.backends.fake:FakeStorage"

[tool.hatch.build.targets.wheel]
only-include = ["src/huey/backends/fake", "src/huey/contrib/fakeext"]
sources = ["src"]
""",
    "src/huey/backends/fake/__init__.py": """\
from huey.api import MemoryHuey
from huey.storage import MemoryStorage


class FakeStorage(MemoryStorage):
    pass


class FakeHuey(MemoryHuey):
    storage_class = FakeStorage
""",
    "src/huey/contrib/fakeext/__init__.py": 'MARKER = "fakeext"\n',
}
FAKE_CHECKS = {
    "imports": ["huey.backends.fake", "huey.contrib.fakeext"],
    "statements": [
        "from huey import FakeHuey\n"
        "from huey.api import FakeHuey as again\n"
        "from huey.storage import FakeStorage\n"
        "assert again is FakeHuey\n"
        "assert isinstance(FakeHuey('fake').storage, FakeStorage)\n",
        "import huey.contrib.fakeext\nassert huey.contrib.fakeext.MARKER == 'fakeext'\n",
    ],
}


def clean_env() -> dict[str, str]:
    """This process's environment without what would leak the workspace into a venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV"}
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONDONTWRITEBYTECODE="1",  # editable installs point into the repository
        PYTHONNOUSERSITE="1",
    )
    return env


ENV = clean_env()


def run(
    args: Sequence[object], *, cwd: Path, check: bool = True, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    command = [str(arg) for arg in args]
    proc = subprocess.run(
        command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"exit {proc.returncode}: {' '.join(command)}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}",
            pytrace=False,
        )
    return proc


def needs_index(proc: subprocess.CompletedProcess[str], what: str) -> None:
    """A step that fetches from the package index failed: skip locally, fail in CI."""
    if proc.returncode == 0:
        return
    message = f"could not fetch {what} from the package index:\n{proc.stderr[-2000:]}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def documented_api() -> ModuleType:
    """tests/core/test_public_api.py: the documented names, listed once."""
    path = REPO / "tests" / "core" / "test_public_api.py"
    spec = importlib.util.spec_from_file_location("_huey_public_api_for_wheels", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Package:
    """One distribution of the repository, as its pyproject.toml declares it."""

    root: Path
    name: str
    build_requires: list[str]
    dependencies: list[str]
    storages: dict[str, str]
    exports: dict[str, str]

    @classmethod
    def read(cls, root: Path) -> Package:
        data = tomllib.loads((root / "pyproject.toml").read_text())
        project = data["project"]
        entry_points = project.get("entry-points", {})
        return cls(
            root=root,
            name=project["name"],
            build_requires=data["build-system"]["requires"],
            dependencies=project.get("dependencies", []),
            storages=entry_points.get("huey.storages", {}),
            exports=entry_points.get("huey.exports", {}),
        )


@dataclass
class Venv:
    """A fresh virtualenv without pip; pip runs from the builder venv with ``--python``."""

    path: Path
    tools: Toolchain

    @property
    def python(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin") / "python"

    def pip(self, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            [self.tools.builder, "-m", "pip", "--python", self.python, *args],
            cwd=self.tools.tmp,
            check=check,
        )

    def install_local(self, *args: object) -> None:
        """Install from local wheels and source trees only, never from the index."""
        self.pip("install", "--no-compile", "--no-index", *self.tools.find_links, *args)

    def distributions(self) -> set[str]:
        listing = json.loads(self.pip("list", "--format=json").stdout)
        return {canonicalize_name(item["name"]) for item in listing}

    def check(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Run _venv_check.py in this venv; returns where the checked modules were found."""
        spec_file = self.path / "check-spec.json"
        spec_file.write_text(json.dumps(spec, indent=1))
        proc = run([self.python, CHECK_SCRIPT, spec_file], cwd=self.tools.tmp)
        return json.loads(proc.stdout.strip().splitlines()[-1])


@dataclass
class Toolchain:
    tmp: Path
    builder: Path
    wheelhouse: Path
    dist: Path
    packages: list[Package]
    wheels: dict[str, Path] = field(default_factory=dict)
    fake_src: Path = Path()
    fake_wheel: Path = Path()

    @property
    def find_links(self) -> list[object]:
        return ["--find-links", self.dist, "--find-links", self.wheelhouse]

    def venv(self, name: str) -> Venv:
        path = self.tmp / name
        run([sys.executable, "-m", "venv", "--without-pip", path], cwd=self.tmp)
        return Venv(path, self)

    def build_wheel(self, source: Path) -> Path:
        out = self.tmp / "build" / source.name
        run(
            [
                self.builder,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--wheel-dir",
                out,
                source,
            ],
            cwd=self.tmp,
        )
        (wheel,) = out.glob("*.whl")
        return Path(shutil.move(wheel, self.dist / wheel.name))

    def version(self, name: str) -> str:
        """The version in the built wheel's file name."""
        return self.wheels[name].name.split("-")[1]

    @property
    def core(self) -> list[Package]:
        return [package for package in self.packages if package.name == CORE]

    def spec(self, installed: list[Package], *, fake: bool = False) -> dict[str, Any]:
        """What _venv_check.py checks where ``installed`` (and the fake) are installed."""
        public_api = documented_api()
        backends = {
            name: [package.name, self.version(package.name)]
            for package in installed
            for name in package.storages
        }
        exports = set()
        for package in installed:
            for name in package.exports:
                modules = ["huey.storage"] if name.endswith("Storage") else ["huey", "huey.api"]
                exports.update((module, name) for module in modules)
        missing = []
        installed_names = {canonicalize_name(package.name) for package in installed}
        for module, names in public_api.ADDON_NAMES.items():
            for name, distribution in sorted(names.items()):
                if canonicalize_name(distribution) in installed_names:
                    exports.add((module, name))
                else:
                    missing.append([module, name, distribution])
        spec: dict[str, Any] = {
            "documented": {
                module: sorted(names) for module, names in public_api.DOCUMENTED.items()
            },
            "optional": OPTIONAL_DEPENDENCY,
            "backends": backends,
            "exports": sorted(exports),
            "missing": missing,
            "imports": [],
            "statements": [],
        }
        if fake:
            spec["backends"]["fake"] = [FAKE, FAKE_VERSION]
            spec["exports"] += [
                ["huey", "FakeHuey"],
                ["huey.api", "FakeHuey"],
                ["huey.storage", "FakeStorage"],
            ]
            spec.update(FAKE_CHECKS)
        return spec


def build_toolchain(tmp: Path) -> Toolchain:
    """Every repository package and the fake add-on built as wheels under ``tmp``."""
    packages = [Package.read(p.parent) for p in sorted(REPO.glob("packages/*/pyproject.toml"))]
    assert CORE in {package.name for package in packages}
    ours = {canonicalize_name(package.name) for package in packages} | {FAKE}

    # A builder venv (with pip) holding the build requirements; pip in it drives every venv.
    run([sys.executable, "-m", "venv", tmp / "builder"], cwd=tmp)
    builder = tmp / "builder" / ("Scripts" if os.name == "nt" else "bin") / "python"
    build_requires = {"hatchling"} | {r for p in packages for r in p.build_requires}
    third_party = {
        dependency
        for package in packages
        for dependency in package.dependencies
        if canonicalize_name(Requirement(dependency).name) not in ours
    }
    # hatchling asks for ``editables`` when it builds an editable install.
    fetch = build_requires | third_party | {"editables"}
    wheelhouse = tmp / "wheelhouse"
    proc = run(
        [builder, "-m", "pip", "wheel", "--wheel-dir", wheelhouse, *fetch],
        cwd=tmp,
        check=False,
    )
    needs_index(proc, "build requirements")
    run(
        [
            builder,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            wheelhouse,
            *build_requires,
        ],
        cwd=tmp,
    )

    dist = tmp / "dist"
    dist.mkdir()
    toolchain = Toolchain(tmp, builder, wheelhouse, dist, packages)
    for package in packages:
        toolchain.wheels[package.name] = toolchain.build_wheel(package.root)

    toolchain.fake_src = tmp / "fake-src"
    for relative, text in FAKE_FILES.items():
        path = toolchain.fake_src / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    toolchain.fake_wheel = toolchain.build_wheel(toolchain.fake_src)
    return toolchain
