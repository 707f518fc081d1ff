"""The request journal as a bounded table, for a database several processes share: every
replica writes its requests here and reads everyone's (core/journal.py decides which store
an emulator uses and renders the entries). Entry ids come from the table (never reused:
``clear`` keeps the sequence); the rows beyond the newest ``size`` are never read and go
every ``TRIM_EVERY``-th insert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, Table, Text, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, Database, table_of
from .state import deleted, execute

# One body's state as stored: (size, content type, stored [{size, md5}], the first bytes kept)
BodyState = tuple[int, str, list[dict[str, Any]], bytes]


class JournalRow(Base):
    __tablename__ = "emulator_journal"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy reads it
    __keep_on_reset__ = True  # Journal.clear deletes them (all, or a scope's)
    __snapshot__ = False
    __tenant_api__ = None

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tenant: Mapped[str | None] = mapped_column(String(255), nullable=True)
    entry: Mapped[str] = mapped_column(Text)  # the entry's fields (JSON), without id and bodies
    bodies: Mapped[str | None] = mapped_column(Text, nullable=True)  # [[size, type, stored] x2] (JSON)
    request_head: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    response_head: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


# Written on every request: driver SQL, one statement each (core/state.py's execute).
INSERT = (
    "INSERT INTO emulator_journal (api, tenant, entry, bodies, request_head, response_head) "
    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)
TRIM = "DELETE FROM emulator_journal WHERE id <= ?"
TRIM_EVERY = 16  # entries beyond the newest ``size`` go every 16th insert; reads skip them meanwhile


def _table() -> Table:
    return table_of(JournalRow)


class JournalTable:
    def __init__(self, db: Database, size: int) -> None:
        self.db = db
        self.size = size

    def record(self, entry: Mapping[str, Any], bodies: tuple[BodyState, BodyState] | None) -> int:
        """Insert ``entry``, drop what falls out of the newest ``size``; answers its id."""
        head: tuple[bytes | None, bytes | None] = (None, None)
        stored = None
        if bodies is not None:
            stored = json.dumps([list(b[:3]) for b in bodies], separators=(",", ":"), default=str)
            head = (bodies[0][3] or None, bodies[1][3] or None)
        row = execute(self.db, INSERT, (
            entry.get("api"), entry.get("tenant"), json.dumps(entry, separators=(",", ":"), default=str),
            stored, *head,
        ))
        assert row is not None
        new_id = int(row[0])
        if new_id > self.size and new_id % TRIM_EVERY == 0:
            execute(self.db, TRIM, (new_id - self.size,))
        return new_id

    def rows(self, since: int | None = None) -> list[tuple[int, dict[str, Any], tuple[BodyState, BodyState] | None]]:
        """Every entry (above id ``since``), oldest first: (id, fields, bodies)."""
        t = _table()
        query = select(t.c.id, t.c.entry, t.c.bodies, t.c.request_head, t.c.response_head).order_by(t.c.id)
        newest = select(func.max(t.c.id)).scalar_subquery()
        query = query.where(t.c.id > newest - self.size)
        if since is not None:
            query = query.where(t.c.id > since)
        out: list[tuple[int, dict[str, Any], tuple[BodyState, BodyState] | None]] = []
        with self.db.engine.connect() as conn:
            for row_id, raw, raw_bodies, req_head, resp_head in conn.execute(query):
                bodies: tuple[BodyState, BodyState] | None = None
                if raw_bodies is not None:
                    (rs, rt, rstored), (ps, pt, pstored) = json.loads(raw_bodies)
                    bodies = ((rs, rt, rstored, req_head or b""), (ps, pt, pstored, resp_head or b""))
                out.append((int(row_id), json.loads(raw), bodies))
        return out

    def clear(self, scope: Mapping[str, Iterable[str]] | None = None) -> int:
        t = _table()
        removed = 0
        with self.db.session() as s:
            if scope is None:
                return deleted(s.execute(delete(t)))
            for api, tenants in scope.items():
                names = list(tenants)
                if names:
                    removed += deleted(s.execute(delete(t).where(t.c.api == api, t.c.tenant.in_(names))))
        return removed

    def count(self) -> int:
        t = _table()
        newest = select(func.max(t.c.id)).scalar_subquery()
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(t.c.id > newest - self.size)).scalar_one())
