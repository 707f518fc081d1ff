"""`storage-emulator serve`: settings from flags and environment, one-line errors, and a
real round trip over a socket."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import cli_process
import httpx
import pytest
from cli_process import clean_env
from helpers import JPUSH_AUTH, JPUSH_KEY, JPUSH_SECRET, start_server

from emulator.settings import Settings


def test_defaults_match_the_contract():
    s = Settings()
    assert (s.host, s.port, s.data_dir, s.database_url, s.public_url) == (
        "127.0.0.1", 8080, Path("./.emulator-data"), None, None)
    assert s.rate_limits is True and s.log_level == "info"
    assert [p.name for p in s.fixtures] == ["default.yaml"]
    assert s.resolved_database_url.endswith("/.emulator-data/emulator.db")


def test_every_setting_reads_its_environment_variable(monkeypatch, tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    env = {
        "EMULATOR_HOST": "0.0.0.0",
        "EMULATOR_PORT": "9000",
        "EMULATOR_DATA_DIR": str(tmp_path),
        "EMULATOR_DATABASE_URL": "sqlite://",
        "EMULATOR_PUBLIC_URL": "http://emulator:8080",
        "EMULATOR_FIXTURES": f"{a}{os.pathsep}{b}",
        "EMULATOR_RATE_LIMITS": "0",
        "EMULATOR_LOG_LEVEL": "WARNING",
        "EMULATOR_SEED": "42",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = Settings()
    assert (s.host, s.port, s.data_dir, s.database_url, s.public_url) == (
        "0.0.0.0", 9000, tmp_path, "sqlite://", "http://emulator:8080")
    assert s.fixtures == [a, b]
    assert (s.rate_limits, s.log_level, s.seed) == (False, "warning", 42)
    assert s.is_memory_db


def test_flags_override_the_environment(monkeypatch):
    from emulator import cli

    monkeypatch.setenv("EMULATOR_PORT", "9000")
    captured = {}
    monkeypatch.setattr(cli, "_bind", lambda host, port: (_ for _ in ()).throw(OSError(98, "stop here")))

    real = Settings

    def spy(**kw):
        captured.update(kw)
        return real(**kw)

    monkeypatch.setattr("emulator.settings.Settings", spy)
    code = cli.main(["serve", "--port", "9100", "--database-url", "sqlite://", "--no-rate-limits"])
    assert code == 2
    assert captured["port"] == "9100" and captured["rate_limits"] is False


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = clean_env(env)
    return cli_process.run(args, env=full_env, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("storage-emulator: error: ")
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0]


def test_bad_port_is_a_one_line_error():
    assert_one_line_error(run_cli("serve", "--port", "99999"), "--port", "EMULATOR_PORT")
    assert_one_line_error(run_cli("serve", env={"EMULATOR_PORT": "http"}), "--port")


def test_bad_public_url_and_log_level_are_one_line_errors():
    assert_one_line_error(run_cli("serve", "--public-url", "http://0.0.0.0:8080"), "--public-url")
    assert_one_line_error(run_cli("serve", "--log-level", "loud"), "--log-level")


def test_unreadable_fixtures_file_is_a_one_line_error(tmp_path):
    assert_one_line_error(
        run_cli("serve", "--database-url", "sqlite://", "--fixtures", str(tmp_path / "nope.yaml")),
        "nope.yaml",
    )


def test_unknown_fixture_key_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("jpush:\n  - app_key: a\n    master_secret: b\n    favourite_colour: blue\n")
    assert_one_line_error(
        run_cli("serve", "--database-url", "sqlite://", "--fixtures", str(bad)), "favourite_colour", "unknown key"
    )


def test_a_yaml_error_names_the_file_line_and_column(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text('jpush:\n  - app_key: a\n    master_secret: "b\n    dev_key: c\n')
    assert_one_line_error(
        run_cli("serve", "--database-url", "sqlite://", "--fixtures", str(bad)),
        f"{bad}, line 5, column 1: not valid YAML", "quoted scalar at line 3, column 20",
    )
    json_bad = tmp_path / "typo.json"
    json_bad.write_text('{"jpush": [\n  {"app_key": "a",}\n]}')
    assert_one_line_error(run_cli("serve", "--database-url", "sqlite://", "--fixtures", str(json_bad)),
                          f"{json_bad}, line 2, column 19: not valid JSON")


def test_port_in_use_is_a_one_line_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert_one_line_error(run_cli("serve", "--database-url", "sqlite://", "--port", str(port)), str(port))


def test_unusable_data_dir_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert_one_line_error(run_cli("serve", "--data-dir", str(blocker / "sub")), "database")


def test_version_flag():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("storage-emulator ")


def test_serve_round_trip_over_a_real_socket(tmp_path):
    server = start_server(tmp_path)
    try:
        url = server.url
        with httpx.Client(base_url=url, auth=JPUSH_AUTH, timeout=10) as c:
            r = c.post("/v3/files/alias", files={"filename": ("aliases.txt", b"alice\nbob\n")}, data={"ttl": "24"})
            assert r.status_code == 200, r.text
            file_id = r.json()["file_id"]
            assert file_id.startswith(JPUSH_KEY + "-")
            listing = c.get("/v3/files").json()
            assert [f["file_id"] for f in listing["files"]] == [file_id]
            assert c.get(f"/v3/files/{file_id}").json()["file_name"] == "aliases.txt"
            deleted = c.delete(f"/v3/files/{file_id}")
            assert (deleted.status_code, deleted.content) == (200, b"")
            assert c.get(f"/v3/files/{file_id}").json()["error"]["code"] == 1104
        assert (server.data_dir / "emulator.db").exists()
    finally:
        code = server.stop()
    out = server.proc.stdout.read()
    err = server.proc.stderr.read()
    assert code == 0, err
    assert "Traceback" not in err
    # The banner: URL, where the data lives, each API's test credentials.
    assert f"serving on {url}" in out
    assert str(server.data_dir / "emulator.db") in out
    assert JPUSH_KEY in out and JPUSH_SECRET in out
    for api in ("pan123", "antelope", "nextjoy", "wechat", "jpush"):
        assert api in out


def test_data_survives_a_restart(tmp_path):
    server = start_server(tmp_path)
    try:
        r = httpx.post(server.url + "/v3/files/alias", files={"filename": ("a.txt", b"a\n")}, auth=JPUSH_AUTH)
        file_id = r.json()["file_id"]
    finally:
        assert server.stop() == 0
    server = start_server(tmp_path)
    try:
        assert httpx.get(f"{server.url}/v3/files/{file_id}", auth=JPUSH_AUTH).status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize("env", [{"EMULATOR_RATE_LIMITS": "0"}, {}])
def test_rate_limit_switch_from_the_environment(tmp_path, env):
    server = start_server(tmp_path, env=env)
    try:
        codes = [httpx.get(server.url + "/v3/files", auth=JPUSH_AUTH).status_code for _ in range(21)]
    finally:
        server.stop()
    assert codes[-1] == (200 if env else 429)


def test_port_zero_picks_a_free_port_and_the_banner_says_which(tmp_path):
    env = clean_env()
    proc = cli_process.popen(["serve", "--port", "0", "--database-url", "sqlite://"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        for _ in range(100):
            try:
                assert httpx.get(url + "/_emulator/health", timeout=1).json()["status"] == "ok"
                break
            except httpx.HTTPError:
                import time

                time.sleep(0.1)
        else:
            raise AssertionError("no health answer")
        assert "in memory" in proc.stdout.readline()
    finally:
        proc.send_signal(2)
        assert proc.wait(timeout=15) == 0
