"""The document's PHP upload demo, read from pan123-image-hosting.md at test time and run
with ``php`` against a live server, unchanged except for its base URL, credentials and the
local file it uploads."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from helpers import SHARED

DOC = SHARED / "api-docs" / "pan123-image-hosting.md"


def demo_source() -> str:
    if not DOC.exists():
        pytest.skip(f"the vendor document is not here ({DOC}); the demo is read from it")
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"##### 上传文件Demo\s*```php\n(.*?)```", text, re.DOTALL)
    assert m, "the PHP demo block was not found under '##### 上传文件Demo'"
    return m.group(1)


def php() -> str:
    exe = shutil.which("php")
    if exe is None:
        pytest.fail("php is not installed: install it with `apt-get install -y php-cli php-curl` "
                    "(the 123pan PHP demo test needs it)")
    probe = subprocess.run([exe, "-r", "echo function_exists('curl_init') ? 'yes' : 'no';"],
                           capture_output=True, text=True, check=False)
    if probe.stdout.strip() != "yes":
        pytest.fail("php has no curl extension: install it with `apt-get install -y php-curl`")
    return exe


def adapt(source: str, base: str, client_id: str, secret: str, path: Path) -> str:
    """The four substitutions, each required to happen exactly once."""
    subs = [
        ("'https://open-api.123pan.com'", repr_php(base)),
        ("$client_id = 'myClientID';", f"$client_id = {repr_php(client_id)};"),
        ("$client_secret = 'myClientSecret';", f"$client_secret = {repr_php(secret)};"),
        ("$local_file_path = 'C:\\Users\\admin\\myFile.txt';", f"$local_file_path = {repr_php(str(path))};"),
    ]
    for old, new in subs:
        assert source.count(old) == 1, f"the demo no longer contains {old!r} exactly once"
        source = source.replace(old, new)
    return source


def repr_php(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.fixture
def server(live_server):
    return live_server  # a `storage-emulator serve` process as freshly started (tests/conftest.py)


def run_demo(exe: str, source: str, server, path: Path, tmp_path: Path, client_id="test-pan123-client",
             secret="test-pan123-secret") -> str:
    script = tmp_path / f"demo-{path.name}.php"
    script.write_text(adapt(source, server.url, client_id, secret, path), encoding="utf-8")
    out = subprocess.run([exe, str(script)], capture_output=True, text=True, timeout=120, check=False)
    # access_token allows one call a second per client: move the clock on between runs
    httpx.post(server.url + "/_emulator/clock", json={"advance": 1.0})
    return out.stdout + out.stderr


def test_php_demo_uploads_against_the_emulator(server, tmp_path):
    source = demo_source()
    exe = php()
    cfg = httpx.post(server.url + "/_emulator/pan123/config", json={"slice_size": 65536})
    assert cfg.status_code == 200

    big = tmp_path / "photo.jpg"
    data = os.urandom(3 * 65536 + 777)  # four slices: the asynchronous path
    big.write_bytes(data)
    out = run_demo(exe, source, server, big, tmp_path)
    assert out.strip() == "上传成功", out

    files = {f["name"]: f for f in httpx.get(server.url + "/_emulator/pan123/files").json()}
    stored = files["photo.jpg"]
    assert stored["space"] == "disk" and stored["parent_id"] == "0" and stored["slices"] == [65536] * 3 + [777]
    assert stored["etag"] == hashlib.md5(data).hexdigest()
    assert httpx.get(f"{server.url}/_emulator/pan123/files/{stored['id']}/content").content == data

    copy = tmp_path / "photo-copy.jpg"
    copy.write_bytes(data)
    assert run_demo(exe, source, server, copy, tmp_path).strip() == "极速上传成功"

    small = tmp_path / "note.txt"
    small.write_bytes(b"one slice only\n")
    assert run_demo(exe, source, server, small, tmp_path).strip() == "上传成功"  # synchronous completion

    puts = httpx.get(server.url + "/_emulator/requests", params={"api": "pan123", "path": "/_pan123/s3/*"}).json()
    assert len(puts) == 5 and all(p["status"] == 200 for p in puts)
    assert all("authorization" not in p["headers"] and "platform" not in p["headers"] for p in puts)


def test_php_demo_reports_refused_credentials(server, tmp_path):
    source = demo_source()
    exe = php()
    f = tmp_path / "x.txt"
    f.write_bytes(b"x")
    out = run_demo(exe, source, server, f, tmp_path, secret="wrong")
    assert out.startswith("上传失败：") and "clientID或clientSecret错误" in out
