"""The READMEs' install lines, run as written into fresh virtualenvs.

Every ``pip install`` line in a code block of README.md and packages/*/README.md is read from the
file itself, so the documentation and this test cannot drift apart. There are three kinds:

- from a checkout (``./packages/...``): run from the repository root;
- from wheels (``dist/...whl``): run where ``dist/`` holds every package's wheel, named as
  ``hatch build --all`` names them (the shared toolchain builds them with pip);
- from the package index (bare names): never run. The distributions are not published yet, so
  pip would fetch whatever the index holds under those names, if anything; the README must say
  that they are not available yet.

Only third-party dependencies and build requirements come from the toolchain's wheelhouse
(``--no-index``), so a line that omits one of our distributions fails here as it fails for a
user. After each install the venv holds exactly the distributions the line names, gives their
documented surface (_venv_check.py) and runs a task.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging_toolchain import CORE, REPO, Package, Toolchain

pytestmark = pytest.mark.slow

READMES = [REPO / "README.md", *sorted(REPO.glob("packages/*/README.md"))]
CODE_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
NOT_YET = "not yet available"

# What each distribution's line must be able to run, beyond importing its documented names.
USAGE = {
    CORE: """\
from huey import MemoryHuey
huey = MemoryHuey("docs", immediate=True)
add = huey.task()(lambda a, b: a + b)
assert add(1, 2).get() == 3
""",
    "huey-sqlite": """\
import os, tempfile
from huey import SqliteHuey
with tempfile.TemporaryDirectory() as folder:
    huey = SqliteHuey("docs", filename=os.path.join(folder, "docs.db"))
    add = huey.task()(lambda a, b: a + b)
    result = add(1, 2)
    huey.execute(huey.dequeue())
    assert result.get() == 3
    huey.storage.close()
""",
    "huey-asyncio": """\
import asyncio
from huey import MemoryHuey
from huey.contrib.asyncio import aget_result
huey = MemoryHuey("docs", immediate=True)
async def double(n):
    return n * 2
assert asyncio.run(aget_result(huey.task()(double)(21))) == 42
""",
}


@dataclass(frozen=True)
class InstallLine:
    readme: Path
    args: tuple[str, ...]  # What follows ``pip install``, without the comment.
    prose: str  # The text between the previous code block and this one.

    @property
    def kind(self) -> str:
        if all(arg.startswith("./packages/") for arg in self.args):
            return "checkout"
        if all(arg.startswith("dist/") and arg.endswith(".whl") for arg in self.args):
            return "wheels"
        if all(re.fullmatch(r"[a-z][a-z0-9-]*(\[[a-z,]+\])?", arg) for arg in self.args):
            return "index"
        raise AssertionError(f"{self}: an install line of no known kind")

    def __str__(self) -> str:
        return f"{self.readme.relative_to(REPO)}: pip install {' '.join(self.args)}"


def _install_lines() -> list[InstallLine]:
    lines = []
    for readme in READMES:
        text = readme.read_text()
        end = 0
        for block in CODE_BLOCK.finditer(text):
            prose, end = text[end : block.start()], block.end()
            for line in block[1].splitlines():
                words = shlex.split(line, comments=True)
                if words[:2] == ["pip", "install"]:
                    lines.append(InstallLine(readme, tuple(words[2:]), prose))
    return lines


INSTALL_LINES = _install_lines()
# Each distinct line once, where it first appears (the package READMEs repeat the top one's).
RUNNABLE: dict[tuple[str, ...], InstallLine] = {}
for _line in INSTALL_LINES:
    if _line.kind != "index":
        RUNNABLE.setdefault(_line.args, _line)


def test_every_readme_installs_from_a_checkout_from_wheels_and_once_published() -> None:
    for readme in READMES:
        kinds = {line.kind for line in INSTALL_LINES if line.readme == readme}
        assert kinds == {"checkout", "wheels", "index"}, readme
    for line in INSTALL_LINES:
        if line.kind == "index":
            assert NOT_YET in line.prose, f"{line}: not said to be unavailable yet"
        else:
            # Until huey-core is published, pip finds it only when it is on the same line.
            assert line.args[0] in ("./packages/huey-core", "dist/huey_core-*.whl"), str(line)


@pytest.mark.parametrize("line", RUNNABLE.values(), ids=str)
def test_install_line_installs_what_it_names(tools: Toolchain, line: InstallLine) -> None:
    if line.kind == "checkout":
        paths = [REPO / arg for arg in line.args]
        named = {canonicalize_name(Package.read(path).name) for path in paths}
    else:
        # As in the repository after ``hatch build --all``: the globs find the built wheels.
        paths = [wheel for arg in line.args for wheel in sorted(tools.tmp.glob(arg))]
        assert len(paths) == len(line.args), f"{line}: the globs found {paths}"
        named = {canonicalize_name(path.name.split("-")[0]) for path in paths}
    venv = tools.venv(f"docs-{list(RUNNABLE).index(line.args)}")
    venv.pip("install", "--no-compile", "--no-index", "--find-links", tools.wheelhouse, *paths)

    ours = {canonicalize_name(package.name): package for package in tools.packages}
    installed = [ours[name] for name in sorted(venv.distributions() & ours.keys())]
    assert {canonicalize_name(package.name) for package in installed} == named
    spec = tools.spec(installed)
    spec["statements"] = [USAGE[package.name] for package in installed if package.name in USAGE]
    venv.check(spec)
