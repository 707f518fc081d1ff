"""Request bodies as the real gateway reads them: JSON objects, and form-encoded bodies even
when labelled ``application/json`` (the document's PHP demo sends ``http_build_query``).
A body that starts with ``{`` is JSON whatever its label (``curl -d`` labels it a form).
Field names match case-insensitively, as Go's JSON decoding does on the real service."""

from __future__ import annotations

import re
from typing import Any, Literal, overload
from urllib.parse import parse_qsl

from ...core import jsonbody
from ...core.numbers import decimal, quoted
from .errors import Pan123Error

MAX_BODY = 1024 * 1024
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MISSING = object()
_INDEXED = re.compile(r"^(.+?)\[([0-9]*)\]$")


def int64(text: str) -> int | None:
    """A form field's whole number (ASCII digits, a sign, spaces around), or None when it is
    not one. Bounded by 2**63, INT64_MIN's magnitude: a larger one (of any number of digits,
    never handed to ``int()``) comes back as 2**63 + 1 or its negative, outside int64."""
    return decimal(text.strip(), limit=2**63, signed=True)


class Params:
    def __init__(self, data: dict[str, Any], form: bool) -> None:
        self.data = data
        self.form = form
        self._folded = {k.lower(): v for k, v in reversed(list(data.items()))}

    # -- parsing -------------------------------------------------------------------
    @classmethod
    def parse(cls, raw: bytes, content_type: str | None) -> Params:
        if len(raw) > MAX_BODY:
            raise Pan123Error.FAILED(f"请求体超过{MAX_BODY}字节", reason="body too large")
        text = raw.decode("utf-8", errors="replace").strip()
        is_form = (content_type or "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded"
        if not text:
            return cls({}, form=is_form)
        if text[0] in "{[":  # JSON whatever the label (curl -d sends a form Content-Type)
            try:
                data = jsonbody.loads(text)
            except ValueError:
                if is_form:
                    return cls(_form(text), form=True)
                raise Pan123Error.FAILED("请求体不是合法的JSON", reason="body is not valid JSON") from None
            if not isinstance(data, dict):
                raise Pan123Error.FAILED("请求体必须是JSON对象", reason="JSON body is not an object")
            return cls(data, form=False)
        return cls(_form(text), form=True)

    @classmethod
    def of_query(cls, pairs: list[tuple[str, str]]) -> Params:
        """A query string read like a form body: a repeated key is a list."""
        return cls(_collect(pairs), form=True)

    # -- fields --------------------------------------------------------------------
    def raw(self, name: str) -> Any:
        if name in self.data:
            return self.data[name]
        return self._folded.get(name.lower(), _MISSING)

    def has(self, name: str) -> bool:
        value = self.raw(name)
        return value is not _MISSING and value is not None

    def string(self, name: str, *, required: bool = True, default: str = "") -> str:
        value = self.raw(name)
        if value is _MISSING or value is None:
            if required:
                raise Pan123Error.FAILED(f"{name}不能为空", reason=f"{name} missing")
            return default
        if isinstance(value, str):
            return value
        raise Pan123Error.FAILED(f"{name}必须是字符串", reason=f"{name} is {type(value).__name__}")

    def ident(self, name: str, *, required: bool = True, default: str = "") -> str:
        """An id that clients send as a string or a number (the cloud disk's ids are numbers)."""
        value = self.raw(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.string(name, required=required, default=default)

    @overload
    def integer(self, name: str, *, required: Literal[True] = True, default: int | None = None) -> int: ...

    @overload
    def integer(self, name: str, *, required: bool, default: int) -> int: ...

    @overload
    def integer(self, name: str, *, required: bool, default: None = None) -> int | None: ...

    def integer(self, name: str, *, required: bool = True, default: int | None = None) -> int | None:
        """A whole number (a JSON number with no fraction, or digits in a form); absent:
        code 1 when ``required``, else ``default``."""
        value = self.raw(name)
        if value is _MISSING or value is None or (self.form and value == ""):
            if required:
                raise Pan123Error.FAILED(f"{name}不能为空", reason=f"{name} missing")
            return default
        if isinstance(value, bool):
            raise Pan123Error.FAILED(f"{name}必须是整数", reason=f"{name} is a boolean")
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            number: int | None = int(value)
        else:
            number = int64(value) if self.form and isinstance(value, str) else None
        if number is None:
            raise Pan123Error.FAILED(f"{name}必须是整数", reason=f"{name} is {_short(value)}")
        if not INT64_MIN <= number <= INT64_MAX:  # the real service decodes numbers as Go int64
            raise Pan123Error.FAILED(f"{name}超出范围", reason=f"{name} {_short(value)} does not fit in 64 bits")
        return number

    def boolean(self, name: str, *, default: bool | None = None) -> bool | None:
        """``true``/``false`` as JSON, or as text in any case (``False`` from requests,
        ``false`` from httpx), or ``1``/``0``; absent or empty: ``default``."""
        value = self.raw(name)
        if value is _MISSING or value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise Pan123Error.FAILED(f"{name}必须是布尔值", reason=f"{name} is {value!r}")

    def lenient(self) -> Params:
        """The same fields with numbers accepted as decimal strings (the cloud disk's clients
        send ``"parentID": "0"`` in JSON and every multipart field as text)."""
        return Params(self.data, form=True)

    def merged(self, other: Params) -> Params:
        """Fields of ``self`` (a query string) over ``other`` (a body): GET parameters may come
        in a GET body (the pan123 SDK), numbers as strings."""
        return Params({**other.data, **self.data}, form=True)

    def strings(self, name: str, *, allow_single: bool = False) -> list[str]:
        value = self.raw(name)
        if value is _MISSING or value is None:
            raise Pan123Error.FAILED(f"{name}不能为空", reason=f"{name} missing")
        if isinstance(value, str) and (allow_single or self.form):
            return [value]
        if isinstance(value, list):
            out = []
            for item in value:
                if isinstance(item, int) and not isinstance(item, bool):
                    item = str(item)
                if not isinstance(item, str):
                    raise Pan123Error.FAILED(f"{name}的元素必须是字符串", reason=f"{name} holds {item!r}")
                out.append(item)
            return out
        raise Pan123Error.FAILED(f"{name}必须是数组", reason=f"{name} is {type(value).__name__}")


def _short(value: Any) -> str:
    """A value for a reason, cut short (a JSON number may have thousands of digits)."""
    if isinstance(value, int) and value.bit_length() > 256:
        return f"a {value.bit_length()}-bit number"
    return quoted(value if isinstance(value, str) else repr(value))


def _form(text: str) -> dict[str, Any]:
    return _collect(parse_qsl(text, keep_blank_values=True))


def _collect(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a=1&b[0]=x&b[1]=y`` / ``b[]=x`` (PHP's array syntax) and ``b=x&b=y`` (a list as
    ``requests`` and ``httpx`` encode it) -> ``{"a": "1", "b": ["x", "y"]}``. A key given
    once stays a string; a repeated key is a list in wire order, so a field that cannot be a
    list is refused as a whole (code 1), never read as one of its values."""
    out: dict[str, Any] = {}
    indexed: dict[str, list[tuple[tuple[int, str], int, str]]] = {}
    for n, (key, value) in enumerate(pairs):
        m = _INDEXED.match(key)
        if m:
            # In numeric order without int() (an index may have any number of digits).
            digits = (m.group(2) or str(n)).lstrip("0")
            indexed.setdefault(m.group(1), []).append(((len(digits), digits), n, value))
        elif key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]
    for key, items in indexed.items():
        out.setdefault(key, [v for _, _, v in sorted(items)])
    return out
