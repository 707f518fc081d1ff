"""httpx transports that run the emulator's ASGI app in process, behaving as a socket would.

``httpx.ASGITransport`` runs the whole app before it answers and keeps the response body in
memory. These transports instead:
- stream both ways: the app pulls the request body as it reads it, and the client reads the
  response body as the app sends it, one message at a time (memory does not grow with the
  object's size);
- apply the client's read timeout as a socket does, to each wait for the app (for the
  response's start, or its next piece), restarted whenever the app takes a piece of the
  body: ``httpx.ReadTimeout`` against an injected latency, while a long upload or download
  that keeps moving never times out;
- let the test see what went wrong: an exception the app raises (an injected dropped
  connection's :class:`~emulator.core.faults.ConnectionDropped` included) is raised to the
  client, and an exception raised by the client's own request body (a file that cannot be
  read) is raised to the client after the app was told the client went away (an
  ``http.disconnect``, as a server would tell it);
- tell the app when the client leaves early (a response closed before its end, a timeout):
  the request is cancelled, so nothing of it runs on after the test.

``SyncASGITransport`` (for ``httpx.Client``) runs the app on one event loop thread shared by
every in-process emulator of the process; ``AsyncASGITransport`` (for ``httpx.AsyncClient``)
on the client's own loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
CLIENT = ("127.0.0.1", 123)
CLOSE_WAIT = 5.0  # seconds a cancelled request may take to unwind


class LoopThread:
    """One event loop on a daemon thread, for every in-process emulator of the process."""

    _instance: LoopThread | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="emulator-asgi", daemon=True).start()

    @classmethod
    def get(cls) -> LoopThread:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance


class _Exchange:
    """One request and its response between an httpx client and the app, on the app's loop."""

    def __init__(self, app: Any, request: httpx.Request, body: AsyncIterator[bytes]) -> None:
        self.app = app
        self.request = request
        self._body = body
        self.read_timeout: float | None = (request.extensions.get("timeout") or {}).get("read")
        self._loop = asyncio.get_running_loop()
        self._messages: collections.deque[dict[str, Any]] = collections.deque()
        self._arrived = asyncio.Event()  # a message for the client
        self._taken = asyncio.Event()  # the client took one
        self._disconnected = asyncio.Event()  # what the app's receive() answers after the body
        self._gone = False  # the client no longer listens: the app's sends go nowhere
        self._request_done = False
        self._response_done = False
        self._progress = self._loop.time()
        self._first: bytes | None = None  # a body piece read ahead while opening
        self.client_error: BaseException | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self._task: asyncio.Task[None] | None = None

    # -- the app's side ----------------------------------------------------------------------
    def _scope(self) -> dict[str, Any]:
        url = self.request.url
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": self.request.method,
            "headers": [(k.lower(), v) for k, v in self.request.headers.raw],
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "server": (url.host, url.port),
            "client": CLIENT,
            "root_path": "",
        }

    async def _run(self) -> None:
        try:
            await self.app(self._scope(), self._receive, self._send)
        except asyncio.CancelledError:
            self._push({"type": "app.done", "error": None})
        except Exception as exc:  # noqa: BLE001 - handed to the client
            self._push({"type": "app.done", "error": exc})
        else:
            self._push({"type": "app.done", "error": None})

    async def _receive(self) -> dict[str, Any]:
        if self._request_done:
            await self._disconnected.wait()
            return {"type": "http.disconnect"}
        try:
            chunk = await self._body.__anext__()
        except StopAsyncIteration:
            self._request_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        except Exception as exc:  # noqa: BLE001 - the client's own body failed: it gives up
            self._request_done = True
            self.client_error = exc
            self._gone = True
            self._disconnected.set()
            self._wake()
            return {"type": "http.disconnect"}
        self._progress = self._loop.time()
        return {"type": "http.request", "body": bytes(chunk), "more_body": True}

    async def _send(self, message: dict[str, Any]) -> None:
        if self._gone:
            return  # as a server does once the client went away
        if message["type"] == "http.response.body" and self.request.method == "HEAD":
            message = {**message, "body": b""}
        self._push(message)
        if message["type"] == "http.response.body" and message.get("more_body", False):
            # One piece in flight: the app waits until the client has taken it.
            while self._messages and not self._gone:
                self._taken.clear()
                await self._taken.wait()

    def _push(self, message: dict[str, Any]) -> None:
        self._messages.append(message)
        self._wake()

    def _wake(self) -> None:
        self._arrived.set()

    # -- the client's side ---------------------------------------------------------------------
    async def _next(self) -> dict[str, Any]:
        """The app's next message; a read timeout as on a socket: counted from now (when
        the client starts waiting), and restarted whenever the app takes a piece of body."""
        self._progress = self._loop.time()
        while True:
            if self.client_error is not None:
                return await self._after_client_error()
            if self._messages:
                self._progress = self._loop.time()
                message = self._messages.popleft()
                self._taken.set()
                return message
            self._arrived.clear()
            if self.read_timeout is None:
                await self._arrived.wait()
                continue
            remaining = self._progress + self.read_timeout - self._loop.time()
            if remaining <= 0:
                raise httpx.ReadTimeout("timed out waiting for the in-process emulator", request=self.request)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def _after_client_error(self) -> dict[str, Any]:
        """The client's body failed: let the app see the disconnect and finish, then raise."""
        assert self.client_error is not None and self._task is not None
        with contextlib.suppress(Exception):  # whatever the app did with it, the client's error is the answer
            await asyncio.wait_for(asyncio.shield(self._task), self.read_timeout or CLOSE_WAIT)
        raise self.client_error

    async def open(self) -> None:
        """Start the app; return once the response has started (raise what went wrong)."""
        self._task = self._loop.create_task(self._run())
        try:
            while True:
                message = await self._next()
                if message["type"] == "http.response.start":
                    self.status = message["status"]
                    self.headers = list(message.get("headers", []))
                    break
                if message["type"] == "app.done":
                    self._raise_done(message)
                    raise httpx.RemoteProtocolError("the emulator returned without answering", request=self.request)
            # An answer in one message is handed over once the app has finished, so that an
            # exception raised after it (Starlette answers 500, then re-raises) reaches the client.
            message = await self._next()
            if message["type"] == "app.done":
                self._raise_done(message)
                self._response_done = True
                self._first = b""
            elif message["type"] == "http.response.body":
                self._first = message.get("body", b"")
                if not message.get("more_body", False):
                    self._response_done = True
                    self._disconnected.set()
                    done = await self._next()
                    while done["type"] != "app.done":
                        done = await self._next()
                    self._raise_done(done)
        except BaseException:
            await self.close()
            raise

    @staticmethod
    def _raise_done(message: dict[str, Any]) -> None:
        if message["error"] is not None:
            raise message["error"]

    async def next_chunk(self) -> bytes | None:
        """The response's next piece of body; None at its end."""
        try:
            if self._first is not None:
                first, self._first = self._first, None
                if first:
                    return first
            while not self._response_done:
                message = await self._next()
                if message["type"] == "app.done":
                    self._raise_done(message)
                    raise httpx.RemoteProtocolError("the emulator ended the response early", request=self.request)
                if message["type"] != "http.response.body":
                    continue
                if not message.get("more_body", False):
                    self._response_done = True
                    self._disconnected.set()
                    while (await self._next())["type"] != "app.done":
                        pass
                    # (an exception after the whole answer was sent is the app's own affair)
                body: bytes | None = message.get("body")
                if body:
                    return body
            return None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """The client is done with the exchange: an app still running is told and cancelled."""
        self._gone = True
        self._disconnected.set()
        self._taken.set()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_WAIT)


