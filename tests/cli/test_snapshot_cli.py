"""`storage-emulator snapshot ...` against live servers, and `serve --import FILE` /
`EMULATOR_IMPORT`: an exported state restored at start on another server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cli_process
import httpx
import pytest
from cli_process import clean_env
from helpers import start_server
from snapshot_kit import SECOND, T0, Kit, add_tenants, ok, scope_of


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = clean_env(env)
    return cli_process.run(args, env=full_env, timeout=60)


def succeeds(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def fails(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storage-emulator: error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def server(tmp_path):
    live = start_server(tmp_path / "one")
    try:
        yield live
    finally:
        live.stop()


def test_snapshot_commands_against_a_live_server(server, tmp_path):
    url = server.url
    with httpx.Client(base_url=url) as http:
        ok(http.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        add_tenants(http)
        a, b = Kit(http), Kit(http, SECOND)
        a.fill("one")
        b.fill("one")
        saved_a, saved_b = a.evidence(), b.evidence()

        out = succeeds(cli("snapshot", "save", "base", "--url", url))
        assert out.startswith("saved base ") and "whole state" in out
        tenants = [f"--tenant={api}:{ident}" for api, ids in scope_of(SECOND).items() for ident in ids]
        out = succeeds(cli("snapshot", "save", "b-only", *tenants, "--url", url))
        assert "tenants jpush:second-jpush-app" in out and "nextjoy:1001:2002" in out
        listing = succeeds(cli("snapshot", "list", env={"EMULATOR_URL": url})).splitlines()
        assert [line.split()[0] for line in listing] == ["b-only", "base"]
        assert (server.data_dir / "snapshots" / "base.snapshot").is_file()

        exported = tmp_path / "out" / "base.snapshot"
        exported.parent.mkdir()
        out = succeeds(cli("snapshot", "export", "base", str(exported), "--url", url))
        assert out.startswith(f"exported base to {exported}")
        assert exported.read_bytes() == http.get("/_emulator/snapshots/base/export").content

        a.fill("two")
        b.fill("two")
        assert succeeds(cli("snapshot", "restore", "b-only", "--url", url)).startswith("restored b-only ")
        assert b.evidence() == saved_b and a.evidence() != saved_a
        succeeds(cli("snapshot", "restore", "base", "--url", url))
        assert (a.evidence(), b.evidence()) == (saved_a, saved_b)

        out = succeeds(cli("snapshot", "import", "again", str(exported), "--url", url))
        assert out.startswith("imported again ")
        assert succeeds(cli("snapshot", "delete", "base", "--url", url)) == "deleted base\n"
        listing = succeeds(cli("snapshot", "list", "--url", url)).splitlines()
        assert [line.split()[0] for line in listing] == ["again", "b-only"]

        # Refusals: one line, exit 2, nothing changed.
        fails(cli("snapshot", "restore", "base", "--url", url), "snapshot restore", "no snapshot named 'base'", "404")
        fails(cli("snapshot", "save", "bad/name", "--url", url), "name must be")
        fails(cli("snapshot", "save", "x", "--tenant", "jpush", "--url", url), "--tenant must be API:IDENTITY")
        fails(cli("snapshot", "save", "x", "--tenant", "jpush:nobody", "--url", url), "no jpush tenant 'nobody'")
        not_a_snapshot = tmp_path / "junk.bin"
        not_a_snapshot.write_bytes(b"junk" * 1000)
        fails(cli("snapshot", "import", "junk", str(not_a_snapshot), "--url", url), "not a storage-emulator snapshot")
        fails(cli("snapshot", "import", "junk", str(tmp_path / "missing.snapshot"), "--url", url), "cannot read")
        fails(cli("snapshot", "export", "nothing", str(tmp_path / "nothing.snapshot"), "--url", url), "404")
        assert not (tmp_path / "nothing.snapshot").exists() and not list(tmp_path.glob(".nothing*"))
        listing = succeeds(cli("snapshot", "list", "--url", url)).splitlines()
        assert [line.split()[0] for line in listing] == ["again", "b-only"]


def test_an_unreachable_emulator_is_a_one_line_error():
    fails(cli("snapshot", "list", "--url", "http://127.0.0.1:9"), "cannot reach http://127.0.0.1:9")


def test_import_at_start_restores_the_exported_state_on_another_server(server, tmp_path):
    with httpx.Client(base_url=server.url) as http:
        ok(http.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        add_tenants(http)
        Kit(http).fill("one")
        Kit(http, SECOND).fill("one")
        saved = Kit(http).evidence(), Kit(http, SECOND).evidence(), ok(http.get("/_emulator/store"))
        ok(http.post("/_emulator/snapshots", json={"name": "ship"}), 201)
    exported = tmp_path / "ship.snapshot"
    succeeds(cli("snapshot", "export", "ship", str(exported), "--url", server.url))

    for how in ("flag", "env"):
        args = ("--import", str(exported)) if how == "flag" else ()
        env = {"EMULATOR_IMPORT": str(exported)} if how == "env" else None
        other = start_server(tmp_path / how, *args, env=env)  # its own, empty data dir
        try:
            with httpx.Client(base_url=other.url) as http:
                assert (Kit(http).evidence(), Kit(http, SECOND).evidence(), ok(http.get("/_emulator/store"))) == saved
                assert ok(http.get("/_emulator/clock")) == {"now": T0, "frozen": True}
        finally:
            assert other.stop() == 0


def test_snapshots_survive_a_restart_of_the_server(tmp_path):
    first = start_server(tmp_path)
    try:
        with httpx.Client(base_url=first.url) as http:
            Kit(http).jpush(b"kept\n")
            saved = Kit(http).evidence(("jpush",))
            succeeds(cli("snapshot", "save", "kept", "--url", first.url))
            Kit(http).jpush(b"after\n")
    finally:
        assert first.stop() == 0
    second = start_server(tmp_path)
    try:
        assert succeeds(cli("snapshot", "list", "--url", second.url)).split()[0] == "kept"
        succeeds(cli("snapshot", "restore", "kept", "--url", second.url))
        with httpx.Client(base_url=second.url) as http:
            assert Kit(http).evidence(("jpush",)) == saved
    finally:
        second.stop()


@pytest.mark.parametrize("content", [None, b"", b"not a database" * 200], ids=["missing", "empty", "junk"])
def test_a_bad_import_file_at_start_is_a_one_line_error(tmp_path, content):
    path = tmp_path / "bad.snapshot"
    if content is not None:
        path.write_bytes(content)
    fails(cli("serve", "--database-url", "sqlite://", "--port", "0", "--import", str(path)), "--import", str(path))


def test_import_setting_reads_its_environment_variable(monkeypatch, tmp_path):
    from emulator.settings import Settings

    monkeypatch.setenv("EMULATOR_IMPORT", str(tmp_path / "x.snapshot"))
    assert Settings().import_file == Path(tmp_path / "x.snapshot")
    assert Settings(import_file="y.snapshot").import_file == Path("y.snapshot")
    monkeypatch.setenv("EMULATOR_IMPORT", "")
    assert Settings().import_file is None


def test_the_readme_snapshot_walkthrough_runs(tmp_path):
    """The bash block of the README's "Snapshots" section, as written, against a live server."""
    import re
    import shutil

    from helpers import REPO

    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    section = (REPO / "README.md").read_text(encoding="utf-8").split("\n## Snapshots\n", 1)[1].split("\n## ", 1)[0]
    [walk] = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    live = start_server(tmp_path)
    try:
        env = clean_env()
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        script = "set -e\n" + walk.replace("http://127.0.0.1:8080", live.url)
        for run in (1, 2):  # twice in a row against one server: the second run keeps the first's file
            out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                                 timeout=120, env=env)
            assert out.returncode == 0, out
            lines = out.stdout.splitlines()
            assert lines[0].startswith("saved one-file ") and lines[0].endswith("whole state")
            assert lines[1].startswith("restored one-file ")
            assert f'"total_count":{run}' in lines[2] and '"file_name":"aliases.txt"' in lines[2]
            assert lines[3].startswith("exported one-file to state.snapshot (")
            assert lines[4].startswith("imported copy ")
            assert [line.split()[0] for line in lines[5:7]] == ["copy", "one-file"]
            assert lines[7:] == ["deleted copy"]
            assert (tmp_path / "state.snapshot").is_file()
    finally:
        live.stop()
