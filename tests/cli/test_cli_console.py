"""What `storage-emulator serve` prints and how it stops: masked access lines naming the API,
tenant and business code (text and JSON, one stream), the banner (dashboard, where state lives,
how to start empty), --ephemeral, SIGTERM, flags named in errors, unusable database URLs."""

from __future__ import annotations

import json
import signal

import httpx
import pytest
from helpers import JPUSH_AUTH, start_server

from emulator.cli import _parser, env_of, flag_of
from emulator.settings import Settings

from .test_cli import assert_one_line_error, run_cli

WECHAT_SECRET = "test-wechat-secret-00000000000001"
TOKEN_QUERY = {"grant_type": "client_credential", "appid": "wxtest0000000000001", "secret": WECHAT_SECRET}


def _traffic(url: str) -> None:
    httpx.get(url + "/cgi-bin/token", params=TOKEN_QUERY)
    httpx.post(url + "/api/v1/access_token", headers={"Platform": "open_platform"},
               json={"clientID": "test-pan123-client", "clientSecret": "wrong"})
    httpx.get(url + "/v3/files", auth=JPUSH_AUTH)
    httpx.get(url + "/_emulator/requests", params={"limit": 1})


def test_text_access_lines_mask_secrets_and_name_api_tenant_and_code(tmp_path):
    server = start_server(tmp_path)
    try:
        _traffic(server.url)
    finally:
        assert server.stop() == 0
    out, err = server.proc.stdout.read(), server.proc.stderr.read()
    assert WECHAT_SECRET in out  # the banner shows the seeded test credentials, as the contract says
    assert WECHAT_SECRET not in err
    [token_line] = [line for line in err.splitlines() if "/cgi-bin/token" in line]
    assert "secret=test***" in token_line and "api=wechat" in token_line and "tenant=wxtest0000000000001" in token_line
    # A 123pan refusal rides on HTTP 200: the line must say code=1, not read as a plain 200.
    [pan_line] = [line for line in err.splitlines() if "/api/v1/access_token" in line]
    assert '" 200 api=pan123' in pan_line and "code=1 " in pan_line
    [jpush_line] = [line for line in err.splitlines() if '"GET /v3/files"' in line]
    assert "api=jpush tenant=testjpushappkey000000001" in jpush_line
    assert any('"GET /_emulator/requests?limit=1" 200' in line for line in err.splitlines())
    assert not [line for line in out.splitlines() if "HTTP/1.1" in line], "uvicorn's unmasked access log is on"


def test_json_log_lines_all_on_one_stream(tmp_path):
    server = start_server(tmp_path, "--log-format", "json")
    try:
        _traffic(server.url)
    finally:
        assert server.stop() == 0
    out, err = server.proc.stdout.read(), server.proc.stderr.read()
    assert out == ""  # everything, the banner too, is a JSON line on stderr
    records = [json.loads(line) for line in err.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert "serving on " + server.url in records[0]["message"] and "dashboard:" in records[0]["banner"]
    [token] = [r for r in records if r.get("path") == "/cgi-bin/token"]
    assert token["query"]["secret"] == "test***"
    assert not [r for r in records[1:] if WECHAT_SECRET in json.dumps(r)]  # only the banner shows it
    assert (token["api"], token["tenant"], token["status"]) == ("wechat", "wxtest0000000000001", 200)
    [pan] = [r for r in records if r.get("path") == "/api/v1/access_token"]
    assert (pan["api"], pan["status"], pan["code"]) == ("pan123", 200, 1)
    assert any(r["logger"] == "uvicorn.error" and r["message"].startswith("Started server") for r in records)


def test_banner_names_the_dashboard_where_state_lives_and_how_to_start_empty(tmp_path):
    server = start_server(tmp_path)
    server.stop()
    out = server.proc.stdout.read()
    assert f"dashboard:   {server.url}/_emulator/" in out
    assert str(server.data_dir / "emulator.db") in out and "kept across restarts" in out
    assert "--ephemeral" in out


def test_ephemeral_starts_empty_every_time(tmp_path):
    for _ in range(2):
        server = start_server(tmp_path, "--ephemeral")
        try:
            assert httpx.get(server.url + "/v3/files", auth=JPUSH_AUTH).json()["total_count"] == 0
            r = httpx.post(server.url + "/v3/files/alias", files={"filename": ("a.txt", b"a\n")}, auth=JPUSH_AUTH)
            assert r.status_code == 200
        finally:
            assert server.stop() == 0
        assert "in memory: every start is empty" in server.proc.stdout.read()
    assert not (server.data_dir / "emulator.db").exists()


def test_ephemeral_from_the_environment_and_not_with_a_database_url(tmp_path):
    assert Settings(_env_file=None, ephemeral=True).resolved_database_url == "sqlite://"
    assert_one_line_error(run_cli("serve", "--ephemeral", "--database-url", f"sqlite:///{tmp_path}/x.db"),
                          "--ephemeral", "--database-url")
    server = start_server(tmp_path, env={"EMULATOR_EPHEMERAL": "1"})
    server.stop()
    assert "in memory" in server.proc.stdout.read()


def test_sigterm_stops_cleanly_with_status_0(tmp_path):
    server = start_server(tmp_path)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=15) == 0
    err = server.proc.stderr.read()
    assert "Shutting down" in err and "Traceback" not in err


def test_every_setting_error_names_a_flag_and_variable_that_exist():
    options = {opt for action in _parser()._subparsers._group_actions[0].choices["serve"]._actions
               for opt in action.option_strings}
    for name in Settings.model_fields:
        assert flag_of(name) in options, f"setting {name}: the error would name {flag_of(name)}, not a flag"
        assert env_of(name).startswith("EMULATOR_")


@pytest.mark.parametrize(("env", "words"), [
    ({"EMULATOR_RATE_LIMITS": "maybe"}, ["--no-rate-limits / EMULATOR_RATE_LIMITS"]),
    ({"EMULATOR_JOURNAL_SIZE": "0"}, ["--journal-size / EMULATOR_JOURNAL_SIZE"]),
    ({"EMULATOR_LOG_FORMAT": "xml"}, ["--log-format / EMULATOR_LOG_FORMAT"]),
])
def test_errors_name_existing_flags(env, words):
    assert_one_line_error(run_cli("serve", "--database-url", "sqlite://", env=env), *words)


def test_journal_size_has_a_flag(tmp_path):
    server = start_server(tmp_path, "--journal-size", "2")
    try:
        for _ in range(4):
            httpx.get(server.url + "/v3/files", auth=JPUSH_AUTH)
        assert len(httpx.get(server.url + "/_emulator/requests").json()) == 2
    finally:
        server.stop()
    assert_one_line_error(run_cli("serve", "--journal-size", "none"), "--journal-size")


@pytest.mark.parametrize(("url", "words"), [
    ("postgresql+nosuchdriver://u:hunter2@127.0.0.1/db", ["--database-url", "unknown database kind"]),
    ("mysql+pymysql://u:hunter2@127.0.0.1/db", ["driver is not installed", "pymysql"]),
    ("not a url at all", ["not a database URL"]),
    ("sqlite:///{tmp}", ["cannot open the database", "unable to open database file", "check that"]),
])
def test_unusable_database_urls_are_one_line_errors(url, words, tmp_path):
    proc = run_cli("serve", "--database-url", url.format(tmp=tmp_path))  # {tmp}: a folder, not a file
    assert_one_line_error(proc, *words)
    assert "hunter2" not in proc.stderr  # the password is not printed
