"""Closing a database while other threads still run statements on it.

A download that is still streaming when its emulator closes (a test that failed half-way through
a read, then the fixture's teardown) has a reader thread running a statement on the database
being disposed. Closing a sqlite3 connection under a running statement crashes the process
(a segmentation fault, seen in the suite as a crashed xdist worker), so the check runs in a
subprocess: threads keep reading while the database is disposed, many times over.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from emulator.core.blobs import _CHUNK
    from emulator.core.db import Database

    url, rounds = sys.argv[1], int(sys.argv[2])
    reads = 0
    for n in range(rounds):
        db = Database(url.format(n=n))
        db.create_schema()
        stop = threading.Event()

        def reader():
            global reads
            while not stop.is_set():
                try:
                    _CHUNK.first(db, blob_id=1, seq=0)  # what a download's reader thread runs
                    reads += 1
                except Exception:
                    pass  # a statement after the close may fail; it must not crash

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.01)
        db.dispose()
        time.sleep(0.005)
        stop.set()
        for t in threads:
            t.join()
    print("reads", reads)
    """
)


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_disposing_under_running_reads_does_not_crash(kind: str, tmp_path: Path) -> None:
    url = "sqlite://" if kind == "memory" else f"sqlite:///{tmp_path}/db-{{n}}.sqlite"
    done = subprocess.run([sys.executable, "-c", SCRIPT, url, "30"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"exit status {done.returncode}:\n{done.stderr[-3000:]}"
    assert int(done.stdout.split()[-1]) > 0  # the readers did run statements


def test_a_connection_lent_when_disposed_is_closed_when_given_back(tmp_path: Path) -> None:
    from emulator.core.db import Database

    db = Database(f"sqlite:///{tmp_path}/lent.sqlite")
    try:
        with db.connection() as conn:
            db.dispose()
            assert conn.execute("SELECT 1").fetchone() == (1,)  # still open under its use
        with pytest.raises(Exception, match="closed"):
            conn.execute("SELECT 1")
        with db.connection() as fresh:  # the thread's next use opens a new one
            assert fresh is not conn and fresh.execute("SELECT 1").fetchone() == (1,)
    finally:
        db.dispose()
