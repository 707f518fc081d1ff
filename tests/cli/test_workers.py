"""``serve --workers N`` / ``EMULATOR_WORKERS``: several processes on one port and one database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from cli_process import clean_env
from helpers import JPUSH_AUTH, free_port

from emulator.settings import Settings


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = clean_env(env)
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True,
                          env=full_env, timeout=60)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storage-emulator: error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_workers_default_to_one_and_read_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().workers == 1
    monkeypatch.setenv("EMULATOR_WORKERS", "4")
    assert Settings().workers == 4


@pytest.mark.parametrize("args, env", [
    (["--workers", "2", "--ephemeral"], {}),
    (["--workers", "3", "--database-url", "sqlite://"], {}),
    (["--ephemeral"], {"EMULATOR_WORKERS": "2"}),
])
def test_an_in_memory_database_with_several_workers_is_a_one_line_error(args: list[str], env: dict[str, str]) -> None:
    assert_one_line_error(run_cli("serve", *args, env=env), "--workers", "EMULATOR_WORKERS", "in-memory")


def test_a_bad_worker_count_is_a_one_line_error() -> None:
    assert_one_line_error(run_cli("serve", "--workers", "0"), "--workers", "EMULATOR_WORKERS")
    assert_one_line_error(run_cli("serve", "--workers", "many"), "--workers")


def test_two_workers_serve_one_port_and_stop_on_sigint(tmp_path) -> None:
    port = free_port()
    env = clean_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--workers", "2", "--port", str(port),
         "--data-dir", str(tmp_path / "data"), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        pids: set[int] = set()
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                # a new connection each time: the kernel hands it to either worker
                health = httpx.get(url + "/_emulator/health", timeout=2, headers={"Connection": "close"}).json()
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            assert health["workers"] == 2
            pids.add(health["pid"])
        assert len(pids) == 2, pids
        assert proc.pid not in pids  # the parent only supervises
        up = httpx.post(url + "/v3/files/alias", auth=JPUSH_AUTH, files={"filename": ("a.txt", b"a\n")})
        file_id = up.json()["file_id"]
        for _ in range(4):  # whichever worker answers knows the file
            r = httpx.get(f"{url}/v3/files/{file_id}", auth=JPUSH_AUTH, headers={"Connection": "close"})
            assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    assert code == 0, err
    assert "Traceback" not in err
    assert "workers:     2 processes sharing the database above" in out
    for pid in pids:  # the workers are gone too
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
