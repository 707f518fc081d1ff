"""The README's promises: its first lines are the two commands, and its first call works."""

from __future__ import annotations

import re
import shutil
import subprocess

from helpers import REPO, start_server

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


def test_ci_runs_the_readme_test_command():
    assert "pip install -e '.[test]' && pytest" in (REPO / ".ci" / "run").read_text()


def test_first_call_answers_a_file_id(tmp_path):
    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    first, then = blocks_after("## First call")[:2]
    server = start_server(tmp_path)
    try:
        script = first.replace("http://127.0.0.1:8080", server.url)
        out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert re.fullmatch(r'\{"file_id":"testjpushappkey000000001-[0-9a-f-]{36}"\}', out.stdout), out
        follow = subprocess.run(["bash", "-c", then.replace("http://127.0.0.1:8080", server.url)],
                                cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert '"total_count":1' in follow.stdout
        assert '"lines":["alice","bob","carol"]' in follow.stdout
        assert '"path":"/v3/files/alias"' in follow.stdout
    finally:
        server.stop()


def test_pan123_curl_walkthrough_uploads_and_downloads_back(tmp_path):
    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    [walk] = blocks_after("## 123pan: the six-step upload with curl")
    server = start_server(tmp_path)
    try:
        script = "set -e\n" + walk.replace("http://127.0.0.1:8080", server.url)
        out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert "downloaded bytes are identical" in out.stdout, out
        assert '"partNumber"' in out.stdout  # list_upload_parts showed the three slices
    finally:
        server.stop()


def test_pan123_upload_v2_walkthrough_runs_twice_and_stops_on_an_error(tmp_path):
    """Issue 12: the upload v2 script, twice against one server (the second run replaces the
    first run's file; its token waits out the one-a-second limit), then with a wrong secret:
    it stops with a message naming the call and a non-zero status."""
    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    [walk] = blocks_after("## 123pan cloud disk: upload v2 with curl")
    server = start_server(tmp_path)
    try:
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
    finally:
        server.stop()


def test_sandbox_walkthrough_one_call_per_api(tmp_path):
    """The README's sandbox: ``storage-emulator serve`` (the installed command) and one call per API."""
    import os
    import sys
    from pathlib import Path

    from helpers import free_port

    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    [walk] = blocks_after("## Sandbox: one call per API")
    command = Path(sys.executable).parent / "storage-emulator"
    assert command.is_file(), "the storage-emulator console script is not installed next to python"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
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
        script = "set -e\n" + walk.replace("http://127.0.0.1:8080", base)
        out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out
        lines = out.stdout.splitlines()
        assert lines[0] == '{"total_count":0,"files":[]}'
        assert '"code":0' in lines[1] and '"accessToken"' in lines[1]
        assert '"access_token"' in lines[2] and '"expires_in":7200' in lines[2]
        assert '"obj_id"' in lines[3] and '"key":"/1/hello.txt"' in lines[3].replace(" ", "")
        assert '"status":200' in lines[4] and '"upload_token"' in lines[4]
        entries = httpx.get(base + "/_emulator/requests").json()
        assert [e["api"] for e in entries] == ["jpush", "pan123", "wechat", "antelope", "nextjoy"]
        assert all(e["status"] == 200 for e in entries)
    finally:
        proc.send_signal(2)
        proc.wait(timeout=15)
