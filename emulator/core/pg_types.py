"""PostgreSQL renderings that keep the two database backends answering alike.

SQLite never enforces a ``String(n)`` length, so every value an API accepts fits, and the
vendor limits are each API's own checks (answered with the vendor's error). PostgreSQL
would enforce the length and answer a longer value (a 300-character Content-Type, a JPush file
name of 2000 characters) with an error, a 500 instead of what SQLite stores. On PostgreSQL a
``String(n)`` is therefore created as an unbounded ``VARCHAR``: the declared length stays the
documentation of the expected size, as on SQLite. Imported by core/db.py (before any table is
created).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import TypeCompiler


@compiles(String, "postgresql")
def _unbounded_string(type_: String, compiler: TypeCompiler, **kw: Any) -> str:
    """``VARCHAR`` without its length (only plain ``String``: Text, Enum ... keep their own)."""
    return "VARCHAR"