_END = object()


class _Pump:
    """A sync client's request body, read on the client's own thread.

    The app runs on the loop thread; each time it wants a piece of the body it asks the
    client's thread, which reads the body's next piece while it waits for the app (in
    :meth:`run`). So a body that itself reads from an in-process emulator (a download of
    one emulator streamed into an upload to another) never blocks the loop."""

    def __init__(self, loop: LoopThread, stream: Iterable[bytes]) -> None:
        self._loop = loop
        self._stream = iter(stream)
        self._asks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ended = False

    def __aiter__(self) -> _Pump:
        return self

    async def __anext__(self) -> bytes:
        """On the loop thread: the body's next piece, from the client's thread."""
        if self._ended:
            raise StopAsyncIteration
        wanted: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._asks.put(wanted)
        piece = await wanted
        if piece is _END:
            self._ended = True
            raise StopAsyncIteration
        assert isinstance(piece, bytes)
        return piece

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """On the client's thread: run ``coro`` on the loop, serving the body meanwhile."""
        done = object()
        future = asyncio.run_coroutine_threadsafe(coro, self._loop.loop)
        future.add_done_callback(lambda _: self._asks.put(done))
        while True:
            ask = self._asks.get()
            if ask is done:
                return future.result()
            if not isinstance(ask, asyncio.Future):
                continue  # the end marker of an earlier run
            try:
                piece: Any = next(self._stream)
            except StopIteration:
                piece = _END
            except BaseException as exc:  # noqa: BLE001 - handed to the app's side, raised from there
                self._loop.loop.call_soon_threadsafe(_settle, ask, None, exc)
                continue
            self._loop.loop.call_soon_threadsafe(_settle, ask, piece, None)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _SyncResponseStream(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, pump: _Pump, owner: SyncASGITransport) -> None:
        self._exchange, self._pump, self._owner = exchange, pump, owner

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self._pump.run(self._exchange.next_chunk())
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        self._owner._open.pop(self._exchange, None)
        self._pump.run(self._exchange.close())


class SyncASGITransport(httpx.BaseTransport):
    """An in-process transport for ``httpx.Client`` (see the module's notes)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._loop = LoopThread.get()
        self._open: dict[_Exchange, _Pump] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, Iterable)
        pump = _Pump(self._loop, request.stream)

        async def start() -> _Exchange:
            exchange = _Exchange(self.app, request, pump)
            await exchange.open()
            return exchange

        exchange = pump.run(start())
        self._open[exchange] = pump
        return httpx.Response(exchange.status, headers=exchange.headers,
                              stream=_SyncResponseStream(exchange, pump, self), request=request)

    def close(self) -> None:
        """Responses still open (a test that failed half-way through reading one) are closed."""
        while self._open:
            exchange, pump = self._open.popitem()
            pump.run(exchange.close())


class _AsyncResponseStream(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._exchange.next_chunk()) is not None:
            yield chunk

    async def aclose(self) -> None:
        await self._exchange.close()


class AsyncASGITransport(httpx.AsyncBaseTransport):
    """An in-process transport for ``httpx.AsyncClient``: the app runs on the client's loop."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        exchange = _Exchange(self.app, request, request.stream.__aiter__())
        await exchange.open()
        return httpx.Response(exchange.status, headers=exchange.headers, stream=_AsyncResponseStream(exchange),
                              request=request)
