"""Test helpers shared by every folder: credentials, a free port, a live server."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
    def __init__(self, proc: subprocess.Popen, url: str, data_dir: Path) -> None:
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


def start_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    data_dir = tmp_path / "server-data"
    cmd = [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--data-dir", str(data_dir), *args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    full_env.update(env or {})
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
    server = LiveServer(proc, f"http://127.0.0.1:{port}", data_dir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {proc.stderr.read()}")
        try:
            if httpx.get(server.url + "/_emulator/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("server did not come up within 30 s")


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``{relative path: bytes}`` below ``root`` (a preload folder tree); answers ``root``."""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root
