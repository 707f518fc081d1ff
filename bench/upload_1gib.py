#!/usr/bin/env python
"""Stream a large body (default 1 GiB) through the content store and watch the server's memory.

Starts ``storage-emulator serve`` (file-backed SQLite in a fresh temp dir), streams N bytes
to ``PUT /_emulator/store/probe`` (hash + chunk writes + commit + reclaim, exactly as an
upload), samples the server's VmRSS every ~50 ms, and checks the DESIGN target
"server memory during a 1 GiB upload <= idle + 16 MiB". With ``--compare-sink`` it also runs
the same upload against a bare uvicorn app that only MD5s the body (bench/md5_sink.py) and
prints the throughput ratio emulator/sink (DESIGN target: >= 0.9, the store is never the
bottleneck).

    python bench/upload_1gib.py                       # 1 GiB, memory only
    python bench/upload_1gib.py --size 1G --compare-sink
    python bench/upload_1gib.py --size 100M --compare-sink --runs 5

Sizes: plain bytes, or K/M/G (binary: 1G = 1 GiB). MB/s below is 1e6 bytes/s.
The PASS/FAIL lines are information; the exit code is non-zero only if an upload failed
(error status, wrong size or wrong digest) or a server would not start.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

MiB = 1 << 20
BLOCK = 1 * MiB
HERE = Path(__file__).resolve().parent
MEMORY_ALLOWANCE_MIB = 16
RATIO_TARGET = 0.9


# -- helpers -----------------------------------------------------------------------
def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 1G, 100M, 65536)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    size = int(float(m.group(1)) * scale)
    if size <= 0:
        raise argparse.ArgumentTypeError("size must be positive")
    return size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, int]:
    """The kB fields of /proc/<pid>/status we care about, in bytes."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def reset_hwm(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so it measures only what follows."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def mib(n: float) -> str:
    return f"{n / MiB:.1f} MiB"


def body(size: int, block: bytes, sent: list[int]) -> Iterator[bytes]:
    """``size`` bytes as the same 1 MiB bytes object over and over (client memory stays flat)."""
    full, rest = divmod(size, len(block))
    for _ in range(full):
        sent[0] += len(block)
        yield block
    if rest:
        sent[0] += rest
        yield block[:rest]


def md5_of_body(size: int, block: bytes) -> str:
    h = hashlib.md5()
    for piece in body(size, block, [0]):
        h.update(piece)
    return h.hexdigest()


