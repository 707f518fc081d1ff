"""Decimal integers in text a client sent: query parameters, form fields, header values.

``int()`` is the wrong reader for them: it takes what no vendor's digits look like
(``" 7"``, ``"1_000"``, Arabic-Indic digits), ``str.isdigit()`` passes characters
``int()`` then refuses (``"²"``), and past Python's 4300-digit limit ``int()`` raises
instead of giving a number. :func:`decimal` reads ASCII digits only and never builds a
number beyond the caller's bound, so a bad or absurd value is the API's own error.
"""

from __future__ import annotations

import re

_UNSIGNED = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"[+-]?[0-9]+")


def decimal(text: str, *, limit: int, signed: bool = False) -> int | None:
    """``text`` as an int if it is a decimal integer: ASCII digits ``0``-``9`` (leading
    zeros allowed), after one ``+`` or ``-`` when ``signed``, nothing else (no spaces);
    None if it is not.

    A magnitude above ``limit`` comes back as ``limit + 1`` (``-(limit + 1)`` when
    negative), however many digits it has: callers refuse values past their bound, so a
    number with thousands of digits gets the same answer as any other out-of-range one.
    The value may then differ from the text: an error message should quote the text."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    if not (_SIGNED if signed else _UNSIGNED).fullmatch(text):
        return None
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-").lstrip("0")
    # More digits than the limit has means larger than it; only then is int() skipped.
    value = limit + 1 if len(digits) > len(str(limit)) else min(int(digits or "0"), limit + 1)
    return sign * value


def quoted(text: str, most: int = 40) -> str:
    """``repr`` of a client's text for an error message, cut after ``most`` characters."""
    return repr(text) if len(text) <= most else f"{text[:most]!r}... ({len(text)} characters)"


def shown(value: int, text: str | None, limit: int) -> str:
    """A number :func:`decimal` read with ``limit``, for a message: the number itself, or the
    client's text (:func:`quoted`) when the value only stands in for a larger one."""
    return str(value) if abs(value) <= limit or text is None else quoted(text)
