"""The README's promises: its first lines are the two commands, and its first call works."""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx
from cli_process import clean_env
from helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks_after(heading: str) -> list[str]:
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def test_readme_opens_with_the_two_commands():
    lines = README.splitlines()
    assert lines[0].startswith("# ")
    assert lines[2:6] == [
        "```bash",
        "pip install -e . && storage-emulator serve",
        "pip install -e '.[test]' && pytest",
        "```",
    ]


def test_ci_runs_the_readme_test_command_in_a_new_venv_outside_the_checkout():
    script = (REPO / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines()]
    assert lines[-1] == "pip install -e '.[test]' && pytest"
    # The venv is made afresh under a temporary folder (not the checkout) and activated first.
    assert re.search(r'venv_root="\$\(mktemp -d ', script)
    venv = lines.index('python3 -m venv "$venv_root/venv"')
    activate = lines.index('source "$venv_root/venv/bin/activate"')
    assert venv < activate < len(lines) - 1


def run_block(block: str, url: str, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    """One README shell block, as printed but for the base URL, with ``set -e`` on top."""
    script = "set -e\n" + block.replace("http://127.0.0.1:8080", url)
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_first_call_answers_a_file_id(tmp_path, live_server):
    """Run twice against one server, as a newcomer would: the second run works as the first."""
    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    first, then = blocks_after("## First call")[:2]
    server = live_server
    for run in (1, 2):
        out = run_block(first, server.url, tmp_path, 30)
        assert re.fullmatch(r'\{"file_id":"testjpushappkey000000001-[0-9a-f-]{36}"\}', out.stdout), out
        follow = run_block(then, server.url, tmp_path, 30)
        assert follow.returncode == 0, follow
        assert f'"total_count":{run}' in follow.stdout
        assert '"lines":["alice","bob","carol"]' in follow.stdout
        assert '"path":"/v3/files/alias"' in follow.stdout


def test_pan123_curl_walkthrough_uploads_and_downloads_back(tmp_path, live_server):
    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    [walk] = blocks_after("## 123pan: the six-step upload with curl")
    server = live_server
    for _ in range(2):  # twice in a row against one server: a second run must not hang or fail
        out = run_block(walk, server.url, tmp_path)
        assert out.returncode == 0, out
        assert "downloaded bytes are identical" in out.stdout, out
        assert '"partNumber"' in out.stdout  # list_upload_parts showed the three slices
    files = httpx.get(server.url + "/_emulator/pan123/files").json()
    names = {f["name"] for f in files if not f["is_dir"] and f["name"].startswith("pic-")}
    assert len(names) == 2, files


def test_pan123_walkthrough_stops_with_a_message_on_a_nonzero_code(tmp_path, live_server):
    """A refused call (here: the client secret is wrong) stops the walkthrough at once, saying why."""
    [walk] = blocks_after("## 123pan: the six-step upload with curl")
    server = live_server
    out = run_block(walk.replace("test-pan123-secret", "wrong-secret"), server.url, tmp_path, 30)
    assert out.returncode != 0
    assert "123pan /api/v1/access_token answered code" in out.stderr, out
    assert "downloaded" not in out.stdout


def test_pan123_upload_v2_walkthrough_runs_twice_and_stops_on_an_error(tmp_path, live_server):
    """Issue 12: the upload v2 script, twice against one server (the second run replaces the
    first run's file; its token waits out the one-a-second limit), then with a wrong secret:
    it stops with a message naming the call and a non-zero status."""
    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    [walk] = blocks_after("## 123pan cloud disk: upload v2 with curl")
    server = live_server
    script = walk.replace("http://127.0.0.1:8080", server.url)
    ids = []
    for _ in range(2):
        out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "downloaded bytes are identical" in out.stdout, out
        ids.append(re.search(r"fileID (\d+)", out.stdout).group(1))
    assert ids[0] != ids[1]
    import httpx

    disk = httpx.get(server.url + "/_emulator/pan123/disk").json()
    assert [e["path"] for e in disk] == ["/walkthrough", "/walkthrough/clip.bin"]  # replaced, not doubled
    assert str(disk[1]["id"]) == ids[1]
    bad = script.replace("test-pan123-secret", "wrong-secret")
    out = subprocess.run(["bash", "-c", bad], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "stopped: access_token answered" in out.stderr, out
    assert "identical" not in out.stdout


def test_sandbox_walkthrough_one_call_per_api(tmp_path):
    """The README's sandbox: ``storage-emulator serve`` (the installed command) and one call per API."""
    import sys
    from pathlib import Path

    from helpers import free_port

    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    [walk] = blocks_after("## Sandbox: one call per API")
    command = Path(sys.executable).parent / "storage-emulator"
    assert command.is_file(), "the storage-emulator console script is not installed next to python"
    port = free_port()
    env = clean_env()
    proc = subprocess.Popen([str(command), "serve", "--port", str(port), "--data-dir", str(tmp_path / "d")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        import time

        import httpx

        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(base + "/_emulator/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        for run in (1, 2):  # twice in a row: the second 123pan token comes within the second
            out = run_block(walk, base, tmp_path, 60)
            assert out.returncode == 0, out
            lines = out.stdout.splitlines()
            assert lines[0] == '{"total_count":0,"files":[]}'
            assert '"code":0' in lines[1] and '"accessToken"' in lines[1]
            assert '"access_token"' in lines[2] and '"expires_in":7200' in lines[2]
            assert '"obj_id"' in lines[3] and '"key":"/1/hello.txt"' in lines[3].replace(" ", "")
            assert '"status":200' in lines[4] and '"upload_token"' in lines[4]
            entries = httpx.get(base + "/_emulator/requests").json()
            mine = [e for e in entries if e["code"] != 429]  # a retried 123pan token is journaled too
            assert [e["api"] for e in mine] == ["jpush", "pan123", "wechat", "antelope", "nextjoy"] * run
            assert all(e["status"] == 200 for e in entries)
    finally:
        proc.send_signal(2)
        proc.wait(timeout=15)


def _table_row(api_words: str) -> str:
    [row] = [line for line in README.splitlines() if line.startswith("| " + api_words)]
    return row


def test_the_api_table_names_the_wechat_side_channels_the_server_hands_out(emulator):
    """Every emulator-chosen path prefix in the WeChat row is one a link handed out starts with,
    and every link handed out starts with one of them."""
    from urllib.parse import urlsplit

    row = _table_row("WeChat Cloud Base storage")
    prefixes = set(re.findall(r"`(/_[a-z0-9]+/)`", row))
    assert prefixes, row
    env = emulator.credentials.wechat.envs[0]
    token = emulator.wechat_token()
    link = emulator.client.post("/tcb/uploadfile", params={"access_token": token},
                                json={"env": env, "path": "table/check.txt"}).json()
    form = {"key": "table/check.txt", "Signature": link["authorization"], "x-cos-security-token": link["token"],
            "x-cos-meta-fileid": link["cos_file_id"]}
    upload_path = urlsplit(link["url"]).path
    assert emulator.client.post(upload_path, data=form, files={"file": ("c.txt", b"table")}).status_code == 204
    got = emulator.client.post("/tcb/batchdownloadfile", params={"access_token": token},
                               json={"env": env, "file_list": [{"fileid": link["file_id"], "max_age": 60}]}).json()
    download_path = urlsplit(got["file_list"][0]["download_url"]).path
    handed_out = {upload_path, download_path}
    for path in handed_out:
        assert any(path.startswith(prefix) for prefix in prefixes), (path, prefixes)
    for prefix in prefixes:
        assert any(path.startswith(prefix) for path in handed_out), (prefix, handed_out)