class Sampler(threading.Thread):
    """VmRSS of one process every ``interval`` seconds, until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak: dict[str, int] = {"VmRSS": 0}
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(OSError):
                st = proc_status(self.pid)
                self.samples += 1
                if st["VmRSS"] > self.peak["VmRSS"]:
                    self.peak = st
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


@dataclass
class Server:
    name: str
    cmd: list[str]
    health_url: str
    env: dict[str, str]
    log_dir: Path
    proc: subprocess.Popen | None = None
    cwd: Path | None = None  # the server's working directory (None: this process's)
    log_path: Path = field(init=False)

    def start(self, timeout: float = 30.0) -> None:
        self.log_path = self.log_dir / f"{self.name}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.health_url, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer {self.health_url} within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Result:
    seconds: float
    ok: bool
    detail: str
    cpu: tuple[float, float] = (0.0, 0.0)  # server (user, system) seconds during the upload
    client_cpu: float = 0.0  # this process's user + system seconds during the upload


def upload(
    client: httpx.Client, url: str, size: int, block: bytes, expected_md5: str, kind: str, pid: int
) -> Result:
    sent = [0]
    cpu0 = cpu_seconds(pid)
    own0 = time.process_time()
    started = time.perf_counter()
    resp = client.put(url, content=body(size, block, sent), headers={"Content-Length": str(size)})
    seconds = time.perf_counter() - started
    own = time.process_time() - own0
    cpu1 = cpu_seconds(pid)
    cpu = (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])
    if resp.status_code != 200:
        return Result(seconds, False, f"HTTP {resp.status_code}: {resp.text[:300]}", cpu, own)
    if kind == "emulator":
        doc = resp.json()
        got_size, got_md5 = doc.get("size"), doc.get("md5")
    else:
        got_size, got_md5 = sent[0], resp.text.strip()
    problems = []
    if sent[0] != size:
        problems.append(f"client sent {sent[0]} bytes, meant {size}")
    if got_size != size:
        problems.append(f"server counted {got_size} bytes, sent {size}")
    if got_md5 != expected_md5:
        problems.append(f"md5 {got_md5} != client's {expected_md5}")
    return Result(seconds, not problems, "; ".join(problems) or "size ok, md5 ok", cpu, own)


def rate(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:8.1f} MB/s  {size / seconds / MiB:8.1f} MiB/s"


# -- main ----------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="bytes to upload (1G, 100M, ...); default 1G")
    parser.add_argument("--compare-sink", action="store_true", help="also time a bare uvicorn MD5 sink")
    parser.add_argument("--runs", type=int, default=1, help="uploads per server (interleaved); medians reported")
    parser.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval, seconds")
    parser.add_argument(
        "--emulator-cmd",
        default=f"{shlex.quote(sys.executable)} -m emulator",
        help="command that takes `serve ...` (to benchmark a variant); default: this Python's -m emulator",
    )
    args = parser.parse_args()
    size: int = args.size

    block = random.Random(20240601).randbytes(BLOCK)  # fixed pseudo-random 1 MiB, repeated
    t0 = time.perf_counter()
    expected_md5 = md5_of_body(size, block)  # same bytes the generator will send; not timed
    print(f"size:                {size} bytes ({mib(size)}); "
          f"client md5 {expected_md5} ({time.perf_counter() - t0:.1f} s, untimed)")

    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    servers: list[Server] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        tmpdir = Path(tmp)
        data_dir = tmpdir / "data"
        try:
            port = free_port()
            emu = Server(
                "emulator",
                [*shlex.split(args.emulator_cmd), "serve", "--port", str(port), "--data-dir", str(data_dir),
                 "--log-level", "warning"],
                f"http://127.0.0.1:{port}/_emulator/health",
                env,
                tmpdir,
            )
            servers.append(emu)
            emu.start()
            probe_url = f"http://127.0.0.1:{port}/_emulator/store/probe"

            sink = None
            if args.compare_sink:
                sport = free_port()
                sink = Server(
                    "sink",
                    [sys.executable, str(HERE / "md5_sink.py"), "--port", str(sport), "--log-level", "warning"],
                    f"http://127.0.0.1:{sport}/",
                    env,
                    tmpdir,
                )
                servers.append(sink)
                sink.start()
                sink_url = f"http://127.0.0.1:{sport}/"

            assert emu.proc is not None
            pid = emu.proc.pid
            sink_pid = sink.proc.pid if sink and sink.proc else 0
            with httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0)) as client:
                # Warm-up: every code path of a real upload (threads, statements, pages) once.
                warm = 4 * MiB + 123
                warm_md5 = md5_of_body(warm, block)
                for url, kind, p in [(probe_url, "emulator", pid)] + ([(sink_url, "sink", sink_pid)] if sink else []):
                    r = upload(client, url, warm, block, warm_md5, kind, p)
                    if not r.ok:
                        raise RuntimeError(f"warm-up upload to {kind} failed: {r.detail}")
                time.sleep(0.5)
                idle = proc_status(pid)
                hwm_reset = reset_hwm(pid)

                emu_results: list[Result] = []
                sink_results: list[Result] = []
                sampler = Sampler(pid, args.interval)
                sampler.start()
                try:
                    for _ in range(args.runs):
                        emu_results.append(upload(client, probe_url, size, block, expected_md5, "emulator", pid))
                        if sink:
                            sink_results.append(upload(client, sink_url, size, block, expected_md5, "sink", sink_pid))
                finally:
                    sampler.stop()
                end = proc_status(pid)

            def report(name: str, results: list[Result]) -> float | None:
                nonlocal failed
                for i, r in enumerate(results, 1):
                    tag = f" run {i}" if len(results) > 1 else ""
                    print(
                        f"{name + tag + ':':<21}{r.seconds:8.3f} s  {rate(size, r.seconds)}  [{r.detail}]  "
                        f"CPU s: server {r.cpu[0]:.2f} user + {r.cpu[1]:.2f} sys, client {r.client_cpu:.2f}"
                    )
                    failed |= not r.ok
                good = [r.seconds for r in results if r.ok]
                if not good:
                    return None
                med = statistics.median(good)
                if len(results) > 1:
                    print(f"{name + ' median:':<21}{med:8.3f} s  {rate(size, med)}")
                return med

            emu_s = report("emulator upload", emu_results)
            idle_rss = idle["VmRSS"]
            peak = sampler.peak
            peak_rss = max(peak["VmRSS"], end["VmRSS"])
            hwm = end["VmHWM"]
            print(f"server idle RSS:     {mib(idle_rss)}  (anon {mib(idle['RssAnon'])}, file {mib(idle['RssFile'])})")
            print(
                f"peak sampled RSS:    {mib(peak_rss)}  (anon {mib(peak.get('RssAnon', 0))}, "
                f"file {mib(peak.get('RssFile', 0))}; {sampler.samples} samples every {args.interval * 1000:.0f} ms)"
            )
            hwm_note = "reset after warm-up" if hwm_reset else "NOT reset: includes start-up"
            print(f"VmHWM:               {mib(hwm)}  ({hwm_note})")
            print(f"server RSS at end:   {mib(end['VmRSS'])}")
            worst = max(peak_rss, hwm) if hwm_reset else peak_rss
            print(f"peak - idle:         {(peak_rss - idle_rss) / MiB:.1f} MiB sampled, "
                  f"{(hwm - idle_rss) / MiB:.1f} MiB VmHWM")
            verdict = "PASS" if worst <= idle_rss + MEMORY_ALLOWANCE_MIB * MiB else "FAIL"
            print(
                f"memory target (peak RSS <= idle + {MEMORY_ALLOWANCE_MIB} MiB): {verdict} "
                f"({(worst - idle_rss) / MiB:.1f} MiB over idle)"
            )
            client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            print(f"client max RSS:      {mib(client_peak)}")

            if sink:
                sink_s = report("sink upload", sink_results)
                if emu_s and sink_s:
                    ratio = sink_s / emu_s
                    verdict = "PASS" if ratio >= RATIO_TARGET else "FAIL"
                    print(f"ratio emulator/sink: {ratio:.3f}  (target >= {RATIO_TARGET}): {verdict}")
        except Exception as exc:  # noqa: BLE001 - report, stop servers, exit non-zero
            print(f"error: {exc}", file=sys.stderr)
            failed = True
        finally:
            for server in reversed(servers):
                server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
