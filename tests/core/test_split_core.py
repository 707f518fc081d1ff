"""The structure issue 15 asks of the snapshot and fault code: small modules along their
seams, snapshots given their collaborators (never the runtime), faults taking the contract
from its leaf, no method named ``list``, and a tenant-bound fault that fires only from an
explicit call, never from a plain assignment."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import emulator
from emulator.core.fault_registry import Faults
from emulator.core.journal import RequestInfo
from emulator.core.snapshot_store import SnapshotStore
from emulator.core.snapshots import Snapshots

CORE = Path(emulator.__file__).parent / "core"
SNAPSHOT_MODULES = sorted(CORE.glob("snapshot*.py"))
FAULT_MODULES = sorted(CORE.glob("fault*.py"))


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, TYPE_CHECKING blocks and function bodies included."""
    package = "emulator.core"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                prefix = ".".join(base)
            else:
                prefix = ""
            module = ".".join(p for p in (prefix, node.module or "") if p)
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def test_the_split_modules_exist():
    names = {p.stem for p in SNAPSHOT_MODULES + FAULT_MODULES}
    assert {"snapshots", "snapshot_format", "snapshot_store", "snapshot_copy", "snapshot_check"} <= names
    assert {"faults", "fault_rules", "fault_registry", "fault_asgi"} <= names


@pytest.mark.parametrize("path", SNAPSHOT_MODULES + FAULT_MODULES, ids=lambda p: p.name)
def test_each_module_stays_under_500_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 500, f"{path.name} has {lines} lines"


@pytest.mark.parametrize("path", SNAPSHOT_MODULES, ids=lambda p: p.name)
def test_no_snapshot_module_sees_the_runtime(path):
    assert "emulator.core.runtime" not in _imports(path)
    assert "_services" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", FAULT_MODULES, ids=lambda p: p.name)
def test_faults_take_the_contract_from_its_leaf(path):
    imports = _imports(path)
    assert "emulator.core.apis" not in imports and "emulator.core.runtime" not in imports


def test_snapshots_are_given_their_collaborators():
    params = inspect.signature(Snapshots.__init__).parameters
    assert "emulator" not in params
    assert {"db", "tenants", "clock", "ids", "limiter", "blobs", "services", "state_changed"} <= set(params)


@pytest.mark.parametrize("cls", [Faults, Snapshots, SnapshotStore])
def test_no_method_shadows_the_builtin_list(cls):
    assert not hasattr(cls, "list")


def test_naming_the_tenant_is_an_explicit_fault_point():
    assert "__setattr__" not in vars(RequestInfo)
    seen: list[str] = []
    info = RequestInfo(on_tenant=seen.append)
    info.tenant = "plain"  # a plain assignment is only that
    assert seen == [] and info.tenant == "plain"
    info.identify_tenant("named")
    assert seen == ["named"] and info.tenant == "named"
