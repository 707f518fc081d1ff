"""`storage-emulator snapshot ...` and `storage-emulator preload` with `--url` naming a
server that is not the emulator (a typo in the port): every failure is still one line on
stderr and exit status 2, and `snapshot export` writes no file."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cli_process
import pytest
from cli_process import clean_env

PAGE = b"<!DOCTYPE html>\n<html>\n<body>\n<h1>Some other service</h1>\n</body>\n</html>\n"


def other_server(status: int) -> Iterator[str]:
    """A web server answering every request with ``status`` and a multi-line HTML page."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(status)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(params=[200, 404, 500])
def elsewhere(request) -> Iterator[str]:
    yield from other_server(request.param)


def cli(*args: str) -> subprocess.CompletedProcess:
    env = clean_env()
    return cli_process.run(args, env=env, timeout=60)


def one_line_failure(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storage-emulator: error: "), proc.stderr
    return lines[0]


def test_snapshot_commands_against_another_server(elsewhere, tmp_path):
    snap = tmp_path / "snap.snapshot"
    snap.write_bytes(b"x" * 10)
    for args in (["list"], ["save", "s"], ["restore", "s"], ["delete", "s"], ["import", "s", str(snap)],
                 ["save", "s", "--tenant", "jpush:k"]):
        one_line_failure(cli("snapshot", *args, "--url", elsewhere))
    out = tmp_path / "out.snapshot"
    one_line_failure(cli("snapshot", "export", "s", str(out), "--url", elsewhere))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.snapshot"]  # no file, no .part


def test_preload_against_another_server(elsewhere, tmp_path):
    folder = tmp_path / "tree" / "jpush" / "some-app" / "alias"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"a\n")
    line = one_line_failure(cli("preload", str(tmp_path / "tree"), "--url", elsewhere))
    assert elsewhere in line


def test_preload_when_the_health_check_passes_but_puts_answer_html(tmp_path):
    """A server whose /health looks right but whose PUTs do not answer the emulator's JSON."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status": "ok", "apis": ["jpush"]}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(201 if "201" in self.path else 400)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        for name in ("a.txt", "201.txt"):
            root = tmp_path / name
            folder = root / "jpush" / "some-app" / "alias"
            folder.mkdir(parents=True)
            (folder / name).write_bytes(b"a\n")
            line = one_line_failure(cli("preload", str(root), "--url", url, "--no-progress"))
            assert f"jpush/some-app/alias/{name}" in line, line
    finally:
        httpd.shutdown()
        httpd.server_close()

