"""Request bodies on the wire: the body timeout, and reading what a client still sends.

:class:`BodyMiddleware` (pure ASGI, between the journal and the fault middleware) wraps
``receive`` for every request that has a body:

- ``--body-timeout`` / ``EMULATOR_BODY_TIMEOUT``: when no byte of the body arrives for that
  many seconds (a client that sent its headers and stalled, or a ``Content-Length`` larger
  than what it sends), the request is treated exactly as an upload whose client went away:
  the route sees the disconnect, stores nothing and answers nothing, the connection is
  closed, and the journal's ``reason`` says the body timed out.
- :func:`drain`: read (and drop) what the client is still sending before an early answer,
  so that a client still sending receives it.

The wrapper keeps uvicorn's request cycle reachable (``transport``, ``disconnected``) for
the fault middleware inside it, which closes connections the same way.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import journal

_current: ContextVar[_Body | None] = ContextVar("emulator_request_body", default=None)


async def drain() -> None:
    """Read what the client is still sending of the current request's body (nothing when
    the body is done, the client gone, or no :class:`BodyMiddleware` is in front)."""
    body = _current.get()
    if body is not None:
        await body.drain()


class _Body:
    def __init__(self, receive: Receive, timeout: float) -> None:
        self._receive = receive
        self.timeout = timeout
        self.done = False
        self.timed_out = False
        cycle = getattr(receive, "__self__", None)
        self._cycle = cycle if hasattr(getattr(cycle, "transport", None), "abort") else None

    # uvicorn's cycle, seen through this wrapper by the fault middleware (core/faults.py)
    @property
    def transport(self) -> Any:
        return self._cycle.transport if self._cycle is not None else None

    @property
    def disconnected(self) -> bool:
        return getattr(self._cycle, "disconnected", True)

    async def receive(self) -> Message:
        if self.done or self.timed_out:
            if self.timed_out:
                return {"type": "http.disconnect"}
            return await self._receive()
        try:
            if self.timeout > 0:
                async with asyncio.timeout(self.timeout):  # no task per message, unlike wait_for
                    message = await self._receive()
            else:
                message = await self._receive()
        except TimeoutError:
            self.timed_out = True
            if self._cycle is not None:
                self._cycle.transport.abort()  # the stalled client's connection goes
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return message

    async def drain(self) -> None:
        while not self.done and not self.timed_out:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return


class BodyMiddleware:
    """See the module docstring. The timeout is the app's current emulator's setting."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timeout = float(scope["app"].state.emulator.settings.body_timeout)
        body = _Body(receive, timeout)
        token = _current.set(body)
        try:
            await self.app(scope, body.receive, send)
        finally:
            _current.reset(token)
            if body.timed_out:
                journal.info().reason = (
                    f"no byte of the request body for {timeout:g} s (--body-timeout): "
                    "the upload was abandoned and nothing was stored"
                )
                if body._cycle is not None:
                    for _ in range(100):  # uvicorn marks the cycle disconnected in connection_lost
                        if body.disconnected:
                            break
                        await asyncio.sleep(0)
