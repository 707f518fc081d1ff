"""Vendor error tables as data, raised by name and rendered by each API's envelope.

    class JPushError(ErrorTable, api="jpush"):
        AUTH_FAILED = (1101, 400, "Authen failed")

    raise JPushError.AUTH_FAILED("unknown app key", reason="...")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


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


class ErrorTable:
    api: ClassVar[str]

    def __init_subclass__(cls, api: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.api = api
        for name, value in list(vars(cls).items()):
            if isinstance(value, tuple) and len(value) == 3 and not name.startswith("_"):
                code, status, message = value
                setattr(cls, name, ErrorCode(api, name, code, status, message))

    @classmethod
    def all(cls) -> list[ErrorCode]:
        return [v for v in vars(cls).values() if isinstance(v, ErrorCode)]

    @classmethod
    def by_code(cls, code: int | str) -> ErrorCode | None:
        """The first row with that business code (``"429"`` finds 429 too), or None."""
        for spec in cls.all():
            if spec.code == code or str(spec.code) == str(code):
                return spec
        return None
