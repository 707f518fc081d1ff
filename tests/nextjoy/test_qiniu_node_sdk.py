"""The npm ``qiniu`` SDK (7.15.2, pinned by tests/nextjoy/node/package-lock.json), run
unchanged on Node against a live emulator: it finds the upload host through the region
query (whose answer must carry every service object it reads, ``s3`` included, or its
process dies), then uploads with its form uploader and its resumable uploader, v1 (its
default) and v2. Bytes and etags compared.

Needs ``node`` and ``npm`` on PATH (.ci/run installs Debian's nodejs and npm); the session
fixture installs the npm package itself with ``npm ci`` into a cache directory keyed by the
lock file, so a fresh clone needs only the npm registry."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from qiniu import etag
from qiniu_kit import v2_etag

HERE = Path(__file__).parent / "node"
MiB = 1 << 20


def _cache_root() -> Path:
    """``$XDG_CACHE_HOME`` or ``~/.cache``, else the temp dir when that cannot be written."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "storage-emulator"
    try:
        base.mkdir(parents=True, exist_ok=True)
        return base
    except OSError:
        return Path(tempfile.gettempdir()) / "storage-emulator-cache"


@pytest.fixture(scope="session")
def qiniu_node() -> tuple[str, Path]:
    """(node executable, node_modules dir holding the npm qiniu SDK)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed to run the npm qiniu SDK: install them "
                    "(Debian: `apt-get install -y nodejs npm`; .ci/run does)")
    lock = (HERE / "package-lock.json").read_bytes()
    target = _cache_root() / f"npm-qiniu-{hashlib.sha256(lock + (HERE / 'package.json').read_bytes()).hexdigest()[:16]}"
    modules = target / "node_modules"
    if not (modules / "qiniu" / "package.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="npm-qiniu-", dir=target.parent))
        shutil.copy(HERE / "package.json", work)
        shutil.copy(HERE / "package-lock.json", work)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            shutil.rmtree(work, ignore_errors=True)
            pytest.fail(f"`npm ci` of tests/nextjoy/node failed ({done.returncode}):\n{done.stderr[-3000:]}")
        try:
            work.rename(target)
        except OSError:  # another run installed it meanwhile
            shutil.rmtree(work, ignore_errors=True)
    return node, modules


def run_sdk(qiniu_node, endpoints, tmp_path, **args) -> dict:
    node, modules = qiniu_node
    uc = endpoints["qiniu_uc"].split("://", 1)[1]
    args = {"ucHost": uc, "cachePath": str(tmp_path / "regions-cache.jsonl"), **args}
    done = subprocess.run([node, str(HERE / "upload.js"), json.dumps(args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NODE_PATH": str(modules)})
    assert done.returncode == 0, f"node exited {done.returncode}:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def payload(path: Path, size: int) -> str:
    block = bytes((i * 31 + 5) % 253 for i in range(MiB))
    path.write_bytes(block * (size // MiB) + block[: size % MiB])
    return str(path)


def paths(http, pattern: str) -> list[str]:
    return [e["path"] for e in http.get("/_emulator/requests", params={"path": pattern}).json()]


def test_form_upload_after_the_region_query(qiniu_node, live, tmp_path):
    nj, endpoints = live
    file = payload(tmp_path / "avatar.png", 300_000)
    out = run_sdk(qiniu_node, endpoints, tmp_path, mode="form", token=nj.token(), key="avatars/7.png", file=file)
    assert out == {"ok": True, "status": 200, "data": {"hash": etag(file), "key": "avatars/7.png"}}
    assert paths(nj.http, "/_qiniu/uc/*") == ["/_qiniu/uc/v4/query"]
    assert nj.http.get("/_emulator/nextjoy/objects/game-hddzz/avatars/7.png").content == Path(file).read_bytes()
    assert nj.http.get("/_emulator/nextjoy/objects").json()[0]["mimeType"] == "image/png"


def test_resumable_uploader_v1_by_default(qiniu_node, live, tmp_path):
    nj, endpoints = live
    file = payload(tmp_path / "level.pak", 9 * MiB + 123)
    out = run_sdk(qiniu_node, endpoints, tmp_path, mode="resume-v1", token=nj.token(), key="paks/1.pak", file=file)
    assert out == {"ok": True, "status": 200, "data": {"hash": etag(file), "key": "paks/1.pak"}}
    calls = paths(nj.http, "/_qiniu/up/*")
    assert sum(p.startswith("/_qiniu/up/mkblk/") for p in calls) == 3 and any("/mkfile/" in p for p in calls)
    assert nj.http.get("/_emulator/nextjoy/objects/game-hddzz/paks/1.pak").content == Path(file).read_bytes()
    assert nj.http.get("/_emulator/nextjoy/uploads").json() == []


@pytest.mark.parametrize("part_size", [None, 2 * MiB])
def test_resumable_uploader_v2(qiniu_node, live, tmp_path, part_size):
    nj, endpoints = live
    file = payload(tmp_path / "movie.mp4", 9 * MiB + 5)
    out = run_sdk(qiniu_node, endpoints, tmp_path, mode="resume-v2", token=nj.token(), key="m/1.mp4", file=file,
                  partSize=part_size)
    assert out["ok"] and out["status"] == 200, out
    assert out["data"]["key"] == "m/1.mp4"
    if part_size is None:
        assert out["data"]["hash"] == etag(file)
    else:
        assert out["data"]["hash"] == v2_etag(Path(file).read_bytes(), part_size)
    calls = nj.http.get("/_emulator/requests", params={"path": "/_qiniu/up/buckets/*"}).json()
    assert sum(e["method"] == "PUT" for e in calls) == -(-(9 * MiB + 5) // (part_size or 4 * MiB))  # the parts
    assert nj.http.get("/_emulator/nextjoy/objects/game-hddzz/m/1.mp4").content == Path(file).read_bytes()
    info = nj.call("batch_get_file_info", keystr="m/1.mp4")["data"]["data"][0]["data"]
    assert info["hash"] == out["data"]["hash"] and info["mimeType"] == "video/mp4"


def test_the_sdk_sees_qiniu_refusals(qiniu_node, live, tmp_path):
    nj, endpoints = live
    token = nj.token()
    file = payload(tmp_path / "a.bin", 5 * MiB)
    assert run_sdk(qiniu_node, endpoints, tmp_path, mode="resume-v2", token=token, key="a.bin", file=file)["ok"]
    other = payload(tmp_path / "b.bin", 5 * MiB + 1)
    out = run_sdk(qiniu_node, endpoints, tmp_path, mode="resume-v1", token=token, key="a.bin", file=other)
    assert (out["ok"], out["status"]) == (False, 614)
    assert nj.http.get("/_emulator/nextjoy/objects/game-hddzz/a.bin").content == Path(file).read_bytes()
