"""Command line: ``storage-emulator serve`` (and ``python -m emulator serve``)."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from . import __version__, cli_snapshot

PROG = "storage-emulator"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Emulator of five cloud-storage HTTP APIs.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve every API and the admin API on one port")
    serve.add_argument("--host", help="bind address [EMULATOR_HOST, default 127.0.0.1]")
    serve.add_argument("--port", help="bind port [EMULATOR_PORT, default 8080]")
    serve.add_argument("--data-dir", help="where emulator.db lives [EMULATOR_DATA_DIR, default ./.emulator-data]")
    serve.add_argument("--database-url", help="any SQLAlchemy URL; sqlite:// is in memory [EMULATOR_DATABASE_URL]")
    serve.add_argument("--public-url", help="base of every link handed out [EMULATOR_PUBLIC_URL]")
    serve.add_argument(
        "--fixtures",
        action="append",
        metavar="PATH",
        help="tenants to seed, repeatable [EMULATOR_FIXTURES, default: the packaged default.yaml]",
    )
    serve.add_argument(
        "--no-rate-limits",
        dest="rate_limits",
        action="store_const",
        const=False,
        help="turn off the vendors' QPS / per-minute limits [EMULATOR_RATE_LIMITS=0]",
    )
    serve.add_argument("--log-level", help="critical|error|warning|info|debug [EMULATOR_LOG_LEVEL, default info]")
    serve.add_argument(
        "--log-format", help="text or json lines, all on stderr, secrets masked [EMULATOR_LOG_FORMAT, default text]"
    )
    serve.add_argument(
        "--ephemeral", action="store_const", const=True,
        help="keep state in memory: every start is empty [EMULATOR_EPHEMERAL=1]",
    )
    serve.add_argument(
        "--workers", metavar="N",
        help="worker processes sharing one database (a file or PostgreSQL, not in memory) "
        "[EMULATOR_WORKERS, default 1]",
    )
    serve.add_argument(
        "--journal-size", metavar="N", help="requests the journal keeps [EMULATOR_JOURNAL_SIZE, default 1000]"
    )
    serve.add_argument("--seed", help="make generated ids deterministic [EMULATOR_SEED]")
    serve.add_argument(
        "--preload", metavar="DIR", help="load DIR/<api>/<tenant>/<path> into the APIs at start [EMULATOR_PRELOAD]"
    )
    serve.add_argument(
        "--min-free-space", metavar="SIZE",
        help=("refuse new bytes below this free disk space, e.g. 16MiB; 0 = off "
              "[EMULATOR_MIN_FREE_SPACE, default 16MiB]"),
    )
    serve.add_argument(
        "--admin-token", metavar="TOKEN",
        help="admin calls (all but /_emulator/health) need Authorization: Bearer TOKEN [EMULATOR_ADMIN_TOKEN]",
    )
    serve.add_argument(
        "--admin-allowed-hosts", metavar="NAMES",
        help="Host names the admin API answers to besides loopback and the public URL's, comma-separated, "
        "* = any [EMULATOR_ADMIN_ALLOWED_HOSTS]",
    )
    serve.add_argument(
        "--body-timeout", metavar="SECONDS",
        help="abandon an upload after this many seconds without a byte; 0 = never [EMULATOR_BODY_TIMEOUT, default 60]",
    )
    pre = sub.add_parser("preload", help="load a folder tree of objects into a running emulator")
    pre.add_argument("dir", metavar="DIR", help="the tree: DIR/<api>/<tenant>/<path>")
    pre.add_argument("--url", help="the emulator [EMULATOR_URL, default http://127.0.0.1:8080]")
    pre.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="force the progress bar on or off [EMULATOR_PROGRESS=1/0; default: on a terminal, for large trees]",
    )
    serve.add_argument(
        "--import", dest="import_file", metavar="FILE",
        help="restore an exported snapshot's state before serving [EMULATOR_IMPORT]",
    )
    cli_snapshot.add_parser(sub)
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


# Settings whose flag or variable is not simply --<name> / EMULATOR_<NAME>.
FLAG_OF = {"rate_limits": "--no-rate-limits", "import_file": "--import"}
ENV_OF = {"import_file": "EMULATOR_IMPORT"}


def flag_of(name: str) -> str:
    return FLAG_OF.get(name, "--" + name.replace("_", "-"))


def env_of(name: str) -> str:
    return ENV_OF.get(name, f"EMULATOR_{name.upper()}")


def _settings_error(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        msg = e["msg"].removeprefix("Value error, ")
        if not e["loc"]:  # a rule across settings: its message names the flags
            parts.append(msg)
            continue
        name = str(e["loc"][0])
        parts.append(f"invalid {flag_of(name)} / {env_of(name)} ({e.get('input')!r}): {msg}")
    return "; ".join(parts)


def _database_error(url: str, exc: BaseException) -> str:
    """One line naming what is wrong with a --database-url and what to install or check."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as it was given
        shown = url
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, ModuleNotFoundError):
        hint = ("pip install 'storage-emulator[postgres]'" if shown.startswith("postgresql")
                else f"pip install the driver the URL names ({exc.name})")
        return f"--database-url {shown}: its driver is not installed (no module {exc.name!r}); {hint}"
    if isinstance(exc, NoSuchModuleError):
        return (f"--database-url {shown}: unknown database kind ({first}); "
                "use sqlite:///PATH, sqlite:// (in memory) or postgresql+psycopg://USER:PASSWORD@HOST/DB")
    if isinstance(exc, ArgumentError):
        return (f"--database-url {shown}: not a database URL ({first}); "
                "use sqlite:///PATH, sqlite:// (in memory) or postgresql+psycopg://USER:PASSWORD@HOST/DB")
    if isinstance(exc, OperationalError):
        return (f"cannot open the database {shown}: {first}; check that the server runs and is reachable, "
                "and the user, password and database name")
    return f"cannot open the database {shown}: {first}"


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def banner(app: Any, url: str) -> str:
    emu = app.state.emulator
    s = emu.settings
    if emu.db.memory:
        data = ["in memory: every start is empty, nothing is kept after exit"]
    elif s.resolved_database_url.startswith("sqlite:///"):
        data = [f"{s.resolved_database_url.removeprefix('sqlite:///')} (kept across restarts;",
                "               start empty with --ephemeral, or delete that file)"]
    else:
        from sqlalchemy.engine import make_url

        data = [f"{make_url(s.resolved_database_url).render_as_string(hide_password=True)} (kept across restarts)"]
    lines = [
        f"{PROG} {__version__} serving on {url}",
        f"  data:        {data[0]}",
        *data[1:],
        f"  links:       {s.public_url or 'built from each request (scheme + Host)'}",
        f"  rate limits: {'on' if s.rate_limits else 'off'}",
        f"  workers:     {s.workers}" + (" processes sharing the database above" if s.workers > 1 else ""),
        *([f"  preloaded:   {emu.preloaded.line()}"] if getattr(emu, "preloaded", None) else []),
        f"  dashboard:   {url}/_emulator/",
        f"  admin:       {url}/_emulator/health   journal: {url}/_emulator/requests",
        "  test credentials:",
    ]
    for name in emu.apis:
        for tenant in emu.tenants.all(name):
            fields = ", ".join(f"{k}={v}" for k, v in tenant.model_dump().items() if v is not None)
            lines.append(f"    {name:<9} {fields}")
    jpush = emu.tenants.all("jpush")
    if jpush:
        t = jpush[0]
        lines.append(f"  try:        curl -u {t.app_key}:{t.master_secret} {url}/v3/files")
    return "\n".join(lines)


