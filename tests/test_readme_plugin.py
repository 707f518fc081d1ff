"""The pytest plugin as users meet it: the README's examples and the sample client-team
module run as pytest runs of their own, with nothing but the installed plugin."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from cli_process import clean_env
from helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def plugin_examples() -> list[str]:
    section = README.split("## Testing with the pytest plugin", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-W", "error::pytest.PytestUnraisableExceptionWarning", *args],
        cwd=folder, capture_output=True, text=True, timeout=300, env=env,
    )


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    from importlib.metadata import entry_points

    [ep] = [e for e in entry_points(group="pytest11") if e.name == "storage_emulator"]
    assert ep.value == "emulator.testing.plugin"


def test_readme_plugin_examples_pass(tmp_path):
    examples = plugin_examples()
    assert len(examples) >= 7
    tests = 0
    for n, code in enumerate(examples):
        (tmp_path / f"test_readme_example_{n}.py").write_text(code, encoding="utf-8")
        tests += len(re.findall(r"^def test_", code, flags=re.M))
    out = run_pytest(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(rf"\b{tests} passed\b", out.stdout), out.stdout


def test_client_team_sample_module_passes(tmp_path):
    sample = tmp_path / "client_team"
    shutil.copytree(REPO / "examples" / "client_team", sample)
    out = run_pytest(sample)
    assert out.returncode == 0, out.stdout + out.stderr
    expected = len(re.findall(r"^def test_", (sample / "test_photo_sync.py").read_text(), flags=re.M))
    assert re.search(rf"\b{expected} passed\b", out.stdout), out.stdout
