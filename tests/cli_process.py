"""``python -m emulator ARGS`` for the tests, without paying the interpreter's start-up and the
app's imports (~1.3 s of CPU) on every run.

A test that checks the command line (``serve``, ``snapshot``, ``preload``) needs its own
process: its exit code, its output streams, its signals. ``popen`` and ``run`` give it one,
forked from a *fork server*: a process started once per test process that has imported
everything the command imports (and nothing else: no thread, no event loop, no database, no
open file of its own), and that forks a child per request. The child takes the request's
standard streams, working directory and environment, then runs what ``python -m emulator``
runs (``emulator.cli.main(args)``) and ends the way that process would (exit code, atexit
handlers, non-daemon threads joined, standard streams flushed, an uncaught Ctrl-C killing it
by SIGINT), less the interpreter's teardown of every module (see :func:`_finish`). The test
holds a ``subprocess.Popen``-like handle: ``pid`` (signals go straight to the child),
``stdout``/``stderr`` pipes, ``poll``/``wait``/``communicate``/``returncode`` (the
fork server reports the exit status on the request's socket).

What a fork does not reproduce, a real process is used for: a request whose environment
changes how Python itself starts (``PYTHON*``, ``LD_*``) runs ``[sys.executable, -m, emulator]``
as before, and so does every run with ``STORAGE_EMULATOR_TESTS_FORK=0`` in the environment
(to check that the suite passes the same with real processes). Tests that are about the
installed command itself (the README walkthroughs, the Docker image's start command,
``serve --workers``) keep starting it for real."""

from __future__ import annotations

import contextlib
import io
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

SWITCH = "STORAGE_EMULATOR_TESTS_FORK"
_STARTUP_PREFIXES = ("PYTHON", "LD_")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the user's ``EMULATOR_*`` settings (so that a
    command or server a test starts sees only what the test gives it), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------------------
# The client side: what tests call.

class ForkedProcess:
    """A forked ``python -m emulator`` run, as much of ``subprocess.Popen`` as the tests use."""

    def __init__(self, args: list[str], conn: socket.socket, pid: int,
                 stdout: IO[Any] | None, stderr: IO[Any] | None) -> None:
        self.args = args
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = None
        self.returncode: int | None = None
        self._conn = conn
        self._lock = threading.Lock()

    def _collect(self, timeout: float | None) -> int | None:
        with self._lock:
            if self.returncode is not None:
                return self.returncode
            self._conn.settimeout(timeout)
            try:
                data = self._conn.recv(64)
            except (TimeoutError, BlockingIOError):
                return None
            finally:
                self._conn.settimeout(None)
            self._conn.close()
            if not data:  # the fork server is gone: the child's status is unknown
                raise RuntimeError(f"the fork server ended before process {self.pid} did")
            self.returncode = int(data.decode())
            return self.returncode

    def poll(self) -> int | None:
        return self._collect(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._collect(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # ended between the poll and the kill
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        """Both streams read to their end (in threads, as Popen does), then the exit status."""
        if input is not None:
            raise ValueError("no standard input: the tests give these processes none")
        out: dict[str, Any] = {}
        readers = []
        for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)):
            if stream is not None:
                reader = threading.Thread(target=lambda n=name, s=stream: out.__setitem__(n, s.read()), daemon=True)
                reader.start()
                readers.append(reader)
        for reader in readers:
            reader.join(timeout)
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        self.wait(timeout)
        return out.get("stdout"), out.get("stderr")

    def __enter__(self) -> ForkedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        self.wait()


class _Server:
    """The fork server of this test process, started on first use, ended with it."""

    _lock = threading.Lock()
    _instance: _Server | None = None

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="emulator-forks-")
        self.path = os.path.join(self.dir, "sock")
        self.env = env = clean_env()
        # Its stdin is a pipe this process holds: when this process ends, the server sees the
        # end of that pipe and exits (no orphan outlives a killed test run).
        self.proc = subprocess.Popen([sys.executable, __file__, self.path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, close_fds=True)
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if ready.strip() != b"ready":
            raise RuntimeError(f"the fork server did not start: {ready!r}")

    @classmethod
    def get(cls) -> _Server:
        with cls._lock:
            if cls._instance is None or cls._instance.proc.poll() is not None:
                cls._instance = cls()
            return cls._instance

    def spawn(self, args: list[str], env: Mapping[str, str], cwd: str,
              stdout: int, stderr: int) -> tuple[socket.socket, int]:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.path)
        request = json.dumps({"args": args, "env": dict(env), "cwd": cwd}).encode()
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            socket.send_fds(conn, [len(request).to_bytes(8, "big") + request], [devnull, stdout, stderr])
        finally:
            os.close(devnull)
        pid_line = b""
        while not pid_line.endswith(b"\n"):
            chunk = conn.recv(1)
            if not chunk:
                raise RuntimeError("the fork server did not answer")
            pid_line += chunk
        return conn, int(pid_line)


def _forkable(env: Mapping[str, str]) -> bool:
    if os.environ.get(SWITCH, "1") == "0":
        return False
    base = _Server.get().env if _Server._instance is not None else os.environ
    for key in set(env) | set(base):
        if key.startswith(_STARTUP_PREFIXES) and env.get(key) != base.get(key):
            return False
    return True


def _pipe_end(target: Any) -> tuple[int, IO[Any] | None, int | None]:
    """(the fd the child writes to, the stream this side reads, an fd to close here after the
    spawn) for ``subprocess.PIPE``, ``subprocess.STDOUT`` (handled by the caller), ``None``
    (inherit) or an open file."""
    if target == subprocess.PIPE:
        read, write = os.pipe()
        return write, os.fdopen(read, "rb"), write
    if target is None:
        return -1, None, None
    return target.fileno(), None, None


