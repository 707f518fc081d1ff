"""Vendor error tables as data, raised by name and rendered by each API's envelope.

    class JPushError(ErrorTable, api="jpush"):
        AUTH_FAILED = row(1101, 400, "Authen failed")

    raise JPushError.AUTH_FAILED("unknown app key", reason="...")

A row is a :class:`Row` descriptor: reading it from its table (``JPushError.AUTH_FAILED``)
gives the :class:`ErrorCode` built when the table was declared, so type checkers see an
ErrorCode too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, overload


@dataclass(frozen=True)
class ErrorCode:
    api: str
    name: str
    code: int | str
    http_status: int
    message: str

    def __call__(self, detail: str | None = None, **extra: Any) -> VendorError:
        return VendorError(self, detail, extra)


class VendorError(Exception):
    """A vendor business error. ``detail`` refines the table's message; ``extra`` carries
    journal evidence (``reason``, ``expected``) and renderer-specific fields."""

    def __init__(self, spec: ErrorCode, detail: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{spec.api} {spec.code} {spec.name}: {detail or spec.message}")
        self.spec = spec
        self.detail = detail
        self.extra = extra or {}

    @property
    def message(self) -> str:
        return self.detail or self.spec.message


class Row:
    """One row of an :class:`ErrorTable`: (business code, HTTP status, message). The table
    binds it to its API and attribute name when the class is created; from then on reading
    the attribute gives that :class:`ErrorCode`."""

    __slots__ = ("code", "http_status", "message", "spec")

    def __init__(self, code: int | str, http_status: int, message: str) -> None:
        self.code = code
        self.http_status = http_status
        self.message = message
        self.spec: ErrorCode | None = None

    def bind(self, api: str, name: str) -> ErrorCode:
        self.spec = ErrorCode(api, name, self.code, self.http_status, self.message)
        return self.spec

    @overload
    def __get__(self, obj: None, owner: type[ErrorTable]) -> ErrorCode: ...
    @overload
    def __get__(self, obj: ErrorTable, owner: type[ErrorTable] | None = None) -> ErrorCode: ...

    def __get__(self, obj: ErrorTable | None, owner: type[ErrorTable] | None = None) -> ErrorCode:
        if self.spec is None:
            raise TypeError("an error row is only usable as an attribute of an ErrorTable subclass")
        return self.spec


def row(code: int | str, http_status: int, message: str) -> Row:
    """Declare one row of an :class:`ErrorTable`."""
    return Row(code, http_status, message)


class ErrorTable:
    api: ClassVar[str]

    def __init_subclass__(cls, api: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.api = api
        for name, value in list(vars(cls).items()):
            if isinstance(value, Row):
                value.bind(api, name)
            elif isinstance(value, tuple) and not name.startswith("_"):
                raise TypeError(f"{cls.__name__}.{name}: declare error rows with row(code, status, message)")

    @classmethod
    def all(cls) -> list[ErrorCode]:
        """The table's rows, in declaration order."""
        return [getattr(cls, name) for name, value in vars(cls).items() if isinstance(value, Row)]

    @classmethod
    def by_code(cls, code: int | str) -> ErrorCode | None:
        """The first row with that business code (``"429"`` finds 429 too), or None."""
        for spec in cls.all():
            if spec.code == code or str(spec.code) == str(code):
                return spec
        return None
