"""``python -m emulator.migrations``: the schema's revisions, without an alembic.ini.

    python -m emulator.migrations revision -m "pan123 upload tasks" --location pan123
        autogenerates the next revision of one location (``core`` or an API's name) from the
        difference between the models and a database at the current heads (a fresh
        temporary SQLite file, or --database-url), writes it into that location's versions
        folder as ``<location>_<NNNN>_<slug>.py`` and tidies it with ruff when it is there.
    python -m emulator.migrations heads | history
    python -m emulator.migrations upgrade --database-url URL
    python -m emulator.migrations check [--database-url URL]
        exit 1 and the differences when a database at heads does not match the models.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ..core.contract import ApiSpec
from ..core.db import Base, Database
from . import CORE, _include, config, locations


def _apis() -> Sequence[ApiSpec]:
    from ..apis import ALL_APIS

    return ALL_APIS


def _database(url: str | None, tmp: str) -> Database:
    return Database(url or f"sqlite:///{Path(tmp) / 'heads.db'}")


def diff(db: Database, apis: Sequence[ApiSpec], location: str | None = None) -> list[object]:
    """What autogenerate would write: the models against the database (``[]``: equal)."""
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "include_object": _include(apis, location), "compare_type": True, "render_as_batch": True,
        })
        return list(compare_metadata(ctx, Base.metadata))


def revision(message: str, location: str, url: str | None = None) -> Path | None:
    """Autogenerate the next revision of ``location``; its path (None: nothing changed)."""
    apis = _apis()
    names = {CORE, *(spec.name for spec in apis)}
    if location not in names:
        raise SystemExit(f"unknown location {location!r}: one of {', '.join(sorted(names))}")
    with tempfile.TemporaryDirectory() as tmp:
        db = _database(url, tmp)
        try:
            upgrade_only(db, apis)
            if not diff(db, apis, location):
                print(f"{location}: the models match the migrations, nothing to write")
                return None
            folders = locations(apis)
            folder = folders.get(location)
            if folder is None:  # an API's first revision: its folder, a branch of its own
                spec = next(s for s in apis if s.name == location)
                module = sys.modules[spec.tenant_model.__module__]
                folder = Path(str(module.__file__)).resolve().parent / "migrations" / "versions"
                folder.mkdir(parents=True)
            with db.engine.connect() as conn:
                cfg = config(conn, apis, location=location)
                script = ScriptDirectory.from_config(cfg)
                mine = [r for r in script.walk_revisions() if Path(r.path).parent == folder]
                rev_id = f"{location}_{len(mine) + 1:04d}"
                if mine:
                    head, label, depends = f"{location}@head", None, None
                else:
                    core_heads = [r.revision for r in script.walk_revisions() if Path(r.path).parent == folders[CORE]
                                  and r.is_head]
                    head, label, depends = "base", [location], (core_heads[0] if core_heads else None)
                result = command.revision(
                    cfg, message=message, autogenerate=True, head=head, branch_label=label,
                    depends_on=depends, version_path=str(folder), rev_id=rev_id,
                )
                conn.commit()
        finally:
            db.dispose()
    scripts = result if isinstance(result, list) else [result]
    path = Path(scripts[0].path) if scripts and scripts[0] is not None else None
    if path is not None:
        for args in (["check", "--fix", "--quiet"], ["format", "--quiet"]):
            subprocess.run([sys.executable, "-m", "ruff", *args, str(path)], check=False, capture_output=True)
        print(f"wrote {path}: review it (autogenerate misses renames and some type changes)")
    return path


def upgrade_only(db: Database, apis: Sequence[ApiSpec]) -> None:
    """The database at heads through the migrations alone (no create_all of missing tables)."""
    from . import locked, stamp_release_010

    with locked(db) as conn:
        cfg = config(conn, apis)
        stamp_release_010(conn, cfg)
        command.upgrade(cfg, "heads")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.migrations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revision", help="autogenerate the next revision of one location")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--location", required=True, help="core or an API's name")
    rev.add_argument("--database-url", help="compare with this database instead of a fresh SQLite file")
    sub.add_parser("heads", help="the newest revision of each location")
    sub.add_parser("history", help="every revision")
    up = sub.add_parser("upgrade", help="bring a database to the newest schema (as a start does)")
    up.add_argument("--database-url", required=True)
    chk = sub.add_parser("check", help="exit 1 when a database at heads does not match the models")
    chk.add_argument("--database-url")
    args = parser.parse_args(argv)
    apis = _apis()
    if args.command == "revision":
        revision(args.message, args.location, args.database_url)
        return 0
    if args.command in ("heads", "history"):
        cfg = config(None, apis)
        (command.heads if args.command == "heads" else command.history)(cfg, verbose=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        db = _database(args.database_url, tmp)
        try:
            upgrade_only(db, apis)
            if args.command == "upgrade":
                return 0
            found = diff(db, apis)
        finally:
            db.dispose()
    for item in found:
        print(item)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
