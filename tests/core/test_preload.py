"""The preload machinery: the layout walk (sorted, dot-files skipped, files outside the
layout refused), the admin endpoint, deterministic ids under a seed, flat memory for a
large file, the progress bar, and the preload at app start."""

from __future__ import annotations

import asyncio
import io
import os
import tracemalloc
from pathlib import Path

import pytest
from helpers import JPUSH_KEY, write_tree

from emulator.app import create_app
from emulator.core.preload import CHUNK_SIZE, PreloadError, preload_tree, progress_bar, run, scan
from emulator.settings import Settings

T0 = 1700000000.0


tree = write_tree


def sample(root: Path) -> Path:
    """One file or two for every API (default fixture tenants)."""
    return tree(root, {
        f"jpush/{JPUSH_KEY}/alias/b.txt": b"bob\n",
        f"jpush/{JPUSH_KEY}/alias/a.txt": b"alice\n",
        "pan123/test-pan123-client/pics/cat.jpg": b"meow" * 1000,
        "pan123/test-pan123-client/dog.jpg": b"woof",
        "antelope/Test/1003775/1/upload.txt": b"antelope",
        "nextjoy/1001:1000/img/a.png": b"png",
        "wechat/wxtest0000000000001/test-1a2b3c/docs/readme.md": b"# hi",
    })


# -- the walk --------------------------------------------------------------------------------
def test_scan_walks_each_folder_sorted_depth_first_and_skips_dot_names(tmp_path):
    root = tree(tmp_path / "t", {
        "nextjoy/b/z": b"1", "nextjoy/b/a.txt": b"2", "nextjoy/b/a/x": b"3", "nextjoy/a/k": b"4",
        "jpush/k/alias/f.txt": b"5", ".DS_Store": b"", "nextjoy/b/.hidden": b"", "nextjoy/.git/config": b"",
        "nextjoy/b/.cache/x": b"",
    })
    got = [(e.api, e.tenant, e.path, e.size) for e in scan(root)]
    assert got == [("jpush", "k", "alias/f.txt", 1), ("nextjoy", "a", "k", 1), ("nextjoy", "b", "a/x", 1),
                   ("nextjoy", "b", "a.txt", 1), ("nextjoy", "b", "z", 1)]


@pytest.mark.parametrize("files, words", [
    ({"README.md": b"x"}, ["README.md", "outside the layout", "<api>/<tenant>/<path>"]),
    ({"jpush/notes.txt": b"x"}, ["jpush/notes.txt", "outside the layout"]),
    ({"s3/bucket/a.txt": b"x"}, ["s3", "unknown API folder", "pan123"]),
])
def test_scan_refuses_files_outside_the_layout(tmp_path, files, words):
    root = tree(tmp_path / "t", files)
    with pytest.raises(PreloadError) as exc:
        scan(root, ["jpush", "pan123"])
    for w in words:
        assert w in str(exc.value)


def test_scan_refuses_a_missing_folder_and_special_files(tmp_path):
    with pytest.raises(PreloadError, match="is not a directory"):
        scan(tmp_path / "nope")
    (tmp_path / "t/nextjoy/b").mkdir(parents=True)
    os.mkfifo(tmp_path / "t/nextjoy/b/pipe")
    with pytest.raises(PreloadError, match="nextjoy/b/pipe: not a regular file"):
        scan(tmp_path / "t")


def test_scan_refuses_a_symlink_loop(tmp_path):
    (tmp_path / "t/nextjoy/b").mkdir(parents=True)
    (tmp_path / "t/nextjoy/b/loop").symlink_to(tmp_path / "t/nextjoy")
    with pytest.raises(PreloadError, match="links back"):
        scan(tmp_path / "t")


def test_unknown_api_and_tenant_are_refused_before_or_at_the_file(emu, tmp_path):
    root = tree(tmp_path / "t", {"dropbox/me/a.txt": b"x"})
    with pytest.raises(PreloadError, match="dropbox: unknown API folder"):
        asyncio.run(preload_tree(emu, root, progress=False))
    root = tree(tmp_path / "u", {"jpush/nosuchkey/alias/a.txt": b"a\n"})
    with pytest.raises(PreloadError, match=r"^jpush/nosuchkey/alias/a.txt: no jpush tenant"):
        asyncio.run(preload_tree(emu, root, progress=False))
    assert emu.blobs.stats() == {"blobs": 0, "bytes": 0}


