"""Request bodies as JSON: every way a body can fail to be JSON is one error."""

from __future__ import annotations

import json
from typing import Any


def loads(raw: bytes | str, **kwargs: Any) -> Any:
    """``json.loads``, with bytes that are not UTF-8 and nesting beyond the parser's depth
    raised as :class:`json.JSONDecodeError` too (a ``ValueError``), so each caller answers
    its own bad-JSON error instead of an internal one."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray, memoryview)) else raw
        if isinstance(raw, memoryview):
            text = bytes(raw).decode("utf-8")
        return json.loads(text, **kwargs)
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"not UTF-8 ({exc.reason})", "", 0) from None
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
