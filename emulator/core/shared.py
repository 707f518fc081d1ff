"""State that every process of one emulator must agree on, as rows changed atomically.

Several replicas (or ``--workers``) on one database are one emulator: anything they share
(the clock, tunables, counters behind ids and sequences) is a row here, read and changed in
a single statement (an upsert with ``RETURNING``), never behind an in-process lock. The two
tables are generic on purpose: a named value (JSON) and a named counter. Both survive
``reset``; an owner that wants its rows gone on reset deletes them itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, String, Table, Text, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.dml import Insert

from .db import Base, table_of


class SharedValue(Base):
    """A named JSON value (``clock``, an API's tunables, ...)."""

    __tablename__ = "emulator_values"
    __keep_on_reset__ = True
    __tenant_api__ = None

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SharedCounter(Base):
    """A named counter, incremented atomically (ids, sequences, offsets)."""

    __tablename__ = "emulator_counters"
    __keep_on_reset__ = True
    __tenant_api__ = None

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


def upsert(
    session: Session, table: Table, values: Mapping[str, Any], keys: list[str], update: Mapping[str, Any]
) -> Insert:
    """``INSERT values ... ON CONFLICT (keys) DO UPDATE SET update`` for the session's
    dialect (SQLite and PostgreSQL spell it alike; SQLAlchemy has one construct per
    dialect). ``update``'s values may be SQL expressions over ``stmt.excluded`` or the
    table's columns. Answers the statement (add ``.returning(...)`` before executing)."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(**values)
    return stmt.on_conflict_do_update(index_elements=keys, set_=dict(update))  # type: ignore[no-any-return]


def next_value(session: Session, name: str, by: int = 1, start: int = 0) -> int:
    """Add ``by`` to counter ``name`` (created at ``start``) and answer the new value, in
    one statement: two processes never get the same value."""
    table = table_of(SharedCounter)
    stmt = upsert(
        session, table, {"name": name, "value": start + by}, ["name"], {"value": table.c.value + by}
    ).returning(table.c.value)
    return int(session.execute(stmt).scalar_one())


def counter(session: Session, name: str) -> int | None:
    """Counter ``name``'s value, or None when it was never incremented (or was deleted)."""
    value = session.execute(select(SharedCounter.value).where(SharedCounter.name == name)).scalar_one_or_none()
    return None if value is None else int(value)


def set_counter(session: Session, name: str, value: int) -> None:
    table = table_of(SharedCounter)
    session.execute(upsert(session, table, {"name": name, "value": value}, ["name"], {"value": value}))


def read_value(session: Session, name: str) -> Any | None:
    """The JSON value stored under ``name``, or None."""
    raw = session.execute(select(SharedValue.value).where(SharedValue.name == name)).scalar_one_or_none()
    return None if raw is None else json.loads(raw)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def write_value(session: Session, name: str, value: Any) -> None:
    table = table_of(SharedValue)
    raw = _dumps(value)
    session.execute(upsert(session, table, {"name": name, "value": raw}, ["name"], {"value": raw}))


def first_value(session: Session, name: str, proposal: Any) -> Any:
    """The value stored under ``name``; when there is none, ``proposal`` is stored and
    answered. One statement: of two processes proposing at once, the first stored wins
    and both answer it."""
    table = table_of(SharedValue)
    raw = session.execute(select(table.c.value).where(table.c.name == name)).scalar_one_or_none()
    if raw is None:
        stmt = upsert(session, table, {"name": name, "value": _dumps(proposal)}, ["name"], {"value": table.c.value})
        raw = session.execute(stmt.returning(table.c.value)).scalar_one()
    return json.loads(raw)


def forget(session: Session, *names: str) -> None:
    """Delete values and counters by name (a counter deleted starts again at ``start``)."""
    if names:
        session.execute(delete(SharedValue).where(SharedValue.name.in_(names)))
        session.execute(delete(SharedCounter).where(SharedCounter.name.in_(names)))
