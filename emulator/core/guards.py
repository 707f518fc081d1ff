"""Check-then-write made safe when several processes share one database.

Two tools, both working inside the caller's transaction (``Database.session()``):

- :func:`hold`: a transaction-scoped lock on a name (PostgreSQL ``pg_advisory_xact_lock``
  on a 64-bit hash of the name). Transactions that hold the same name run one after the
  other, so "is the key taken? then insert it" cannot interleave, even where there is no
  row yet to ``SELECT ... FOR UPDATE``. On SQLite it does nothing: a writing transaction
  there already holds the whole database (``BEGIN IMMEDIATE``). Hash collisions only make
  two unrelated transactions wait for each other.
- :func:`drop`: delete one ORM row by its primary key and say whether *this* transaction
  deleted it; the caller releases what the row held (blob references) only then, so two
  processes deleting the same row never release its bytes twice.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import and_, delete, inspect, text
from sqlalchemy.orm import Session


def _key(parts: tuple[object, ...]) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def hold(session: Session, *name: object) -> None:
    """Hold the lock called ``name`` (its parts joined) until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _key(name)})


def hold_all(session: Session, names: list[tuple[object, ...]]) -> None:
    """Several locks, always taken in one order (no two transactions wait on each other)."""
    for name in sorted(set(names), key=_key):
        hold(session, *name)


def drop(session: Session, row: object) -> bool:
    """Delete ``row`` (a persistent ORM object) by primary key; True when this statement
    deleted it, False when another transaction got there first."""
    state = inspect(row)
    mapper = state.mapper
    key = mapper.primary_key_from_instance(row)
    session.flush()
    match = and_(*(col == value for col, value in zip(mapper.primary_key, key, strict=True)))
    result = session.execute(delete(mapper.local_table).where(match))
    if row in session:
        session.expunge(row)
    return int(getattr(result, "rowcount", 0) or 0) == 1
