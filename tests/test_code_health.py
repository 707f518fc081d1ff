"""The static checks CI runs: mypy (strict, configured in pyproject.toml's [tool.mypy]) and
ruff (pyproject.toml's [tool.ruff]) must find nothing. A finding fails the test with the tool's
own report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_strict_finds_nothing() -> None:
    result = _run("mypy")  # files, strictness and plugins: pyproject.toml
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-fix", ".")
    assert result.returncode == 0, f"ruff found problems:\n{result.stdout}{result.stderr}"