def serve(args: argparse.Namespace) -> int:
    from .settings import Settings

    overrides = {
        k: v
        for k, v in vars(args).items()
        if k not in ("command",) and v is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        return _fail(_settings_error(exc))
    if settings.workers > 1 and settings.is_memory_db:
        return _fail(
            f"--workers {settings.workers} / EMULATOR_WORKERS needs a database the workers share: an in-memory "
            "one (--ephemeral, sqlite://) lives in one process; use a file (--data-dir) or PostgreSQL (--database-url)"
        )

    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from .app import create_app
    from .core.preload import PreloadError
    from .core.snapshots import SnapshotError
    from .core.tenants import FixtureError

    try:
        app = create_app(settings)
    except FixtureError as exc:
        return _fail(f"fixtures: {exc}")
    except PreloadError as exc:
        return _fail(f"preload {settings.preload}: {exc}")
    except SnapshotError as exc:
        return _fail(f"--import {settings.import_file}: {exc}")
    except (OSError, SQLAlchemyError, ImportError) as exc:
        return _fail(_database_error(settings.resolved_database_url, exc))

    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
    port = sock.getsockname()[1]
    shown_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    url = f"http://{shown_host}:{port}"
    from .core.logs import logging_config

    log_config = logging_config(settings.log_format, settings.log_level)
    text = banner(app, url)
    if settings.log_format == "json":
        import logging
        import logging.config

        logging.config.dictConfig(log_config)
        logging.getLogger("emulator").info(text.splitlines()[0], extra={"fields": {"banner": text, "url": url}})
    else:
        print(text, flush=True)

    if settings.workers > 1:
        return _serve_workers(app, settings, sock, log_config)
    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        log_config=log_config,
        access_log=False,  # the journal middleware writes masked access lines (core/logs.py)
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again with
    # the handler that was there before it started: these make both end in exit status 0.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    return 0


def _serve_workers(app: Any, settings: Any, sock: socket.socket, log_config: dict[str, Any]) -> int:
    """``--workers N``: N uvicorn processes accept on the one socket bound here. This process
    has created the schema and seeded the fixtures, ``--import`` and ``--preload``; each worker
    builds its own emulator on the same database from the settings handed down in the
    environment (``app.worker_app``) and only attaches to it. Exit status 1 when a worker
    cannot start."""
    import os

    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from .app import WORKER_SETTINGS, worker_settings

    app.state.emulator.close()  # the workers open their own connections
    os.environ[WORKER_SETTINGS] = worker_settings(settings)
    config = uvicorn.Config(
        "emulator.app:worker_app",
        factory=True,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=log_config,
        access_log=False,
        timeout_graceful_shutdown=5,
        server_header=False,
        timeout_worker_healthcheck=30,  # a busy worker on a loaded machine is not a hung one
    )
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    supervisor = Multiprocess(config, sockets=[sock])  # handles SIGINT/SIGTERM: stops the workers
    try:
        supervisor.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    return 1 if failed else 0


class _Stopped(Exception):
    """SIGTERM, re-raised by uvicorn after its graceful shutdown."""


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped


def preload(args: argparse.Namespace) -> int:
    """``storage-emulator preload DIR [--url URL]``: PUT every file of the tree, streamed."""
    import os

    from .core.preload import PreloadError, push_tree

    url = args.url or os.environ.get("EMULATOR_URL") or "http://127.0.0.1:8080"
    try:
        summary = push_tree(url, args.dir, progress=args.progress)
    except PreloadError as exc:
        return _fail(f"preload {args.dir}: {exc}")
    print(f"preloaded {summary.line()} into {url.rstrip('/')}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "preload":
        return preload(args)
    if args.command == "snapshot":
        return cli_snapshot.run(args)
    return 2  # pragma: no cover - argparse requires a command