def test_a_refusal_stops_the_walk_and_a_fixed_tree_completes_it(emu, tmp_path):
    root = tree(tmp_path / "t", {f"jpush/{JPUSH_KEY}/alias/a.txt": b"a\n",
                                 f"jpush/{JPUSH_KEY}/alias/b.txt": b"b" * 41 + b"\n",
                                 f"jpush/{JPUSH_KEY}/alias/c.txt": b"c\n"})
    with pytest.raises(PreloadError, match=r"alias/b.txt: .*longer than 40 bytes"):
        asyncio.run(preload_tree(emu, root, progress=False))
    assert [f.file_name for f in emu.service("jpush").all_files()] == ["a.txt"]
    (root / f"jpush/{JPUSH_KEY}/alias/b.txt").write_bytes(b"b\n")
    summary = asyncio.run(preload_tree(emu, root, progress=False))
    assert summary.results == {"unchanged": 1, "created": 2}
    assert [f.file_name for f in emu.service("jpush").all_files()] == ["a.txt", "b.txt", "c.txt"]


# -- the admin endpoint ---------------------------------------------------------------------
def test_admin_put_answers_201_with_the_description(client):
    r = client.put(f"/_emulator/preload/jpush/{JPUSH_KEY}/alias/a.txt", content=b"alice\n")
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"api", "tenant", "path", "id", "size", "result"}
    assert (body["api"], body["tenant"], body["path"], body["size"], body["result"]) == (
        "jpush", JPUSH_KEY, "alias/a.txt", 6, "created")
    # never journaled
    assert client.get("/_emulator/requests").json() == []


def test_admin_put_streams_a_chunked_body(client):
    def body():
        for _ in range(3):
            yield b"x" * 700_000
    r = client.put("/_emulator/preload/nextjoy/game-hddzz/big.bin", content=body())
    assert r.status_code == 201 and r.json()["size"] == 2_100_000
    assert len(client.get("/_emulator/nextjoy/objects/game-hddzz/big.bin").content) == 2_100_000


@pytest.mark.parametrize("url, words", [
    ("/_emulator/preload/dropbox/me/a.txt", ["dropbox/me/a.txt", "unknown API folder", "jpush"]),
    ("/_emulator/preload/nextjoy/game-hddzz/a//b", ["a//b", "empty"]),
    ("/_emulator/preload/nextjoy/game-hddzz/a/%2E%2E/b", ["'..'"]),
    ("/_emulator/preload/nextjoy/game-hddzz/", ["the path must be relative"]),
    ("/_emulator/preload/nextjoy/game-hddzz", ["names no API, tenant and path"]),
    ("/_emulator/preload/jpush//alias/a.txt", ["names no API, tenant and path"]),
])
def test_admin_put_refuses_bad_targets_with_400(client, url, words):
    r = client.put(url, content=b"data")
    assert r.status_code == 400, r.text
    for w in words:
        assert w in r.json()["error"]
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}


# -- deterministic ids -------------------------------------------------------------------------
def loaded(seed: int | None, root: Path) -> list[dict]:
    app = create_app(Settings(database_url="sqlite://", seed=seed))
    emu = app.state.emulator
    try:
        emu.clock.freeze(True)
        emu.clock.set(T0)
        return asyncio.run(preload_tree(emu, root, progress=False)).objects
    finally:
        emu.close()


def test_ids_repeat_under_a_seed(tmp_path):
    root = sample(tmp_path / "t")
    first, second = loaded(7, root), loaded(7, root)
    assert first == second
    assert [o["path"] for o in first] == [
        "1003775/1/upload.txt", "alias/a.txt", "alias/b.txt", "img/a.png", "dog.jpg", "pics/cat.jpg",
        "test-1a2b3c/docs/readme.md"]
    unseeded = loaded(None, root)
    ids = {o["api"]: o["id"] for o in unseeded}
    assert ids["jpush"] != {o["api"]: o["id"] for o in first}["jpush"]


