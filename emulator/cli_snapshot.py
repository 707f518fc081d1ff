"""``storage-emulator snapshot ...``: save, restore, list, delete, export and import the
snapshots of a running emulator, over its admin API (``--url``, default ``EMULATOR_URL``
or http://127.0.0.1:8080). Export and import stream the file."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

DEFAULT_URL = "http://127.0.0.1:8080"
CHUNK = 1 << 20


class CliError(Exception):
    """A failure reported as one line on stderr (exit status 2)."""


def add_parser(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the running emulator [EMULATOR_URL, default {DEFAULT_URL}]")
    snap = sub.add_parser(
        "snapshot", help="save, restore, list, delete, export or import snapshots of a running emulator"
    )
    actions = snap.add_subparsers(dest="action", required=True, metavar="ACTION")
    save = actions.add_parser("save", parents=[common], help="save the state (or some tenants' rows) under NAME")
    save.add_argument("name", metavar="NAME")
    save.add_argument(
        "--tenant", action="append", default=[], metavar="API:IDENTITY",
        help="save only this tenant's rows (repeatable), e.g. jpush:my-app-key or nextjoy:1001:1000",
    )
    restore = actions.add_parser("restore", parents=[common], help="restore the snapshot NAME")
    restore.add_argument("name", metavar="NAME")
    actions.add_parser("list", parents=[common], help="list the snapshots")
    delete = actions.add_parser("delete", parents=[common], help="delete the snapshot NAME")
    delete.add_argument("name", metavar="NAME")
    export = actions.add_parser("export", parents=[common], help="download the snapshot NAME into FILE")
    export.add_argument("name", metavar="NAME")
    export.add_argument("file", metavar="FILE")
    imp = actions.add_parser("import", parents=[common], help="upload FILE (an exported snapshot) as NAME")
    imp.add_argument("name", metavar="NAME")
    imp.add_argument("file", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    import httpx

    base = (args.url or os.environ.get("EMULATOR_URL") or DEFAULT_URL).rstrip("/")
    try:
        with httpx.Client(base_url=f"{base}/_emulator", timeout=httpx.Timeout(None, connect=10)) as client:
            line = ACTIONS[args.action](client, args)
    except CliError as exc:
        print(f"storage-emulator: error: snapshot {args.action}: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"storage-emulator: error: snapshot {args.action}: cannot reach {base}: {_one_line(str(exc))}",
              file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:  # JSON of another shape
        print(f"storage-emulator: error: snapshot {args.action}: not an answer of the emulator at {base} "
              f"({type(exc).__name__}: {_one_line(str(exc))})", file=sys.stderr)
        return 2
    if line:
        print(line, flush=True)
    return 0


def _path(name: str) -> str:
    return f"/snapshots/{quote(name, safe='')}"


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _check(response: Any) -> Any:
    """The JSON answer of a successful call; a CliError of one line for anything else
    (an error, or an answer that is not the emulator's: --url names another server)."""
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if response.status_code >= 400:
        message = doc.get("error") if isinstance(doc, dict) else None
        raise CliError(f"{_one_line(message or response.text) or response.reason_phrase} (HTTP {response.status_code})")
    if not isinstance(doc, (dict, list)):
        raise CliError(f"not an answer of the emulator (HTTP {response.status_code}: {_one_line(response.text)})")
    return doc


def _scope(tenants: list[str]) -> dict[str, list[str]] | None:
    if not tenants:
        return None
    from .core.ownership import ScopeError, split_scope_values

    try:
        return split_scope_values(tenants, "--tenant must be API:IDENTITY")
    except ScopeError as exc:
        raise CliError(str(exc)) from None


def _describe(doc: dict[str, Any]) -> str:
    scope = doc.get("scope")
    what = "whole state" if scope is None else "tenants " + ", ".join(
        f"{api}:{ident}" for api, ids in scope.items() for ident in ids
    )
    when = datetime.fromtimestamp(doc["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{doc['name']}  {when}  {doc['rows']} rows  {doc['bytes']} bytes  {what}"


def _save(client: Any, args: argparse.Namespace) -> str:
    body: dict[str, Any] = {"name": args.name}
    scope = _scope(args.tenant)
    if scope is not None:
        body["tenants"] = scope
    return "saved " + _describe(_check(client.post("/snapshots", json=body)))


def _restore(client: Any, args: argparse.Namespace) -> str:
    return "restored " + _describe(_check(client.post(f"{_path(args.name)}/restore")))


def _list(client: Any, args: argparse.Namespace) -> str:
    docs = _check(client.get("/snapshots"))
    return "\n".join(_describe(d) for d in docs) if docs else "no snapshots"


def _delete(client: Any, args: argparse.Namespace) -> str:
    _check(client.delete(_path(args.name)))
    return f"deleted {args.name}"


def _export(client: Any, args: argparse.Namespace) -> str:
    """Streamed into a temporary file next to FILE, renamed over it when complete."""
    target = Path(args.file)
    tmp = target.with_name(f".{target.name}.part")
    size = 0
    try:
        with client.stream("GET", f"{_path(args.name)}/export") as response:
            if response.status_code >= 400:
                response.read()
                _check(response)
            if response.headers.get("content-type", "").split(";")[0].strip() != "application/octet-stream":
                response.read()
                raise CliError(f"not a snapshot file (HTTP {response.status_code}, "
                               f"{response.headers.get('content-type') or 'no content type'}: "
                               f"{_one_line(response.text)})")
            with open(tmp, "wb") as out:
                for piece in response.iter_bytes(CHUNK):
                    out.write(piece)
                    size += len(piece)
        os.replace(tmp, target)
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return f"exported {args.name} to {target} ({size} bytes)"


def _import(client: Any, args: argparse.Namespace) -> str:
    source = Path(args.file)
    try:
        handle = open(source, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise CliError(f"cannot read {source}: {exc.strerror or exc}") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size

        def chunks() -> Iterator[bytes]:
            while piece := handle.read(CHUNK):
                yield piece

        response = client.put(_path(args.name), content=chunks(), headers={"content-length": str(size)})
    return "imported " + _describe(_check(response))


ACTIONS = {
    "save": _save,
    "restore": _restore,
    "list": _list,
    "delete": _delete,
    "export": _export,
    "import": _import,
}
