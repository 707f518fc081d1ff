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
