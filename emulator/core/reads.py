"""Hot-path statements: written once with SQLAlchemy Core (tables and columns checked by the
models), compiled once per dialect, then run with the driver's own cursor: no ORM session, no
Core execution. A :class:`Read` runs on its own, outside any transaction of the emulator's (on
a SQLite file on the thread's own connection, ``Database.connection``); a :class:`Sql` runs
inside a ``Database.raw`` transaction (``run.run(sql, name=value)``).

Measured on the 2-core development machine (SQLite file): an ORM ``Session.get`` in a
``Database.session()`` costs ~0.5 ms, of which the query itself is ~20 us; a :class:`Read`
costs ~40 us. Every call of the vendor APIs makes a few of these reads (token, config,
the row it names), so they decide the latency of a small call (issue 17).

A read sees what is committed (SQLite WAL: a reader never waits for a writer; PostgreSQL:
READ COMMITTED), never a transaction this thread still has open: callers use it outside
their write transactions. The in-memory database (one connection, one process, tests) runs
the same statement through a session instead. Rows come back as tuples with the columns'
result conversions applied (a Boolean is a ``bool`` on SQLite too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import ClauseElement, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from .db import Database

_Converter = Callable[[Any], Any] | None
# SQL text, positional parameter names (None: named), the literals' values, result conversions
_Compiled = tuple[str, tuple[str, ...] | None, dict[str, Any], tuple[_Converter, ...]]


class Sql:
    """Any statement (Core: tables and columns checked) compiled once per dialect, for
    ``Database.raw``'s runner (``run.run(sql, name=value)``) and :class:`Read`."""

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self._by_dialect: dict[str, _Compiled] = {}

    def bind(self, dialect: Dialect, params: dict[str, Any]) -> tuple[str, Any]:
        """The SQL text and the driver's arguments for ``params`` (named)."""
        sql, order, fixed, _ = self._compiled(dialect)
        values = {**fixed, **params}  # the statement's literals, then the caller's parameters
        return sql, tuple(values[n] for n in order) if order is not None else values

    def _compiled(self, dialect: Dialect) -> _Compiled:
        cached = self._by_dialect.get(dialect.name)
        if cached is None:
            compiled = cast(SQLCompiler, self.stmt.compile(dialect=dialect))
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            # SQLite hands back storage classes (a Boolean is 0/1): its dialect's conversions
            # apply. psycopg converts by the server's column types itself.
            selected = getattr(self.stmt, "selected_columns", None) or []
            converters = tuple(
                col.type.dialect_impl(dialect).result_processor(dialect, None) if dialect.name == "sqlite" else None
                for col in selected
            )
            cached = (compiled.string, order, compiled.params, converters)
            self._by_dialect[dialect.name] = cached
        return cached


class Read(Sql):
    """One SELECT with named bind parameters (``bindparam("name")``), run on its own."""

    def all(self, db: Database, **params: Any) -> list[tuple[Any, ...]]:
        """Every row, converted."""
        if db.memory:  # one connection shared by every thread, under the database's lock
            with db.session() as session:
                return [tuple(row) for row in session.connection().execute(cast(Executable, self.stmt), params)]
        converters = self._compiled(db.engine.dialect)[3]
        rows = db.fetch(*self.bind(db.engine.dialect, params))
        if any(converters):
            return [tuple(v if c is None else c(v) for c, v in zip(converters, row, strict=True)) for row in rows]
        return rows

    @property
    def keys(self) -> list[str]:
        """The selected columns' names, in order."""
        return [str(col.key) for col in getattr(self.stmt, "selected_columns", [])]

    def first(self, db: Database, **params: Any) -> tuple[Any, ...] | None:
        """The first row, or None."""
        rows = self.all(db, **params)
        return rows[0] if rows else None
