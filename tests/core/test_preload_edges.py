"""Preloading at its edges: file names the file system gives as bytes that are not UTF-8,
or that hold control characters (one line naming the file, nothing loaded), and ``--import``
with ``--preload`` at the same start (the exported state, then the fixture files'
tenants, then the tree on top)."""

from __future__ import annotations

import os
from pathlib import Path

import cli_process
import pytest
from fastapi.testclient import TestClient
from helpers import JPUSH_AUTH, JPUSH_KEY

from emulator.app import create_app
from emulator.core.preload import PreloadError, scan
from emulator.settings import Settings


def non_utf8_tree(root: Path) -> Path:
    """A good file, then (in sorted order) one whose name is the byte 0xFF."""
    folder = root / "jpush" / JPUSH_KEY / "alias"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"alice\n")
    try:
        with open(os.fsencode(folder) + b"/\xff.txt", "wb") as f:
            f.write(b"bob\n")
    except OSError as exc:  # pragma: no cover - a file system that refuses such names
        pytest.fail(f"cannot make a non-UTF-8 file name here: {exc}")
    return root


def test_a_name_that_is_not_utf8_is_refused_before_anything_loads(tmp_path):
    root = non_utf8_tree(tmp_path / "tree")
    with pytest.raises(PreloadError) as exc:
        scan(root)
    message = str(exc.value)
    assert f"jpush/{JPUSH_KEY}/alias/" in message and "not valid UTF-8" in message and "\n" not in message
    message.encode("utf-8")  # printable as it is

    run = cli_process.run(["serve", "--database-url", "sqlite://", "--port", "0", "--preload", str(root)],
                          timeout=60)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "not valid UTF-8" in lines[0], run.stderr


@pytest.mark.parametrize("name", ["new\nline.txt", "tab\there.txt", "del\x7f.txt"])
def test_a_name_with_a_control_character_is_refused_in_one_line(tmp_path, name):
    folder = tmp_path / "tree" / "jpush" / JPUSH_KEY / "alias"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(b"alice\n")
    with pytest.raises(PreloadError) as exc:
        scan(tmp_path / "tree")
    message = str(exc.value)
    assert "\n" not in message and "control character" in message
    assert f"jpush/{JPUSH_KEY}/alias/" + repr(name)[1:-1] in message, message


def test_import_and_preload_at_the_same_start(tmp_path):
    with TestClient(create_app(Settings(database_url="sqlite://", data_dir=tmp_path / "a"))) as c:
        r = c.post("/v3/files/alias", files={"filename": ("from-snapshot.txt", b"snap\n")}, auth=JPUSH_AUTH)
        assert r.status_code == 200, r.text
        assert c.post("/_emulator/snapshots", json={"name": "s"}).status_code == 201
        (tmp_path / "s.snapshot").write_bytes(c.get("/_emulator/snapshots/s/export").content)
    tree = tmp_path / "tree" / "jpush" / JPUSH_KEY / "alias"
    tree.mkdir(parents=True)
    (tree / "preloaded.txt").write_bytes(b"tree\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("pan123:\n  - client_id: extra-client\n    client_secret: extra-secret\n    uid: 1\n")
    for memory in (True, False):
        where = dict(database_url="sqlite://") if memory else {}
        app = create_app(Settings(data_dir=tmp_path / f"b{memory}", import_file=tmp_path / "s.snapshot",
                                  preload=tmp_path / "tree", fixtures=[extra], **where))
        with TestClient(app) as c:
            files = c.get("/_emulator/jpush/files").json()
            assert [(f["file_name"], f["lines"]) for f in files] == [("from-snapshot.txt", ["snap"]),
                                                                    ("preloaded.txt", ["tree"])]
            pan123 = [t["client_id"] for t in c.get("/_emulator/credentials").json()["pan123"]]
            assert "extra-client" in pan123 and "test-pan123-client" in pan123  # snapshot's + fixture's
            assert app.state.emulator.preloaded.line().startswith("1 files")