def popen(args: Sequence[str], *, stdout: Any = None, stderr: Any = None, text: bool = False,
          env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> Any:
    """``subprocess.Popen([sys.executable, "-m", "emulator", *args], ...)``, forked when it can be."""
    env = dict(os.environ if env is None else env)
    cmd = [sys.executable, "-m", "emulator", *args]
    if not _forkable(env):
        return subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=text, env=env, cwd=cwd)
    out_fd, out_stream, out_close = _pipe_end(stdout)
    if stderr == subprocess.STDOUT:
        err_fd, err_stream, err_close = out_fd, None, None
    else:
        err_fd, err_stream, err_close = _pipe_end(stderr)
    # -1: the child keeps the stream this process has (as Popen's None does)
    out_fd = sys.__stdout__.fileno() if out_fd == -1 else out_fd
    err_fd = sys.__stderr__.fileno() if err_fd == -1 else err_fd
    try:
        conn, pid = _Server.get().spawn(list(args), env, os.fspath(cwd or os.getcwd()), out_fd, err_fd)
    finally:
        for fd in (out_close, err_close):
            if fd is not None:
                os.close(fd)
    if text:
        out_stream = io.TextIOWrapper(out_stream) if out_stream is not None else None
        err_stream = io.TextIOWrapper(err_stream) if err_stream is not None else None
    return ForkedProcess(cmd, conn, pid, out_stream, err_stream)


def run(args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None,
        cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[str]:
    """``subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True,
    text=True, ...)``, forked when it can be."""
    proc = popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# ---------------------------------------------------------------------------------------------
# The fork server (``python tests/cli_process.py SOCKET``).

def _preload() -> None:
    """Everything ``python -m emulator`` imports on its way to serving or calling a server."""
    import logging.config  # noqa: F401

    import sqlalchemy.dialects.sqlite  # noqa: F401
    import uvicorn
    import uvicorn.lifespan.on
    import uvicorn.logging
    import uvicorn.loops.auto
    import uvicorn.protocols.http.auto
    import uvicorn.protocols.websockets.auto
    import uvicorn.supervisors  # noqa: F401

    import emulator.app
    import emulator.cli
    import emulator.core.preload
    import emulator.core.snapshots  # noqa: F401


def _serve(path: str) -> list[str] | None:
    """Answer requests until this process's stdin ends. Answers the arguments to run in a
    forked child (in that child), or None (in the server, when it is time to exit)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    os.set_blocking(wake_read, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "parent")
    children: dict[int, socket.socket] = {}
    sys.stdout.write("ready\n")
    sys.stdout.flush()

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = children.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):  # the test process is gone
                    conn.sendall(str(os.waitstatus_to_exitcode(status)).encode())
                conn.close()

    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.data == "parent":
                if not os.read(sys.stdin.fileno(), 4096):
                    for pid in children:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    return None
            elif key.data == "child":
                try:
                    while os.read(wake_read, 512):
                        pass
                except BlockingIOError:
                    pass
            else:
                conn, _ = listener.accept()
                request, fds = _receive(conn)
                pid = os.fork()
                if pid == 0:
                    # The child: none of the server's own files, the request's streams.
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    selector.close()
                    for fd in (listener.fileno(), wake_read, wake_write, conn.fileno(),
                               *(c.fileno() for c in children.values())):
                        os.close(fd)
                    return _become(request, fds)
                for fd in fds:
                    os.close(fd)
                conn.sendall(f"{pid}\n".encode())
                children[pid] = conn
        reap()


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    head, fds, _, _ = socket.recv_fds(conn, 8, 3)
    while len(head) < 8:
        head += conn.recv(8 - len(head))
    size = int.from_bytes(head, "big")
    body = b""
    while len(body) < size:
        body += conn.recv(size - len(body))
    return json.loads(body), list(fds)


def _become(request: dict[str, Any], fds: list[int]) -> list[str]:
    """Turn this forked child into ``python -m emulator ARGS`` as the request describes it."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds):
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]  # as ``python -m`` puts the working directory first
    os.environ.clear()
    os.environ.update(request["env"])
    # Fresh standard streams over the new descriptors, buffered as a new interpreter's are.
    encoding = os.environ.get("PYTHONIOENCODING") or None
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "rb", closefd=False)), encoding=encoding)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "wb", closefd=False)), encoding=encoding,
                                  line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "wb", closefd=False)), encoding=encoding,
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    sys.argv = [str(Path(__import__("emulator").__file__).with_name("__main__.py")), *request["args"]]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return list(request["args"])


def _finish(code: object) -> NoReturn:
    """End as the interpreter ends after ``SystemExit(code)``: non-daemon threads joined,
    atexit handlers run, the standard streams flushed, the same exit status (None: 0; a
    number: itself; anything else printed to stderr: 1); then ``os._exit``, skipping the
    teardown of every module and object the fork inherited (measured ~0.28 s per run, ~4×
    what a failing CLI command itself takes; nothing a test observes: files and sockets
    are closed by the kernel, the emulator closes its database on its own way out)."""
    import atexit

    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx does first
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: as the interpreter, say nothing
            stream.flush()
    os._exit(status & 0xFF)


if __name__ == "__main__":
    _preload()
    _args = _serve(sys.argv[1])
    if _args is None:
        raise SystemExit(0)
    from emulator.cli import main

    try:
        _code: object = main(_args)
    except SystemExit as _stop:
        _code = _stop.code
    _finish(_code)
