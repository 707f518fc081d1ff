"""Where the upload gap to the floor lies: the floor, the floor plus each unavoidable step, the emulator.

vs_moto.py compares the emulator's presigned PUT with a bare uvicorn app that MD5s and discards
the bytes (the floor). This script puts servers between the two (bench/bound_app.py), each adding
one thing the content store must do, and runs them side by side with the floor and the emulator,
interleaved run by run, medians of ``--runs``:

- ``floor``: bench/floor_app.py (MD5 inline on the event loop, bytes discarded);
- ``+sha1``: MD5 and SHA-1 on threads of their own, 1 MiB at a time (the emulator's pipeline);
- ``+file``: that, and every chunk written to a plain file;
- ``+sqlite wal``: that, with the chunks written as rows of a SQLite file configured as the
  emulator's database (write-ahead log, 64 KiB pages, checkpoint every 4 MiB);
- ``+sqlite rollback``: the same rows with SQLite's rollback journal instead of the log;
- ``+sqlite wal, checkpoint after``: the log with no checkpoint during the upload, one after it
  (what deferring checkpoints to idle time would gain);
- ``emulator``: the 123pan presigned PUT (vs_moto.py's: create and get_upload_url before it and
  complete after it untimed);
- ``moto``: moto's S3 server, a presigned PUT (when the ``bench`` extra is installed; ``--no-moto``
  leaves it out), for issue 17's "× moto" goals.

Prints MB/s and the ratios to the floor (and to moto) per server, for the sizes of ``--sizes``
(default 100 MiB and 1 MiB). Exit status non-zero only if a server fails to start or an upload comes back wrong.

    python bench/storage_bound.py                       # 100M and 1M, 5 runs
    python bench/storage_bound.py --sizes 100M --runs 3
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from upload_1gib import Server, free_port, parse_size
from vs_moto import HERE, ROOT, Floor, Target, server_env, start_targets

STEPS = (("+sha1", "sha1"), ("+file", "file"), ("+sqlite wal", "wal"), ("+sqlite rollback", "rollback"),
         ("+sqlite wal, checkpoint after", "wal-idle"))


def start(tmp: Path, slice_size: int, moto: bool, servers: list[Server]) -> list[tuple[str, Target]]:
    """The floor, the bound_app.py servers, the emulator and moto, in the table's order; every
    server is in ``servers`` (to stop) as soon as it exists."""
    floor = start_targets(["floor"], tmp, slice_size, servers)
    steps: list[tuple[str, Server, str]] = []
    for label, mode in STEPS:
        port = free_port()
        cmd = [sys.executable, str(HERE / "bound_app.py"), "--mode", mode, "--port", str(port)]
        server = Server(mode, cmd, f"http://127.0.0.1:{port}/small", server_env(), tmp, cwd=ROOT)
        servers.append(server)
        steps.append((label, server, f"http://127.0.0.1:{port}"))
    with ThreadPoolExecutor(len(steps)) as pool:
        list(pool.map(lambda step: step[1].start(timeout=120), steps))
    rest = start_targets(["emulator", "moto"] if moto else ["emulator"], tmp, slice_size, servers)
    return ([(t.name, t) for t in floor] + [(label, Floor(server, base)) for label, server, base in steps]
            + [(t.name, t) for t in rest])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100M,1M", help="upload sizes, comma-separated (default 100M,1M)")
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs; medians (default 5)")
    parser.add_argument("--small-count", type=int, default=30,
                        help="uploads per run for sizes under 8 MiB, their median taken (default 30)")
    parser.add_argument("--no-moto", action="store_true", help="leave moto's server out")
    args = parser.parse_args()
    moto = not args.no_moto and importlib.util.find_spec("moto") is not None
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="storage-bound-") as tmp:
        targets: list[tuple[str, Target]] = []
        servers: list[Server] = []
        try:
            targets = start(Path(tmp), max(sizes), moto, servers)
            results: dict[tuple[str, int], list[float]] = {}
            for run in range(1, args.runs + 1):
                for size in sizes:
                    count = args.small_count if size < 8 << 20 else 1
                    line = []
                    for label, target in targets:
                        seconds = statistics.median(target.put(size) for _ in range(count))
                        rate = size / seconds / 1e6
                        results.setdefault((label, size), []).append(rate)
                        line.append(f"{label} {rate:.1f}")
                    print(f"run {run} {size >> 20} MiB: " + "; ".join(line), flush=True)
            print()
            against = " × floor, × moto" if moto else " × floor"
            print("| server | " + " | ".join(f"{s >> 20} MiB PUT (MB/s,{against})" for s in sizes) + " |")
            print("| --- | " + " | ".join("---" for _ in sizes) + " |")
            for label, _ in targets:
                cells = []
                for size in sizes:
                    rate = statistics.median(results[(label, size)])
                    floor = statistics.median(results[("floor", size)])
                    ratios = f"{rate / floor:.2f}×"
                    if moto:
                        ratios += f", {rate / statistics.median(results[('moto', size)]):.2f}×"
                    cells.append(f"{rate:,.1f} ({ratios})")
                print(f"| {label} | " + " | ".join(cells) + " |")
            print(f"\n{args.runs} run(s), medians; sizes under 8 MiB: median of {args.small_count} per run")
        finally:
            for _, target in targets:
                target.close()
            for server in servers:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
