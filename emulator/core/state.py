"""How core state shared by several processes is read and written cheaply.

- :func:`peek_value` / :func:`peek_counter` / :func:`peek_live`: one row read with the
  driver's own cursor (``Database.connection``: no ORM session, no Core execution): what
  ``Clock.now()`` and the cache checks of tenants and fault rules do; within a vendor call
  (:func:`request_view`) answered from one read made when the call began.
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
from contextvars import ContextVar
from typing import Any

from sqlalchemy import BigInteger, CursorResult, String, Table, Text, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from .db import Base, Database, driver_sql, table_of
from .shared import upsert


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
    return table_of(LiveState)


# The reads every call may make, as driver SQL (``Database.connection``): SQLAlchemy's Core
# execution costs ~4x the query itself here (measured: ~90 us against ~18 us on a file).
_READS = {
    "value": "SELECT value FROM emulator_values WHERE name = ?",
    "counter": "SELECT value FROM emulator_counters WHERE name = ?",
    "live": "SELECT value, version FROM emulator_live WHERE name = ?",
}


# What a vendor call's view holds (see :func:`request_view`): every live row, and these values.
VIEW_VALUES = ("clock",)
_VIEW_SQL = (
    "SELECT 'live', name, value, version FROM emulator_live"
    " UNION ALL SELECT 'value', name, value, 0 FROM emulator_values WHERE name IN ({})"
)


class _View:
    def __init__(self, db: Database, rows: dict[tuple[str, str], tuple[Any, ...]]) -> None:
        self.db = db
        self.rows = rows

    def lookup(self, db: Database, kind: str, name: str) -> tuple[bool, Any]:
        """(True, row or None) when the view answers for ``name``, else (False, None)."""
        if db is not self.db or (kind == "value" and name not in VIEW_VALUES) or kind == "counter":
            return False, None
        return True, self.rows.get((kind, name))


_view: ContextVar[_View | None] = ContextVar("emulator_state_view", default=None)


@contextmanager
def request_view(db: Database) -> Iterator[None]:
    """Within: the shared switches and versions (every ``emulator_live`` row, the clock) are
    read once, in one statement, instead of once per look (a vendor call looks at the
    clock, the fault rules' and the tenants' versions several times: each look was a query).
    The call sees them as they were when it began, as a transaction would; nothing a vendor
    call does changes them (the admin API does, and runs without a view)."""
    if db.memory:  # the state is in this process: nothing to read
        yield
        return
    sql = driver_sql(db.engine.dialect, _VIEW_SQL.format(", ".join("?" for _ in VIEW_VALUES)))
    rows = {(str(kind), str(name)): (value, version) for kind, name, value, version in db.fetch(sql, VIEW_VALUES)}
    token = _view.set(_View(db, rows))
    try:
        yield
    finally:
        _view.reset(token)


def _read(db: Database, kind: str, name: str) -> Any:
    """The row ``name`` of a shared table (``kind``), or None."""
    view = _view.get()
    if view is not None:
        answered, row = view.lookup(db, kind, name)
        if answered:
            return None if row is None else (row if kind == "live" else row[:1])
    rows = db.fetch(driver_sql(db.engine.dialect, _READS[kind]), (name,))
    return rows[0] if rows else None


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


def _open_session(db: Database) -> Session | None:
    """The session whose transaction this thread has open on ``db``, if any."""
    session = _open.sessions.get(id(db.engine.pool))
    return session if session is not None and session.in_transaction() else None


@contextmanager
def joined(db: Database) -> Iterator[Session]:
    """The transaction this thread has open on ``db`` (it commits with it), else a new one."""
    session = _open_session(db)
    if session is not None:
        yield session
        return
    with db.session() as fresh:
        yield fresh


def execute(db: Database, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """One statement of driver SQL (``?`` placeholders; SQLite's and PostgreSQL's
    ``INSERT ... ON CONFLICT ... RETURNING`` are alike) committed on its own, answering
    its first row: the per-request writes (a limit window, a journal entry) without the
    ORM's cost (measured ~10x the statement's). Inside a transaction this thread has open
    on ``db`` it runs in that one (see :func:`joined`)."""
    sql = driver_sql(db.engine.dialect, sql)
    session = _open_session(db)
    if session is not None:
        result = session.connection().exec_driver_sql(sql, params)
        return tuple(result.one()) if result.returns_rows else None
    with db.connection() as raw:
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(sql, params)
                row = cursor.fetchone() if cursor.description else None
            finally:
                cursor.close()
            raw.commit()
            return None if row is None else tuple(row)
        except BaseException:
            raw.rollback()
            raise


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
    row = _read(db, "live", name)
    if row is None:
        return None, 0
    return (None if row[0] is None else json.loads(row[0])), int(row[1] or 0)


def peek_value(db: Database, name: str) -> Any | None:
    """The JSON value ``name`` (core/shared.py) as another process may just have written it."""
    row = _read(db, "value", name)
    return None if row is None else json.loads(row[0])


def peek_counter(db: Database, name: str) -> int:
    """Counter ``name``'s value now (0 when it was never incremented)."""
    row = _read(db, "counter", name)
    return 0 if row is None else int(row[0])
