"""Antelope object storage over HTTP: /upload2, /upload3, /v2/events, /files and /fileinfo/*.
Parses the wire format (query, headers, multipart in wire order), calls the service,
answers bare HTTP statuses with a small JSON body on errors."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ...core import journal
from ...core.errors import VendorError
from ...core.methods import refuse_other_methods, refuse_with
from ...core.multipart import MultipartError, MultipartReader, drain_body
from ...core.routing import vendor_router
from ...core.runtime import emulator_of
from ...core.urls import public_base
from .auth import Grant
from .errors import AntelopeError
from .messages import MAX_MESSAGE_BYTES, parse_message
from .rules import MAX_ATTACHMENT_BYTES, check_key, parse_metadata, upload2_params
from .service import AntelopeService, Received

_MIME = mimetypes.MimeTypes()  # Python's built-in table only: the same answer on every host
FIELD_LIMIT = 64 * 1024  # a key or metadata form field longer than this is refused outright
bad = AntelopeError.BAD_REQUEST


def render(err: VendorError) -> Response:
    message = err.spec.message if err.detail is None else f"{err.spec.message}: {err.detail}"
    return JSONResponse({"code": err.spec.code, "message": message}, status_code=err.spec.http_status,
                        headers=err.extra.get("headers"))


router = vendor_router("antelope", render, internal=AntelopeError.INTERNAL, invalid=AntelopeError.BAD_REQUEST)


def _service(request: Request) -> AntelopeService:
    """The antelope service serving this request: the API's one typed accessor of it."""
    return emulator_of(request).service_as("antelope", AntelopeService)


def _grant(request: Request) -> Grant:
    grant = _service(request).authenticate(request.query_params.get("access_token"))
    journal.info().identify_tenant(grant.tenant.app_id)
    return grant


def _header(request: Request, name: str) -> str | None:
    """A request header as the client meant it (UTF-8 bytes survive Starlette's latin-1)."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value



# -- upload2 --------------------------------------------------------------------------------
@router.post("/upload2")
async def upload2(request: Request) -> Response:
    body: AsyncIterator[bytes] = request.stream()
    received: Received | None = None
    service = _service(request)
    try:
        grant = _grant(request)
        q = request.query_params
        params = upload2_params(q.get("size"), q.get("expiretype"), q.get("key"))
        # key: URL, else header, else a form field before the file; metadata: header, else form field.
        key = params.url_key
        key_from_form = False
        if key is None:
            key = check_key(_header(request, "key"))
            key_from_form = key is None
        header_meta = _header(request, "metadata")
        metadata: Any = parse_metadata(header_meta)
        meta_from_form = header_meta is None or header_meta.strip() == ""
        try:
            reader = MultipartReader(body, request.headers.get("content-type"))
            async for part in reader.parts():
                if part.name == "file":
                    if received is not None:
                        raise bad("the file form field is given more than once")
                    received = await service.receive(
                        part.filename or "", part.stream(), limit=params.size, exact=params.size, what="file"
                    )
                elif part.name in ("key", "metadata"):
                    if received is not None:
                        raise bad(f"the {part.name} form field must come before the file form field")
                    text = await part.text(limit=FIELD_LIMIT)
                    if part.name == "key" and key_from_form:
                        key = check_key(text)
                        key_from_form = key is None
                    elif part.name == "metadata" and meta_from_form:
                        metadata = parse_metadata(text)
                        meta_from_form = text.strip() == ""
        except MultipartError as exc:
            raise bad(f"multipart body: {exc}") from None
        if received is None:
            raise bad("the file form field is missing")
        result = service.upload2(grant, params, key, metadata, received)
    except Exception:  # a refusal or an unexpected failure: keep nothing half-received
        if received is not None:
            service.discard(received)
        await drain_body(body)
        raise
    return JSONResponse(result)


# -- upload3 --------------------------------------------------------------------------------
@router.post("/upload3")
async def upload3(request: Request) -> Response:
    body: AsyncIterator[bytes] = request.stream()
    received: dict[str, Received] = {}
    service = _service(request)
    try:
        grant = _grant(request)
        try:
            reader = MultipartReader(body, request.headers.get("content-type"))
            parts = reader.parts()
            try:
                first = await parts.__anext__()
            except StopAsyncIteration:
                raise bad("the message form field is missing") from None
            if first.name != "message":
                raise bad(f"the first form field must be message, not {first.name!r}")
            message = parse_message(await first.read(MAX_MESSAGE_BYTES))
            wanted = set(message.field_names())
            async for part in parts:
                if part.name not in wanted:
                    continue  # a form field no attachment names is ignored
                if part.name in received:
                    raise bad(f"the {part.name} form field is given more than once")
                received[part.name] = await service.receive(
                    part.filename or "", part.stream(), limit=MAX_ATTACHMENT_BYTES,
                    what=f"attachment {part.name!r}",
                )
        except MultipartError as exc:
            raise bad(f"multipart body: {exc}") from None
        base = public_base(request)
        service.upload3(grant, message, received, base)
    except Exception:  # a refusal or an unexpected failure: keep nothing half-received
        for got in received.values():
            service.discard(got)
        await drain_body(body)
        raise
    return Response(status_code=200)


# -- event feed -----------------------------------------------------------------------------
@router.get("/v2/events")
async def events(request: Request) -> Response:
    service = _service(request)
    tenant = service.authenticate_app(request.headers.get("x-app-id"), request.headers.get("x-app-key"))
    journal.info().identify_tenant(tenant.app_id)
    q = request.query_params
    return JSONResponse(service.events(tenant, q.get("channel_id"), q.get("size"), q.get("offset")))


# -- download and queries -------------------------------------------------------------------
def _key_param(request: Request) -> str | None:
    q = request.query_params
    return q.get("key") or q.get("KeyID")


def _disposition(name: str) -> str:
    if not name:
        return "inline"
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/files")
async def download(request: Request) -> Response:
    service = _service(request)
    grant = _grant(request)
    found = service.download(grant, request.query_params.get("obj_id"), _key_param(request))
    info = found.info
    name = info["name"] or info["key"].rsplit("/", 1)[-1]
    media_type = _MIME.guess_type(name)[0] or "application/octet-stream"
    headers = {
        "Content-Length": str(info["file_size"]),
        "Content-Disposition": _disposition(name),
        "metadata": json.dumps(info["metadata"], ensure_ascii=True, separators=(",", ":")),
    }
    return StreamingResponse(service.read(found.blob_id), media_type=media_type, headers=headers)


@router.get("/fileinfo/delete")
async def delete(request: Request) -> Response:
    grant = _grant(request)
    return JSONResponse(_service(request).delete(grant, request.query_params.get("obj_id"), _key_param(request)))


@router.get("/fileinfo/infos")
async def infos(request: Request) -> Response:
    grant = _grant(request)
    return JSONResponse(_service(request).info(grant, request.query_params.get("obj_id"), _key_param(request)))


@router.get("/fileinfo/listbysort")
async def listbysort(request: Request) -> Response:
    grant = _grant(request)
    q = request.query_params
    return JSONResponse(_service(request).list_after(grant, q.get("obj_id"), _key_param(request), q.get("count")))


@router.get("/fileinfo/cidsbyappid")
async def cidsbyappid(request: Request) -> Response:
    grant = _grant(request)
    return JSONResponse(_service(request).cids(grant, request.query_params.get("obj_type")))


refuse_other_methods(router, refuse_with(AntelopeError.METHOD_NOT_ALLOWED))
