"""Streaming multipart/form-data reader: parts in wire order, each part's bytes as an
async iterator, nothing spooled. Built on python-multipart's push parser.

Order matters to several vendors (a ``key`` field must precede ``file``), so parts are
handed out one at a time, as they arrive.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Literal

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks


class MultipartError(Exception):
    """The body is not well-formed multipart/form-data."""


class Part:
    def __init__(self, reader: MultipartReader, headers: dict[str, str]) -> None:
        self._reader = reader
        self.headers = headers
        _, options = parse_options_header(headers.get("content-disposition", ""))
        self.name: str | None = _decode(options.get(b"name"))
        self.filename: str | None = _decode(options.get(b"filename"))
        self.content_type: str | None = headers.get("content-type")
        self.done = False

    @property
    def is_file(self) -> bool:
        return self.filename is not None

    async def stream(self) -> AsyncIterator[bytes]:
        while not self.done:
            event = await self._reader._next_event()
            if event[0] == "data":
                yield event[1]
            elif event[0] == "end":
                self.done = True
            else:
                raise MultipartError("part ended unexpectedly")

    async def read(self, limit: int) -> bytes:
        """The whole part, refusing more than ``limit`` bytes."""
        out = bytearray()
        async for data in self.stream():
            out += data
            if len(out) > limit:
                raise MultipartError(f"field {self.name!r} is longer than {limit} bytes")
        return bytes(out)

    async def text(self, limit: int = 65536) -> str:
        try:
            return (await self.read(limit)).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MultipartError(f"field {self.name!r} is not UTF-8") from exc

    async def skip(self) -> None:
        async for _ in self.stream():
            pass


def _decode(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def boundary_of(content_type: str | None) -> bytes | None:
    if not content_type:
        return None
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return options.get(b"boundary") or None


# What the parser's callbacks report, in wire order: a part's headers, a piece of its data,
# its end, the body's closing boundary.
_Event = (
    tuple[Literal["part"], dict[str, str]]
    | tuple[Literal["data"], bytes]
    | tuple[Literal["end"], None]
    | tuple[Literal["done"], None]
)


class MultipartReader:
    def __init__(self, body: AsyncIterator[bytes], content_type: str | None) -> None:
        boundary = boundary_of(content_type)
        if boundary is None:
            raise MultipartError("Content-Type is not multipart/form-data with a boundary")
        self._body = body.__aiter__()
        self._events: deque[_Event] = deque()
        self._finished = False
        self._exhausted = False
        self._current: Part | None = None
        header_field = bytearray()
        header_value = bytearray()
        headers: dict[str, str] = {}

        def on_part_begin() -> None:
            headers.clear()

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header_field.extend(data[start:end])

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header_value.extend(data[start:end])

        def on_header_end() -> None:
            headers[header_field.decode("latin-1").lower()] = header_value.decode("latin-1")
            header_field.clear()
            header_value.clear()

        def on_headers_finished() -> None:
            self._events.append(("part", dict(headers)))

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if end > start:
                self._events.append(("data", bytes(data[start:end])))

        def on_part_end() -> None:
            self._events.append(("end", None))

        def on_end() -> None:
            self._events.append(("done", None))

        callbacks: MultipartCallbacks = {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_end": on_end,
        }
        try:
            self._parser = MultipartParser(boundary, callbacks, max_header_count=32)
        except FormParserError as exc:  # e.g. a boundary longer than the parser takes (256)
            raise MultipartError(f"unusable boundary: {exc}") from None

    async def _next_event(self) -> _Event:
        while not self._events:
            if self._exhausted:
                raise MultipartError("multipart body ended before its closing boundary")
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._exhausted = True
                self._parser.finalize()
                continue
            if chunk:
                try:
                    self._parser.write(chunk)
                except FormParserError as exc:
                    raise MultipartError(f"malformed multipart body: {exc}") from exc
        return self._events.popleft()

    async def parts(self) -> AsyncIterator[Part]:
        """Yield parts in wire order; a part left unread is skipped before the next."""
        while not self._finished:
            if self._current is not None and not self._current.done:
                await self._current.skip()
            event = await self._next_event()
            if event[0] == "part":
                self._current = Part(self, event[1])
                yield self._current
            elif event[0] == "done":
                self._finished = True

    async def drain(self) -> None:
        """Read (and drop) whatever of the body is left, so the answer reaches a client
        that is still sending."""
        self._finished = True
        self._events.clear()
        if self._exhausted:
            return
        async for _ in self._body:
            pass
        self._exhausted = True


async def read_limited(body: AsyncIterator[bytes], limit: int, too_long: Callable[[], Exception]) -> bytes:
    """The whole body in memory, for small bodies only: ``too_long()`` is raised as soon as
    more than ``limit`` bytes have come."""
    out = bytearray()
    async for piece in body:
        out += piece
        if len(out) > limit:
            raise too_long()
    return bytes(out)


async def drain_body(body: AsyncIterator[bytes]) -> None:
    """Read (and drop) what the client is still sending, so it receives the error answer
    it is owed. A client that has gone away, or a stream already finished, is no error:
    the answer stands either way."""
    try:
        async for _ in body:
            pass
    except Exception:  # noqa: BLE001 - ClientDisconnect, "stream consumed", ...
        pass