# -- memory and speed of a large file ---------------------------------------------------------
@pytest.mark.parametrize(
    "api, tenant", [("pan123", "test-pan123-client"), ("wechat", "wxtest0000000000001/test-1a2b3c")]
)
def test_a_20_mib_file_preloads_with_flat_memory(emu, client, tmp_path, api, tenant):
    size = 20 << 20
    big = tmp_path / "t" / api / tenant / "big.bin"
    big.parent.mkdir(parents=True)
    with open(big, "wb") as f:
        for i in range(size // CHUNK_SIZE):
            f.write(bytes([i]) * CHUNK_SIZE)
    if api == "pan123":
        # seven slices, the last one short (through the admin API: the config may be a database row)
        assert client.post("/_emulator/pan123/config", json={"slice_size": 3 << 20}).status_code == 200
    tracemalloc.start()
    try:
        summary = asyncio.run(preload_tree(emu, tmp_path / "t", progress=False))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.bytes == size
    assert peak < 12 << 20, f"peak {peak} bytes while preloading {size}"
    if api == "pan123":
        [row] = [f for f in emu.service("pan123").all_files() if not f["is_dir"]]
        assert row["slices"] == [3 << 20] * 6 + [2 << 20]


# -- progress ------------------------------------------------------------------------------------
def test_progress_bar_when_forced_counts_bytes(emu, tmp_path):
    root = sample(tmp_path / "t")
    out = io.StringIO()
    summary = asyncio.run(preload_tree(emu, root, progress=True, stream=out))
    text = out.getvalue()
    assert "preload" in text and "100%" in text
    assert summary.files == 7 and summary.bytes == 4029
    assert summary.line() == f"7 files, 4029 bytes (3.9 KiB) from {root} (7 created)"


def test_progress_bar_is_silent_off_a_terminal_and_for_small_trees(monkeypatch):
    out = io.StringIO()
    bar = progress_bar(1 << 30, 1000, stream=out)  # large, but not a terminal
    bar.update(1 << 30)
    bar.close()
    assert out.getvalue() == ""
    assert progress_bar(10, 1, stream=io.StringIO()).disable is True
    monkeypatch.setenv("EMULATOR_PROGRESS", "1")
    forced = io.StringIO()
    bar = progress_bar(10, 1, stream=forced)
    bar.update(10)
    bar.close()
    assert "100%" in forced.getvalue()
    monkeypatch.setenv("EMULATOR_PROGRESS", "0")
    assert progress_bar(1 << 30, 1000, stream=io.StringIO()).disable is True


# -- at start, in process -------------------------------------------------------------------------
def test_create_app_preloads_the_settings_folder(tmp_path):
    root = sample(tmp_path / "t")
    app = create_app(Settings(database_url="sqlite://", preload=root))
    try:
        emu = app.state.emulator
        assert emu.preloaded.files == 7
        assert [f.file_name for f in emu.service("jpush").all_files()] == ["a.txt", "b.txt"]
    finally:
        app.state.emulator.close()


def test_create_app_inside_a_running_loop_still_preloads(tmp_path):
    root = sample(tmp_path / "t")

    async def build():
        return create_app(Settings(database_url="sqlite://", preload=root))

    app = asyncio.run(build())
    try:
        assert app.state.emulator.preloaded.files == 7
    finally:
        app.state.emulator.close()


def test_create_app_with_a_bad_tree_raises_and_keeps_nothing_open(tmp_path):
    root = tree(tmp_path / "t", {"jpush/nosuchkey/alias/a.txt": b"a\n"})
    with pytest.raises(PreloadError, match="no jpush tenant"):
        create_app(Settings(database_url="sqlite://", preload=root))


def test_preload_setting_must_be_a_folder(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not a directory"):
        Settings(preload=tmp_path / "missing")
    assert Settings(preload="").preload is None


def test_run_works_with_and_without_a_running_loop():
    async def answer():
        return 42

    assert run(answer) == 42

    async def nested():
        return run(answer)

    assert asyncio.run(nested()) == 42
