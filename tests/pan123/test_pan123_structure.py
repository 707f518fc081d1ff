"""The shape of the 123pan and Antelope packages (issue 15): small one-idea modules behind
each service facade, one query for a file's parts, no method named ``list``, and services
that are the core's :class:`~emulator.core.contract.Service`."""

from __future__ import annotations

import ast
from pathlib import Path

import emulator.apis.antelope as antelope
import emulator.apis.pan123 as pan123
from emulator.apis.antelope.service import AntelopeService
from emulator.apis.pan123.service import Pan123Service
from emulator.core.contract import Service, ServiceBase

FOLDERS = [Path(pan123.__file__).parent, Path(antelope.__file__).parent]


def _modules() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in folder.glob("*.py"))


def test_no_module_over_500_lines() -> None:
    long = {p.name: n for p in _modules() if (n := len(p.read_text().splitlines())) > 500}
    assert not long


def test_the_parts_of_a_file_are_queried_in_one_place() -> None:
    """Every reader of a file's slices goes through tree.file_parts."""
    folder = Path(pan123.__file__).parent
    where = [p.name for p in folder.glob("*.py") if "order_by(Pan123FilePart.seq)" in p.read_text()]
    assert where == ["tree.py"]


def test_no_method_shadows_a_builtin_used_in_annotations() -> None:
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names = {f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
                assert not names & {"list", "dict", "set", "type", "str", "int"}, (path.name, node.name)


def test_services_keep_the_contract(emu) -> None:
    for name, cls in (("pan123", Pan123Service), ("antelope", AntelopeService)):
        service = emu.service(name)
        assert isinstance(service, cls) and isinstance(service, ServiceBase) and isinstance(service, Service)
