"""Every distribution under ``packages/``, built as wheels and installed into fresh virtualenvs.

- The wheels alone (no workspace, no build tools; huey-core's alone, then all of them) give
  every documented import path, list their backends and explain the missing ones.
- A throwaway add-on (``huey-fakebackend``: only the leaf packages ``huey/backends/fake/`` and
  ``huey/contrib/fakeext/``, a storage in ``huey.storages`` and ``FakeHuey`` in ``huey.exports``)
  is found beside huey-core whatever mix of wheel and editable installs is used: the mix is
  where a ``huey/__init__.py`` or ``huey/contrib/__init__.py`` without ``extend_path`` breaks.
- The published ``huey`` beside huey-core makes ``import huey`` fail, saying what to uninstall;
  doing what it says repairs the environment.

Everything is built in temporary directories (``packaging_toolchain``). The package index is
used only to fetch build requirements, third-party dependencies of the packages and the
published ``huey`` for the conflict check. Without the index these tests skip, except in CI.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging_toolchain import CORE, FAKE, REPO, Toolchain, Venv, needs_index, run

pytestmark = pytest.mark.slow

PUBLISHED_HUEY = "huey==3.5.4"

# Folders that several distributions share: only huey-core may ship an __init__.py in them.
SHARED_INITS = {"huey/__init__.py", "huey/contrib/__init__.py", "huey/backends/__init__.py"}


@pytest.fixture(scope="module")
def core_venv(tools: Toolchain) -> Venv:
    """A fresh venv holding the huey-core wheel and nothing else."""
    venv = tools.venv("core-wheel-only")
    venv.install_local(tools.wheels[CORE])
    return venv


@pytest.fixture(scope="module")
def wheel_venv(tools: Toolchain) -> Venv:
    """A fresh venv holding the wheels of every repository package and nothing else."""
    venv = tools.venv("wheels-only")
    venv.install_local(*tools.wheels.values())
    return venv


def _wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if ".dist-info/" not in name}


def test_wheels_share_no_file_and_only_core_owns_shared_inits(tools: Toolchain) -> None:
    owners: dict[str, str] = {}
    for name, wheel in [*tools.wheels.items(), (FAKE, tools.fake_wheel)]:
        files = _wheel_files(wheel)
        assert files, f"{wheel.name} ships no file"
        assert all(path.startswith("huey/") for path in files), sorted(files)
        if name == CORE:
            assert {"huey/__init__.py", "huey/contrib/__init__.py", "huey/py.typed"} <= files
        else:
            assert not files & SHARED_INITS, f"{name} ships {sorted(files & SHARED_INITS)}"
        for path in files:
            # pip lets two distributions write the same file, and then each breaks the other.
            assert path not in owners, f"{path} is in both {owners[path]} and {name}"
            owners[path] = name


def test_core_wheel_alone_gives_the_documented_surface(tools: Toolchain, core_venv: Venv) -> None:
    assert core_venv.distributions() == {CORE}
    where = core_venv.check(tools.spec(tools.core))
    assert Path(where["files"]["huey"]).is_relative_to(core_venv.path)
    bin_dir = core_venv.python.parent
    assert (bin_dir / "huey_consumer").is_file()
    assert (bin_dir / "huey_consumer.py").is_file()


def test_all_wheels_give_the_documented_surface(tools: Toolchain, wheel_venv: Venv) -> None:
    ours = {canonicalize_name(name) for name in tools.wheels}
    # Besides ours, only third-party dependencies (redis-py for huey-redis), from the wheelhouse.
    fetched = {canonicalize_name(w.name.split("-")[0]) for w in tools.wheelhouse.glob("*.whl")}
    installed = wheel_venv.distributions()
    assert ours <= installed
    assert installed - ours <= fetched
    where = wheel_venv.check(tools.spec(tools.packages))
    assert Path(where["files"]["huey"]).is_relative_to(wheel_venv.path)


def test_core_backends_are_listed_with_their_distribution(
    tools: Toolchain, core_venv: Venv
) -> None:
    code = (
        "import huey, json\n"
        "print(json.dumps([[b.name, b.storage_class.__name__, b.distribution, b.version]"
        " for b in huey.list_backends()]))"
    )
    proc = run([core_venv.python, "-c", code], cwd=tools.tmp)
    version = tools.version(CORE)
    assert json.loads(proc.stdout) == [
        ["blackhole", "BlackHoleStorage", CORE, version],
        ["file", "FileStorage", CORE, version],
        ["memory", "MemoryStorage", CORE, version],
    ]


def test_missing_backend_names_its_distribution(tools: Toolchain, core_venv: Venv) -> None:
    cases = [
        ("from huey import RedisHuey", "huey-redis"),
        ("import huey.storage; huey.storage.SqliteStorage", "huey-sqlite"),
    ]
    for code, distribution in cases:
        proc = run([core_venv.python, "-c", code], cwd=tools.tmp, check=False)
        assert proc.returncode != 0
        assert "ImportError" in proc.stderr, proc.stderr
        assert f"pip install {distribution}" in proc.stderr, proc.stderr
    proc = run([core_venv.python, "-c", "import huey; huey.NoSuchHuey"], cwd=tools.tmp, check=False)
    assert proc.returncode != 0
    assert "AttributeError" in proc.stderr and "NoSuchHuey" in proc.stderr, proc.stderr


def test_worker_types_that_need_more_name_it_and_version_lists_core_alone(
    tools: Toolchain, core_venv: Venv
) -> None:
    consumer = core_venv.python.parent / "huey_consumer"
    app = "from huey import MemoryHuey\nhuey = MemoryHuey()\n"
    (tools.tmp / "core_only_app.py").write_text(app)
    cases = [
        ("asyncio", "pip install huey-asyncio", "./packages/huey-asyncio"),
        ("greenlet", "pip install 'huey-core[gevent]'", "needs gevent"),  # Not installed here.
    ]
    for worker_type, install, detail in cases:
        proc = run([consumer, "-k", worker_type, "core_only_app.huey"], cwd=tools.tmp, check=False)
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert install in line and detail in line, line
    code = "from huey._workers import worker_types; print(*worker_types())"
    proc = run([core_venv.python, "-c", code], cwd=tools.tmp)
    assert proc.stdout.split() == ["process", "thread"]  # Only what can run here.
    proc = run([consumer, "--version"], cwd=tools.tmp)
    assert proc.stdout.splitlines() == [f"{CORE} {tools.version(CORE)}"]


def test_addon_wheel_then_editable_beside_core_wheel(tools: Toolchain, wheel_venv: Venv) -> None:
    try:
        wheel_venv.install_local(tools.fake_wheel)
        where = wheel_venv.check(tools.spec(tools.packages, fake=True))
        assert Path(where["files"]["huey.backends.fake"]).is_relative_to(wheel_venv.path)
        wheel_venv.pip("uninstall", "--yes", FAKE)

        wheel_venv.install_local("--editable", tools.fake_src)
        where = wheel_venv.check(tools.spec(tools.packages, fake=True))
        assert Path(where["files"]["huey"]).is_relative_to(wheel_venv.path)
        assert Path(where["files"]["huey.backends.fake"]).is_relative_to(tools.fake_src)
        assert Path(where["files"]["huey.contrib.fakeext"]).is_relative_to(tools.fake_src)
    finally:
        wheel_venv.pip("uninstall", "--yes", FAKE)
    wheel_venv.check(tools.spec(tools.packages))


def test_addon_wheel_then_editable_beside_editable_core(tools: Toolchain) -> None:
    # Like the hatch workspace: every repository package editable; then the add-on.
    venv = tools.venv("editable-core")
    editables = [arg for package in tools.packages for arg in ("--editable", package.root)]
    venv.install_local(*editables)
    core_src = REPO / "packages" / "huey-core" / "src"

    venv.install_local(tools.fake_wheel)
    where = venv.check(tools.spec(tools.packages, fake=True))
    assert Path(where["files"]["huey"]).is_relative_to(core_src)
    assert Path(where["files"]["huey.backends.fake"]).is_relative_to(venv.path)
    assert Path(where["files"]["huey.contrib.fakeext"]).is_relative_to(venv.path)

    venv.pip("uninstall", "--yes", FAKE)
    venv.install_local("--editable", tools.fake_src)
    where = venv.check(tools.spec(tools.packages, fake=True))
    assert Path(where["files"]["huey"]).is_relative_to(core_src)
    assert Path(where["files"]["huey.backends.fake"]).is_relative_to(tools.fake_src)
    assert Path(where["files"]["huey.contrib.fakeext"]).is_relative_to(tools.fake_src)


def test_published_huey_beside_core_refuses_to_import(tools: Toolchain) -> None:
    venv = tools.venv("conflict")
    proc = venv.pip("install", "--no-compile", PUBLISHED_HUEY, check=False)
    needs_index(proc, PUBLISHED_HUEY)
    # pip overwrites the published huey's files with huey-core's without a word.
    venv.install_local(tools.wheels[CORE])

    proc = run([venv.python, "-c", "import huey"], cwd=tools.tmp, check=False)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr, proc.stderr
    assert "pip uninstall -y huey" in proc.stderr, proc.stderr
    assert "pip install --force-reinstall huey-core" in proc.stderr, proc.stderr

    # Doing what the message says repairs the environment.
    venv.pip("uninstall", "-y", "huey")
    venv.install_local("--force-reinstall", CORE)
    assert venv.distributions() == {CORE}
    proc = run(
        [venv.python, "-c", "import huey; print(huey.__file__); print(huey.MemoryHuey('x'))"],
        cwd=tools.tmp,
    )
    assert Path(proc.stdout.splitlines()[0]).is_relative_to(venv.path)
