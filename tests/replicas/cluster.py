"""Two emulator processes on one database, and a client that alternates between them.

A :class:`Cluster` is one of three deployments of issue 16 ("shared sandboxes"):

- ``sqlite-replicas``: two ``storage-emulator serve`` processes on one SQLite file (one data dir);
- ``pg-replicas``: two ``serve`` processes on one PostgreSQL database (tests/pg_server.py), each
  with a data dir of its own, so nothing can be shared through the file system;
- ``sqlite-workers``: one ``serve --workers 2`` on a SQLite file: one URL, two worker processes.

:meth:`Cluster.client` answers an :class:`Alternating` client: every request goes to the other
process than the one before. For two replicas that is the other base URL; for ``--workers 2``
it is the other of two keep-alive connections, each pinned to a different worker (the kernel
hands a new connection to whichever worker accepts it first: connections are opened until one
lands on the other worker, which ``/_emulator/health``'s ``pid`` tells).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from cli_process import clean_env
from helpers import free_port
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

KINDS = ("sqlite-replicas", "pg-replicas", "sqlite-workers")
START_TIMEOUT = 60.0


class Process:
    """One ``storage-emulator serve`` process, its output in a log file."""

    def __init__(self, args: Sequence[str], log: Path) -> None:
        env = clean_env()
        env["EMULATOR_LOG_LEVEL"] = "warning"
        self.log = log
        for attempt in range(5):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            with open(log, "a", encoding="utf-8") as out:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "emulator", "serve", "--port", str(self.port), *args],
                    stdout=out, stderr=subprocess.STDOUT, env=env,
                )
            try:
                self._wait()
                return
            except _PortTaken:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.output()
                if "Address already in use" in output:
                    raise _PortTaken
                raise RuntimeError(f"serve exited early ({self.proc.returncode}):\n{output}")
            try:
                if httpx.get(self.url + "/_emulator/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"serve did not answer within {START_TIMEOUT} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-6000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT, as Ctrl-C
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class _PortTaken(Exception):
    pass


def pid_of(client: httpx.Client) -> int:
    r = client.get("/_emulator/health")
    assert r.status_code == 200, r.text
    pid: int = r.json()["pid"]
    return pid


class Alternating:
    """An httpx-like client sending each request to the next process in turn (``n`` counts them)."""

    def __init__(self, clients: Sequence[httpx.Client]) -> None:
        self.clients = list(clients)
        self.n = 0

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        client = self.clients[self.n % len(self.clients)]
        self.n += 1
        return client.request(method, url, **kw)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)

    def on(self, i: int) -> httpx.Client:
        """The client of process ``i`` (0 or 1), for a call that must go to that one."""
        return self.clients[i]


class Cluster:
    def __init__(self, kind: str, root: Path, database_url: str | None = None) -> None:
        assert kind in KINDS, kind
        self.kind = kind
        self.root = root
        self.processes: list[Process] = []
        self._clients: list[httpx.Client] = []
        try:
            self._start(kind, root, database_url)
        except BaseException:
            for process in self.processes:
                process.stop()
            raise
        self.urls = [p.url for p in self.processes]
        self._engine = create_engine(self.database_url, poolclass=NullPool)

    def _start(self, kind: str, root: Path, database_url: str | None) -> None:
        shared_dir = root / "data"
        if kind == "sqlite-replicas":
            self.database_url = f"sqlite:///{shared_dir / 'emulator.db'}"
            for i in range(2):  # one after the other: the first creates the schema
                self.processes.append(Process(["--data-dir", str(shared_dir)], root / f"replica{i}.log"))
        elif kind == "pg-replicas":
            assert database_url is not None
            self.database_url = database_url
            for i in range(2):
                args = ["--data-dir", str(root / f"data{i}"), "--database-url", database_url]
                self.processes.append(Process(args, root / f"replica{i}.log"))
        else:
            self.database_url = f"sqlite:///{shared_dir / 'emulator.db'}"
            self.processes.append(Process(["--data-dir", str(shared_dir), "--workers", "2"], root / "workers.log"))

    # -- clients ----------------------------------------------------------------------------------
    def client(self) -> Alternating:
        """The alternating client (made once; re-pinned to two different processes each call)."""
        if not self._clients:
            if len(self.urls) == 2:
                self._clients = [httpx.Client(base_url=url, timeout=30) for url in self.urls]
            else:
                self._clients = [httpx.Client(base_url=self.urls[0], timeout=30) for _ in range(2)]
        if len(self.urls) == 1:
            self._pin()
        client = Alternating(self._clients)
        return client

    def _pin(self) -> None:
        """Keep the two clients' connections on two different workers (a connection idle for
        uvicorn's keep-alive timeout is closed, and its replacement may land anywhere)."""
        first = pid_of(self._clients[0])
        for _ in range(200):
            if pid_of(self._clients[1]) != first:
                return
            self._clients[1].close()
            self._clients[1] = httpx.Client(base_url=self.urls[0], timeout=30)
        raise AssertionError("200 new connections all reached the same worker")

    def fresh_clients(self, n: int) -> list[httpx.Client]:
        """``n`` new clients spread over the processes (replicas: by turns; workers: the kernel's choice)."""
        return [httpx.Client(base_url=self.urls[i % len(self.urls)], timeout=60) for i in range(n)]

    # -- the database, read directly ---------------------------------------------------------------
    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self._engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    # -- state between tests ------------------------------------------------------------------------
    def reset(self) -> None:
        c = httpx.Client(base_url=self.urls[0], timeout=30)
        with c:
            for call, body in (("/_emulator/clock", {"freeze": False}), ("/_emulator/limits", {"enabled": True}),
                               ("/_emulator/pan123/config", {"reset": True}), ("/_emulator/reset", None)):
                r = c.post(call, json=body) if body is not None else c.post(call)
                assert r.status_code == 200, (call, r.text)

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._engine.dispose()
        codes = [p.stop() for p in self.processes]
        assert codes == [0] * len(codes), (codes, [p.output() for p in self.processes])

    def output(self) -> str:
        return "\n".join(p.output() for p in self.processes)


@contextmanager
def running(kind: str, root: Path, database_url: str | None = None) -> Iterator[Cluster]:
    cluster = Cluster(kind, root, database_url)
    try:
        yield cluster
    finally:
        cluster.stop()
