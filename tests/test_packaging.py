"""pyproject lists its packages by hand (a mapped folder rules out discovery): keep the
list and the tree in step, and the console script and fixtures where users find them."""

from __future__ import annotations

import tomllib
from importlib.metadata import entry_points
from importlib.resources import files

from helpers import REPO


def test_every_package_in_the_tree_is_listed():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "emulator").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found | {"emulator.fixtures"} == listed


def test_console_script_and_packaged_fixtures():
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts["storage-emulator"] == "emulator.cli:main"
    assert files("emulator.fixtures").joinpath("default.yaml").read_text(encoding="utf-8") == (
        REPO / "fixtures" / "default.yaml"
    ).read_text(encoding="utf-8")


def _requirements(extra: str | None) -> dict[str, set[str]]:
    """Name -> extras asked for, of the runtime dependencies or of one optional extra."""
    import re

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    out: dict[str, set[str]] = {}
    for req in reqs:
        m = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", req)
        assert m, req
        out[m.group(1).lower().replace("_", "-")] = {e.strip() for e in (m.group(2) or "").split(",") if e.strip()}
    return out


def test_wechatpy_brings_a_crypto_library():
    # wechatpy raises "You must install either cryptography or pycryptodome!" at import
    # time and depends on neither: the test extra must ask for one through its extras.
    extras = _requirements("test")["wechatpy"]
    assert extras & {"cryptography", "pycrypto"}, "wechatpy needs [cryptography] (or [pycrypto]) in the test extra"


def test_every_third_party_import_of_the_tests_is_declared():
    """A fresh venv gets only what pyproject declares: every module the tests import must
    come from the standard library, the project, the tests folder, or a declared
    distribution (or one of their own dependencies)."""
    import ast
    import sys
    from importlib.metadata import packages_distributions, requires

    declared = set(_requirements(None)) | set(_requirements("test"))
    # What each declared distribution pulls in (one level, extras we ask for included).
    reachable = set(declared)
    for name in list(declared):
        try:
            for req in requires(name) or []:
                bare = req.split(";")[0].split("[")[0].split("(")[0].split(">")[0].split("=")[0].split("<")[0]
                reachable.add(bare.strip().lower().replace("_", "-"))
        except Exception:  # noqa: BLE001 - a declared distribution not installed is caught below
            pass
    local = {p.stem for p in (REPO / "tests").rglob("*.py")} | {"emulator", "tests"}
    dists = packages_distributions()
    missing: dict[str, str] = {}
    for path in (REPO / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top in sys.stdlib_module_names or top in local:
                    continue
                owners = {d.lower().replace("_", "-") for d in dists.get(top, [])}
                if not owners:
                    missing[top] = str(path.relative_to(REPO))
                elif not owners & reachable:
                    missing[top] = f"{path.relative_to(REPO)} (from {sorted(owners)})"
    assert not missing, f"tests import modules no declared dependency provides: {missing}"
