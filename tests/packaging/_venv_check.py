"""Run by ``test_wheels.py`` inside a throwaway virtualenv, never by pytest itself.

Usage: ``python _venv_check.py SPEC.json``. Runs every check the spec asks for; on success
prints one JSON object (where the imported modules live), otherwise exits non-zero with
every failure.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback


def _check_documented(documented: dict[str, list[str]], optional: dict[str, str]) -> None:
    for module_name, names in documented.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A module built on an optional dependency may only fail for lack of that one.
            if module_name in optional and exc.name == optional[module_name]:
                continue
            raise
        missing = sorted(name for name in names if name not in vars(module))
        assert not missing, f"{module_name} lacks {missing}"


def _check_backends(expected: dict[str, list[str]]) -> None:
    import huey

    found = {b.name: [b.distribution, b.version] for b in huey.list_backends()}
    assert found == expected, f"list_backends() gave {found}, expected {expected}"


def _check_exports(exports: list[list[str]]) -> None:
    for module_name, name in exports:
        value = getattr(importlib.import_module(module_name), name)
        assert isinstance(value, type), (module_name, name, value)
        namespace: dict[str, object] = {}
        exec(f"from {module_name} import {name}", namespace)
        assert namespace[name] is value


def _check_missing(missing: list[list[str]]) -> None:
    for module_name, name, distribution in missing:
        module = importlib.import_module(module_name)
        assert name not in vars(module), (module_name, name)
        assert name not in dir(module), (module_name, name)
        assert name not in getattr(module, "__all__", ()), (module_name, name)
        for statement in (f"{module_name}.{name}", f"from {module_name} import {name}"):
            try:
                exec(f"import {module_name}\n{statement}", {})
            except ImportError as exc:
                assert f"pip install {distribution}" in str(exc), str(exc)
            else:
                raise AssertionError(f"{statement} worked without {distribution}")


def _check_unknown() -> None:
    for module_name in ("huey", "huey.api", "huey.storage"):
        module = importlib.import_module(module_name)
        for name in ("NoSuchHuey", "NoSuchStorage", "no_such_name"):
            try:
                getattr(module, name)
            except AttributeError as exc:
                assert name in str(exc), str(exc)
            else:
                raise AssertionError(f"{module_name}.{name} resolved")


def _check_star_import() -> None:
    import huey

    # ``from huey import *`` gives exactly ``__all__``, whatever add-ons are installed.
    namespace: dict[str, object] = {}
    exec("from huey import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(huey.__all__)


def _check_extra(imports: list[str], statements: list[str]) -> None:
    for module_name in imports:
        importlib.import_module(module_name)
    for statement in statements:
        exec(statement, {})


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    import huey

    checks = [
        (_check_star_import,),
        (_check_documented, spec["documented"], spec["optional"]),
        (_check_backends, spec["backends"]),
        (_check_exports, spec["exports"]),
        (_check_missing, spec["missing"]),
        (_check_unknown,),
        (_check_extra, spec["imports"], spec["statements"]),
    ]
    failures = []
    for check, *args in checks:
        try:
            check(*args)
        except Exception:
            failures.append(f"{check.__name__}:\n{traceback.format_exc()}")
    if failures:
        sys.exit("\n".join(failures))

    files = {name: importlib.import_module(name).__file__ for name in ["huey", *spec["imports"]]}
    print(json.dumps({"files": files, "huey_path": list(huey.__path__)}))


if __name__ == "__main__":
    main()
