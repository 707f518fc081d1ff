"""How core state shared by several processes is read and written cheaply.

- :func:`peek_value` / :func:`peek_counter`: one row of core/shared.py read with a Core
  ``SELECT`` on a pooled connection (no ORM session): what ``Clock.now()`` and the cache
  checks of tenants and fault rules do on every call.
- :func:`joined`: a write transaction for shared state (an id's counter position, a
  rate-limit window). Inside a transaction this thread already has open on the same
  database it joins that one: a second connection writing while the first holds SQLite's
  write lock would wait for itself until the busy timeout.

A database only one process can open (the in-memory one) needs none of this: its owners
keep their state in memory, as before, and pay nothing per call.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import BigInteger, CursorResult, Engine, String, Table, Text, bindparam, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from .db import Base, Database
from .shared import SharedCounter, SharedValue, upsert


class LiveState(Base):
    """Shared state that belongs to the running emulator, not to its saved state: cache
    versions (bumped on every change of the tenants or fault rules, so each process knows
    when its cache is stale) and switches (limits on or off). Snapshots neither save nor
    replace these rows (a restored older version would make a stale cache look fresh)."""

    __tablename__ = "emulator_live"
    __keep_on_reset__ = True
    __snapshot__ = False
    __tenant_api__ = None

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


def _live() -> Table:
    table = LiveState.__table__
    assert isinstance(table, Table)
    return table


_VALUE = select(SharedValue.value).where(SharedValue.name == bindparam("name"))
_COUNTER = select(SharedCounter.value).where(SharedCounter.name == bindparam("name"))
_LIVE = select(LiveState.value, LiveState.version).where(LiveState.name == bindparam("name"))


class _Open(threading.local):
    """The root transactions open in this thread, by connection pool (a session's engine
    may be a copy of the database's with execution options; they share the pool)."""

    def __init__(self) -> None:
        self.sessions: dict[int, Session] = {}


_open = _Open()


@event.listens_for(Session, "after_begin")
def _began(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    if transaction.parent is None:
        _open.sessions.setdefault(id(connection.engine.pool), session)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and _open.sessions:
        for key, open_session in list(_open.sessions.items()):
            if open_session is session:
                del _open.sessions[key]


@contextmanager
def joined(db: Database) -> Iterator[Session]:
    """The transaction this thread has open on ``db`` (it commits with it), else a new one."""
    session = _open.sessions.get(id(db.engine.pool))
    if session is not None and session.in_transaction():
        yield session
        return
    with db.session() as fresh:
        yield fresh


def deleted(result: Any) -> int:
    """How many rows a DELETE's result removed."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)


def bump(session: Session, name: str) -> int:
    """Add one to the version of ``name`` (a cache's; core/state.py's live table) and answer it."""
    t = _live()
    stmt = upsert(session, t, {"name": name, "version": 1}, ["name"], {"version": t.c.version + 1})
    return int(session.execute(stmt.returning(t.c.version)).scalar_one())


def set_live(session: Session, name: str, value: Any) -> None:
    """Write the live value ``name`` (JSON)."""
    raw = json.dumps(value)
    session.execute(upsert(session, _live(), {"name": name, "value": raw, "version": 0}, ["name"], {"value": raw}))


def peek_live(db: Database, name: str) -> tuple[Any | None, int]:
    """The live value ``name`` (None if unset) and its version (0 if never bumped)."""
    with db.engine.connect() as conn:
        row = conn.execute(_LIVE, {"name": name}).first()
    if row is None:
        return None, 0
    return (None if row[0] is None else json.loads(row[0])), int(row[1] or 0)


def _peek(engine: Engine, statement: Any, name: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(statement, {"name": name}).scalar_one_or_none()


def peek_value(db: Database, name: str) -> Any | None:
    """The JSON value ``name`` (core/shared.py) as another process may just have written it."""
    raw = _peek(db.engine, _VALUE, name)
    return None if raw is None else json.loads(raw)


def peek_counter(db: Database, name: str) -> int:
    """Counter ``name``'s value now (0 when it was never incremented)."""
    value = _peek(db.engine, _COUNTER, name)
    return 0 if value is None else int(value)
