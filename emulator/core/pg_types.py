"""PostgreSQL renderings that keep the two database backends answering alike.

- Lengths: SQLite never enforces a ``String(n)`` length, so every value an API accepts fits,
  and the vendor limits are each API's own checks (answered with the vendor's error).
  PostgreSQL would enforce the length and answer a longer value (a 300-character
  Content-Type, a JPush file name of 2000 characters) with an error: a 500 where SQLite
  stores it. On PostgreSQL a ``String(n)`` column is therefore an unbounded ``VARCHAR``; the
  declared length stays the documentation of the expected size, as on SQLite.
- Order: SQLite compares text byte-wise (its BINARY collation); a PostgreSQL database
  usually sorts by a language's rules (en_US: ``a`` < ``B`` < ``b``, punctuation weighed
  last), which would change listings and their markers (Qiniu lists keys in byte order).
  A ``String`` column is created ``COLLATE "C"`` (byte order of UTF-8 = code point order)
  whatever the database's default.

Only plain ``String`` columns (``Text``, ``Enum`` ... keep their own rendering), and only in
a column's definition: a cast or a bound parameter's type stays a bare ``VARCHAR``. Imported
by core/db.py, before any table is created.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import TypeCompiler


@compiles(String, "postgresql")
def _unbounded_byte_ordered_string(type_: String, compiler: TypeCompiler, **kw: Any) -> str:
    if isinstance(kw.get("type_expression"), Column):
        return 'VARCHAR COLLATE "C"'
    return "VARCHAR"
