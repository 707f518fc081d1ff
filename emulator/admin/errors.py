"""How the admin API refuses a call: one exception, :class:`AdminError`, answered by one
handler as ``{"error": message}`` with its status (installed on the app with the other
admin handlers, admin/guard.py). Admin routes raise it; the guard middleware, which runs
before any route, answers its refusals with :func:`error_response`, the same body."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse


class AdminError(Exception):
    """An admin call refused: answered ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The admin API's refusal: ``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def answer(request: Request, exc: Exception) -> Response:
    """The exception handler for :class:`AdminError`."""
    assert isinstance(exc, AdminError)
    return error_response(exc.status, exc.message)
