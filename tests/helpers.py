"""Test helpers shared by every folder: credentials, a free port, a live server."""

from __future__ import annotations

import base64
import socket
import subprocess
import time
from pathlib import Path

import cli_process
import httpx
from cli_process import clean_env

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
JPUSH_KEY = "testjpushappkey000000001"
JPUSH_SECRET = "testjpushmastersecret001"
JPUSH_AUTH = (JPUSH_KEY, JPUSH_SECRET)


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, proc: subprocess.Popen | cli_process.ForkedProcess, url: str, data_dir: Path) -> None:
        self.proc = proc
        self.url = url
        self.data_dir = data_dir
        self.banner = ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT, as Ctrl-C
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                 output: Path | None = None) -> LiveServer:
    """``storage-emulator serve`` (forked: tests/cli_process.py) on a free port with its data
    below ``tmp_path``, once it answers its health check. Its output is read through
    ``proc.stdout`` / ``proc.stderr``, or written to the file ``output`` (for a server that
    outlives many tests and would fill a pipe). A port taken by another process between the
    pick and the bind is picked again."""
    for attempt in range(5):
        port = free_port()
        data_dir = tmp_path / "server-data"
        cmd = ["serve", "--port", str(port), "--data-dir", str(data_dir), *args]
        full_env = clean_env(env)
        if output is None:
            proc = cli_process.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            with open(output, "a", encoding="utf-8") as log:
                proc = cli_process.popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=full_env)
        server = LiveServer(proc, f"http://127.0.0.1:{port}", data_dir)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read() if proc.stderr else output.read_text(encoding="utf-8") if output else ""
                if f"cannot listen on 127.0.0.1:{port}: Address already in use" in err and attempt < 4:
                    break
                raise RuntimeError(f"server exited early: {err}")
            try:
                if httpx.get(server.url + "/_emulator/health", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            server.stop()
            raise RuntimeError("server did not come up within 30 s")
    raise AssertionError("unreachable")


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``{relative path: bytes}`` below ``root`` (a preload folder tree); answers ``root``."""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def pan123_slice_url(emu, data: bytes, name: str = "a.bin") -> tuple[dict[str, str], str, str]:
    """Start a one-slice 123pan upload of ``data`` through a plugin handle (``emulator``,
    ``emulator_server``...): answers (headers, preuploadID, the slice's presigned URL)."""
    import hashlib

    h = emu.pan123_headers()
    created = emu.client.post("/upload/v1/oss/file/create", headers=h, json={
        "parentFileID": "", "filename": name, "etag": hashlib.md5(data).hexdigest(), "size": len(data),
        "type": 1}).json()
    assert created["code"] == 0, created
    pre = created["data"]["preuploadID"]
    url = emu.client.post("/upload/v1/oss/file/get_upload_url", headers=h,
                          json={"preuploadID": pre, "sliceNo": 1}).json()["data"]["presignedURL"]
    return h, pre, url


def pan123_file(emu, data: bytes, name: str = "a.bin", put=None) -> tuple[str, str]:
    """A whole one-slice 123pan upload through a plugin handle (the PUT by ``put(url, data)``
    when given, else the handle's client): answers (fileID, download URL)."""
    h, pre, url = pan123_slice_url(emu, data, name)
    if put is None:
        assert emu.client.put(url, content=data).status_code == 200
    else:
        put(url, data)
    done = emu.client.post("/upload/v1/oss/file/upload_complete", headers=h, json={"preuploadID": pre}).json()["data"]
    assert done["completed"], done
    detail = emu.client.get("/api/v1/oss/file/detail", params={"fileID": done["fileID"]}, headers=h).json()
    return done["fileID"], detail["data"]["downloadURL"]
