"""Preloading from the command line: ``serve --preload DIR`` / ``EMULATOR_PRELOAD`` on a live
server (banner, persistence without duplicates, one-line errors with nothing served), and
``storage-emulator preload DIR --url URL`` against a running emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cli_process
import httpx
from cli_process import clean_env
from helpers import JPUSH_AUTH, JPUSH_KEY, free_port, start_server, write_tree

PAN = "test-pan123-client"


tree = write_tree


def sample(root: Path) -> Path:
    return tree(root, {
        f"jpush/{JPUSH_KEY}/alias/b.txt": b"bob\n",
        f"jpush/{JPUSH_KEY}/alias/a.txt": b"alice\n",
        f"pan123/{PAN}/pics/cat.jpg": b"meow" * 1000,
        "antelope/Test/1003775/1/upload.txt": b"antelope",
        "nextjoy/game-hddzz/img/a.png": b"png",
        "wechat/wxtest0000000000001/test-1a2b3c/docs/readme.md": b"# hi",
        ".DS_Store": b"skipped",
    })


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = clean_env(env)
    return cli_process.run(args, env=full_env, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("storage-emulator: error: ") and "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def stopped(server) -> tuple[str, str]:
    assert server.stop() == 0
    return server.proc.stdout.read(), server.proc.stderr.read()


def jpush_names(url: str) -> list[str]:
    return [f["file_name"] for f in httpx.get(url + "/v3/files", auth=JPUSH_AUTH).json()["files"]]


def pan_files(url: str) -> list[dict]:
    return [f for f in httpx.get(url + "/_emulator/pan123/files").json() if not f["is_dir"]]


# -- serve --preload ---------------------------------------------------------------------------
def test_serve_preload_loads_before_serving_and_the_banner_says_so(tmp_path):
    root = sample(tmp_path / "tree")
    server = start_server(tmp_path, "--preload", str(root))
    try:
        assert httpx.get(server.url + "/_emulator/requests").json() == []  # nothing journaled
        assert jpush_names(server.url) == ["a.txt", "b.txt"]
        [cat] = pan_files(server.url)
        assert cat["name"] == "cat.jpg" and cat["size"] == 4000
        assert httpx.get(f"{server.url}/_emulator/pan123/files/{cat['id']}/content").content == b"meow" * 1000
        assert [o["key"] for o in httpx.get(server.url + "/_emulator/antelope/objects").json()] == ["/1/upload.txt"]
        assert httpx.get(server.url + "/_emulator/nextjoy/objects/game-hddzz/img/a.png").content == b"png"
        assert [f["key"] for f in httpx.get(server.url + "/_emulator/wechat/files").json()] == ["docs/readme.md"]
    finally:
        out, err = stopped(server)
    assert f"preloaded:   6 files, 4025 bytes (3.9 KiB) from {root} (6 created)" in out
    assert "Traceback" not in err and "preload" not in err  # no bar off a terminal


def test_preload_from_the_environment_and_restart_without_duplicates(tmp_path):
    root = sample(tmp_path / "tree")
    server = start_server(tmp_path, env={"EMULATOR_PRELOAD": str(root)})
    try:
        ids = {f["id"] for f in pan_files(server.url)}
        jpush = httpx.get(server.url + "/v3/files", auth=JPUSH_AUTH).json()["files"]
    finally:
        stopped(server)
    # same data dir, same tree: everything stays as it was
    server = start_server(tmp_path, "--preload", str(root))
    try:
        assert {f["id"] for f in pan_files(server.url)} == ids
        assert httpx.get(server.url + "/v3/files", auth=JPUSH_AUTH).json()["files"] == jpush
    finally:
        out, _ = stopped(server)
    assert "(6 unchanged)" in out
    # one file changed: only it is replaced
    (root / f"pan123/{PAN}/pics/cat.jpg").write_bytes(b"purr")
    server = start_server(tmp_path, "--preload", str(root))
    try:
        [cat] = pan_files(server.url)
        assert cat["id"] not in ids and cat["size"] == 4
        assert len(jpush_names(server.url)) == 2
    finally:
        out, _ = stopped(server)
    assert "(1 replaced, 5 unchanged)" in out


def test_serve_preload_ids_repeat_under_a_seed(tmp_path):
    root = sample(tmp_path / "tree")
    seen = []
    for run in range(2):
        server = start_server(tmp_path / str(run), "--seed", "5", "--database-url", "sqlite://",
                              "--preload", str(root))
        try:
            seen.append(([f["id"] for f in httpx.get(server.url + "/_emulator/pan123/files").json()],
                         [f["file_id"] for f in httpx.get(server.url + "/_emulator/jpush/files").json()]))
        finally:
            stopped(server)
    assert seen[0] == seen[1] and len(seen[0][0]) == 3  # root, folder, file


def test_serve_with_a_refused_file_is_one_line_and_serves_nothing(tmp_path):
    root = tree(tmp_path / "tree", {f"jpush/{JPUSH_KEY}/alias/a.txt": b"a\n",
                                    f"jpush/{JPUSH_KEY}/alias/long.txt": b"x" * 41 + b"\n"})
    port = free_port()
    proc = run_cli("serve", "--port", str(port), "--database-url", "sqlite://", "--preload", str(root))
    one_line_error(proc, f"preload {root}", f"jpush/{JPUSH_KEY}/alias/long.txt", "longer than 40 bytes")
    assert "serving on" not in proc.stdout
    for n, (files, words) in enumerate([
        ({"notes.txt": b"x"}, ["notes.txt", "outside the layout"]),
        ({"gcs/b/a.txt": b"x"}, ["gcs", "unknown API folder"]),
        ({"pan123/nobody/a.jpg": b"x"}, ["pan123/nobody/a.jpg", "no pan123 tenant"]),
    ]):
        bad = tree(tmp_path / f"bad{n}", files)
        one_line_error(run_cli("serve", "--database-url", "sqlite://", "--preload", str(bad)), *words)
    one_line_error(run_cli("serve", "--preload", str(tmp_path / "missing")), "--preload", "EMULATOR_PRELOAD",
                   "not a directory")


def test_serve_progress_bar_when_forced(tmp_path):
    root = sample(tmp_path / "tree")
    server = start_server(tmp_path, "--database-url", "sqlite://", "--preload", str(root),
                          env={"EMULATOR_PROGRESS": "1"})
    _, err = stopped(server)
    assert "preload" in err and "100%" in err


# -- storage-emulator preload DIR --url URL ---------------------------------------------------------
def test_cli_preload_against_a_running_emulator(tmp_path, live_server):
    root = sample(tmp_path / "tree")
    proc = run_cli("preload", str(root), "--url", live_server.url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"preloaded 6 files, 4025 bytes (3.9 KiB) from {root} (6 created) into {live_server.url}\n"
    assert proc.stderr == ""  # no bar off a terminal
    assert jpush_names(live_server.url) == ["a.txt", "b.txt"]
    assert [f["name"] for f in pan_files(live_server.url)] == ["cat.jpg"]
    assert httpx.get(live_server.url + "/_emulator/nextjoy/objects/game-hddzz/img/a.png").content == b"png"
    # again, through EMULATOR_URL: nothing duplicated
    again = run_cli("preload", str(root), env={"EMULATOR_URL": live_server.url})
    assert again.returncode == 0 and "(6 unchanged)" in again.stdout
    assert jpush_names(live_server.url) == ["a.txt", "b.txt"] and len(pan_files(live_server.url)) == 1


def test_cli_preload_streams_a_large_file_with_a_forced_progress_bar(tmp_path, live_server):
    root = tmp_path / "tree"
    big = root / "wechat/wxtest0000000000001/test-1a2b3c/big.bin"
    big.parent.mkdir(parents=True)
    with open(big, "wb") as f:
        for i in range(20):
            f.write(bytes([i]) * (1 << 20))
    proc = run_cli("preload", str(root), "--url", live_server.url, "--progress")
    assert proc.returncode == 0, proc.stderr
    assert "preload" in proc.stderr and "100%" in proc.stderr and "20.0M" in proc.stderr
    [row] = httpx.get(live_server.url + "/_emulator/wechat/files").json()
    assert row["size"] == 20 << 20


def test_cli_preload_stops_at_the_first_refusal(tmp_path, live_server):
    root = tree(tmp_path / "tree", {f"jpush/{JPUSH_KEY}/alias/a.txt": b"a\n",
                                    f"jpush/{JPUSH_KEY}/alias/b.csv": b"b\n",
                                    f"jpush/{JPUSH_KEY}/alias/c.txt": b"c\n"})
    proc = run_cli("preload", str(root), "--url", live_server.url)
    one_line_error(proc, f"jpush/{JPUSH_KEY}/alias/b.csv", "only .txt files")
    assert jpush_names(live_server.url) == ["a.txt"]


def test_cli_preload_layout_errors_send_nothing(tmp_path, live_server):
    root = tree(tmp_path / "tree", {f"jpush/{JPUSH_KEY}/alias/a.txt": b"a\n", "stray.txt": b"x"})
    one_line_error(run_cli("preload", str(root), "--url", live_server.url), "stray.txt", "outside the layout")
    one_line_error(run_cli("preload", str(tmp_path / "missing"), "--url", live_server.url), "not a directory")
    assert jpush_names(live_server.url) == []


def test_cli_preload_without_an_emulator_is_one_line(tmp_path):
    root = sample(tmp_path / "tree")
    one_line_error(run_cli("preload", str(root), "--url", f"http://127.0.0.1:{free_port()}"),
                   "cannot reach the emulator")


def test_readme_preload_example(tmp_path, live_server):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Preloading objects", 1)[1].split("\n## ", 1)[0]
    [script] = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    bin_dir = str(Path(sys.executable).parent)
    out = subprocess.run(["bash", "-c", "set -e\n" + script.replace("http://127.0.0.1:8080", live_server.url)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")})
    assert out.returncode == 0, out.stderr
    said = f"preloaded 2 files, 26 bytes from data (2 created) into {live_server.url}"
    assert said in out.stdout and said.replace(live_server.url, "http://127.0.0.1:8080") in section
    assert '"lines":["alice","bob"]' in out.stdout and '"file_name":"vip.txt"' in out.stdout
    assert [f["name"] for f in pan_files(live_server.url)] == ["cat.jpg"]
