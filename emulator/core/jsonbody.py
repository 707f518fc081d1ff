"""Request bodies as JSON: every way a body can fail to be JSON is one error."""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

# Python refuses to turn longer digit strings into ints (sys.get_int_max_str_digits).
MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_NUL_ESCAPE = re.compile(r"\\u0000")


class _Refused(ValueError):
    pass


def _int(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        raise _Refused(f"a number with more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value")


def _holds_nul(value: Any) -> bool:
    """A NUL character in any string of ``value`` (keys too)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def loads(raw: bytes | bytearray | memoryview | str, **kwargs: Any) -> Any:
    """``json.loads``, with bytes that are not UTF-8, nesting beyond the parser's depth,
    ``NaN``/``Infinity``, numbers too large for Python (or a float) and lone UTF-16
    surrogates (``"\\ud800"``, which no UTF-8 text can hold) raised as
    :class:`json.JSONDecodeError` too (a ``ValueError``), so each caller answers its own
    bad-JSON error instead of an internal one."""
    kwargs.setdefault("parse_int", _int)
    kwargs.setdefault("parse_float", _float)
    kwargs.setdefault("parse_constant", _constant)
    try:
        if isinstance(raw, memoryview):
            raw = bytes(raw)
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        value = json.loads(text, **kwargs)
        if _SURROGATE_ESCAPE.search(text.encode("utf-8", "surrogatepass")):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        if _NUL_ESCAPE.search(text) and _holds_nul(value):
            raise json.JSONDecodeError("a NUL character (\\u0000) in a string", "", 0)
        return value
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"not UTF-8 ({exc.reason})", "", 0) from None
    except UnicodeEncodeError:
        raise json.JSONDecodeError("a lone UTF-16 surrogate (\\ud800-\\udfff) in a string", "", 0) from None
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # _Refused, or int() past Python's digit limit
        raise json.JSONDecodeError(str(exc) if isinstance(exc, _Refused) else "a number too large", "", 0) from None
