"""Command line: ``storage-emulator serve`` (and ``python -m emulator serve``)."""

from __future__ import annotations

import argparse
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
    serve.add_argument("--seed", help="make generated ids deterministic [EMULATOR_SEED]")
    serve.add_argument(
        "--preload", metavar="DIR", help="load DIR/<api>/<tenant>/<path> into the APIs at start [EMULATOR_PRELOAD]"
    )
    serve.add_argument(
        "--min-free-space", metavar="SIZE",
        help="refuse new bytes below this free disk space, e.g. 16MiB; 0 = off [EMULATOR_MIN_FREE_SPACE, default 16MiB]",
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


def _settings_error(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        name = ".".join(str(p) for p in e["loc"]) or "settings"
        flag = "--" + name.replace("_", "-")
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"invalid {flag} / EMULATOR_{name.upper()} ({e.get('input')!r}): {msg}")
    return "; ".join(parts)


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
    data = "in memory (nothing is kept after exit)" if emu.db.memory else s.resolved_database_url
    lines = [
        f"{PROG} {__version__} serving on {url}",
        f"  data:        {data}",
        f"  links:       {s.public_url or 'built from each request (scheme + Host)'}",
        f"  rate limits: {'on' if s.rate_limits else 'off'}",
        *([f"  preloaded:   {emu.preloaded.line()}"] if getattr(emu, "preloaded", None) else []),
        f"  admin:       {url}/_emulator/health   journal: {url}/_emulator/requests",
        "  test credentials:",
    ]
    for name, spec in emu.apis.items():
        state = "" if spec.implemented else "  (routes not built yet)"
        for tenant in emu.tenants.all(name):
            fields = ", ".join(f"{k}={v}" for k, v in tenant.model_dump().items() if v is not None)
            lines.append(f"    {name:<9} {fields}{state}")
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
    except (OSError, SQLAlchemyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _fail(f"cannot open the database {settings.resolved_database_url}: {first}")

    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
    port = sock.getsockname()[1]
    shown_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    url = f"http://{shown_host}:{port}"
    print(banner(app, url), flush=True)

    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


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
