"""NextJoy over HTTP: the signed form POSTs under /upload_token/, answered in the
{status, message, data} envelope on HTTP 200; and the emulated Qiniu hosts the minted
tokens are used on (form upload, region query), answered the way Qiniu answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from python_multipart.multipart import parse_options_header

from ...core import journal, jsonbody
from ...core.errors import VendorError
from ...core.multipart import MultipartError, MultipartReader, drain_body, read_limited
from ...core.routing import vendor_router
from ...core.runtime import emulator_of
from ...core.urls import public_base
from .errors import NextJoyError, QiniuError
from .service import UC_PATH, UP_PATH, NextJoyService, Received
from .tenant import Tenant

SUCCESS = {"status": 200, "message": "操作成功"}
MAX_PARAMS_BODY = 4 << 20  # a signed call's whole body; 500 long keys fit easily
MAX_FIELD = 64 << 10  # one Qiniu form field (token, key, x: variables)
MAX_FIELDS_TOTAL = 1 << 20  # all of a Qiniu form's fields but the file, names included
MAX_FIELDS = 256  # how many fields (besides the file) a Qiniu form may carry


def _service(request: Request) -> NextJoyService:
    """The nextjoy service serving this request: the API's one typed accessor of it."""
    return emulator_of(request).service_as("nextjoy", NextJoyService)



# -- NextJoy ------------------------------------------------------------------------------


def render_nextjoy(err: VendorError) -> Response:
    return JSONResponse(
        {"status": err.spec.code, "message": err.spec.message, "data": err.extra.get("data", {})},
        status_code=err.spec.http_status,
    )


nextjoy_router = vendor_router(
    "nextjoy", render_nextjoy, internal=NextJoyError.GET_TOKEN_FAILED, invalid=NextJoyError.REQUEST_CHECK_FAILED
)


def _php_string(value: Any) -> str:
    """A JSON value as the PHP service would see it once cast to a string."""
    if isinstance(value, str):
        return value
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def _read_capped(body: AsyncIterator[bytes]) -> bytes:
    return await read_limited(body, MAX_PARAMS_BODY, lambda: NextJoyError.REQUEST_CHECK_FAILED(
        reason=f"request body exceeds {MAX_PARAMS_BODY} bytes"))


async def _capped(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body, refused once it passes MAX_PARAMS_BODY bytes (all parts of a multipart
    body together, not each one on its own)."""
    seen = 0
    async for piece in body:
        seen += len(piece)
        if seen > MAX_PARAMS_BODY:
            raise NextJoyError.REQUEST_CHECK_FAILED(reason=f"request body exceeds {MAX_PARAMS_BODY} bytes")
        yield piece


def _repeated(name: str) -> VendorError:
    return NextJoyError.REQUEST_CHECK_FAILED(
        reason=f"parameter {name!r} is given more than once; every parameter takes one value "
        "(list several keys, urls or dirs in one value, separated by ',')"
    )


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose names are unique (``json.loads`` would keep the last of two)."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _repeated(name)
        out[name] = value
    return out


async def read_params(request: Request, body: AsyncIterator[bytes]) -> dict[str, str]:
    """The call's parameters from a urlencoded, multipart or JSON body. Every parameter
    the document lists is a single ``string`` or ``int`` (a list of keys is one
    comma-separated string), so none can be a list: a name given twice (what ``requests``
    sends for a list value) is refused with 18007 before anything is done."""
    content_type = request.headers.get("content-type")
    kind = parse_options_header(content_type or "")[0].decode("latin-1").lower()
    params: dict[str, str] = {}
    try:
        if kind == "multipart/form-data":
            reader = MultipartReader(_capped(body), content_type)
            async for part in reader.parts():
                if part.name is not None and not part.is_file:
                    value = await part.text(limit=MAX_PARAMS_BODY)
                    if part.name in params:
                        raise _repeated(part.name)
                    params[part.name] = value
        elif kind == "application/json":
            raw = await _read_capped(body)
            document = jsonbody.loads(raw, object_pairs_hook=_unique_object) if raw.strip() else {}
            if not isinstance(document, dict):
                raise NextJoyError.REQUEST_CHECK_FAILED(reason="a JSON body must be an object")
            params = {str(k): _php_string(v) for k, v in document.items()}
        elif kind in ("application/x-www-form-urlencoded", ""):
            raw = await _read_capped(body)
            for name, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False):
                if name in params:
                    raise _repeated(name)
                params[name] = value
        else:
            raise NextJoyError.REQUEST_CHECK_FAILED(
                reason=f"Content-Type {content_type!r}: parameters come as a form (urlencoded or multipart) or JSON"
            )
    except MultipartError as exc:
        raise NextJoyError.REQUEST_CHECK_FAILED(reason=f"malformed multipart body: {exc}") from None
    except UnicodeDecodeError:
        raise NextJoyError.REQUEST_CHECK_FAILED(reason="the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise NextJoyError.REQUEST_CHECK_FAILED(reason=f"malformed JSON body: {exc}") from None
    return params


async def _admit(request: Request, *names: str) -> tuple[NextJoyService, Tenant, list[str]]:
    """Parse, authenticate, then fetch the call's own required parameters."""
    body = request.stream()
    try:
        params = await read_params(request, body)
    except VendorError:
        await drain_body(body)
        raise
    service = _service(request)
    tenant = service.authenticate(params)
    return service, tenant, service.require(params, *names)


def _ok(data: Any = None) -> JSONResponse:
    return JSONResponse(SUCCESS if data is None else {**SUCCESS, "data": data})


@nextjoy_router.post("/upload_token/get")
async def get_upload_token(request: Request) -> Response:
    service, tenant, _ = await _admit(request)
    return _ok(service.upload_token(tenant))


@nextjoy_router.post("/upload_token/get_file_list")
async def get_file_list(request: Request) -> Response:
    service, tenant, (marker, prefix) = await _admit(request, "marker", "prefix")
    return _ok(service.list_files(tenant, marker, prefix))


@nextjoy_router.post("/upload_token/batch_get_file_info")
async def batch_get_file_info(request: Request) -> Response:
    service, tenant, (keystr,) = await _admit(request, "keystr")
    return _ok(service.file_info(tenant, keystr))


@nextjoy_router.post("/upload_token/batch_del_file")
async def batch_del_file(request: Request) -> Response:
    service, tenant, (keystr,) = await _admit(request, "keystr")
    return _ok(service.delete_files(tenant, keystr))


@nextjoy_router.post("/upload_token/batch_refresh_file")
async def batch_refresh_file(request: Request) -> Response:
    service, tenant, (urls,) = await _admit(request, "urls")
    service.refresh(tenant, "file", urls)
    return _ok()


@nextjoy_router.post("/upload_token/batch_refresh_dir")
async def batch_refresh_dir(request: Request) -> Response:
    service, tenant, (dirs,) = await _admit(request, "dirs")
    service.refresh(tenant, "dir", dirs)
    return _ok()


# -- the emulated Qiniu hosts -----------------------------------------------------------


def render_qiniu(err: VendorError) -> Response:
    reqid = journal.info().extra.get("qiniu_reqid")
    headers = dict(err.extra.get("headers") or {})
    if reqid:
        headers["X-Reqid"] = reqid
    return JSONResponse({"error": err.spec.message}, status_code=err.spec.http_status, headers=headers or None)


def _reqid(request: Request) -> dict[str, str]:
    """Qiniu's X-Reqid, on every answer of its hosts (the Python SDK's legacy calls treat
    an answer without one as "server is not qiniu"); also kept in the journal entry."""
    reqid = request.app.state.emulator.ids.token(12)
    journal.info().extra["qiniu_reqid"] = reqid
    return {"X-Reqid": reqid}


qiniu_router = vendor_router("nextjoy", render_qiniu, internal=QiniuError.SERVER_ERROR, invalid=QiniuError.BAD_REQUEST)


@qiniu_router.post(UP_PATH)
@qiniu_router.post(UP_PATH + "/")
async def form_upload(request: Request) -> Response:
    """Qiniu's form upload: multipart with ``token``, ``key``, ``file`` and optional
    ``crc32``, ``x:`` variables, ``fname``, ``accept``; parts in any order."""
    headers = _reqid(request)
    body = request.stream()
    service = _service(request)
    received: Received | None = None
    fields: dict[str, str] = {}
    budget = MAX_FIELDS_TOTAL
    try:
        grant = None
        try:
            reader = MultipartReader(body, request.headers.get("content-type"))
            async for part in reader.parts():
                if part.name == "file":
                    if received is not None:
                        raise QiniuError.BAD_REQUEST(reason="more than one file part")
                    if "token" in fields:  # refuse a bad token before taking the bytes
                        grant = service.check_token(fields["token"])
                    limit = grant.policy.fsize_limit if grant is not None else None
                    received = await service.receive(part.stream(), part.filename, part.content_type, limit=limit)
                elif part.name is not None:
                    value = await part.text(limit=MAX_FIELD)
                    budget -= len(part.name.encode()) + len(value.encode())
                    fields[part.name] = value
                    if budget < 0 or len(fields) > MAX_FIELDS:
                        raise QiniuError.BAD_REQUEST(
                            reason=f"form fields exceed {MAX_FIELDS} fields or {MAX_FIELDS_TOTAL} bytes in all"
                        )
        except MultipartError as exc:
            raise QiniuError.BAD_REQUEST(reason=f"not a well-formed multipart/form-data body: {exc}") from None
        if grant is None:
            grant = service.check_token(fields.get("token"))
        if received is None:
            raise QiniuError.NO_FILE(reason="the form has no file part")
        key = service.check_upload(grant, fields.get("key"), fields.get("crc32"), received, fields)
        result = service.answer(grant, service.store(grant, key, received), received, fields)
    except Exception:  # a refusal, or an unexpected error (answered 599 by the router)
        if received is not None:
            service.discard(received)
        await drain_body(body)
        raise
    return qiniu_answer(result, headers)


def qiniu_answer(result: dict[str, Any] | str, headers: dict[str, str]) -> Response:
    """A success of the upload host: JSON, or a rendered returnBody as it came out."""
    if isinstance(result, str):
        return Response(result.encode("utf-8"), media_type="application/json", headers=headers)
    return JSONResponse(result, headers=headers)


@qiniu_router.get(UC_PATH + "/v4/query")
@qiniu_router.get(UC_PATH + "/v3/query")
async def query_regions(request: Request, ak: str | None = None, bucket: str | None = None) -> Response:
    """Where a bucket's hosts are: the SDKs ask this before uploading unless a region is given."""
    headers = _reqid(request)
    if not ak or not bucket:
        raise QiniuError.BAD_REQUEST(reason="ak and bucket are required")
    base = public_base(request)
    return JSONResponse(_service(request).query_regions(ak, bucket, base.split("://", 1)[1]), headers=headers)


@qiniu_router.get(UC_PATH + "/v2/query")
async def query_regions_v2(request: Request, ak: str | None = None, bucket: str | None = None) -> Response:
    """The region query of older SDKs (npm qiniu <= 7.4), in its own shape."""
    headers = _reqid(request)
    if not ak or not bucket:
        raise QiniuError.BAD_REQUEST(reason="ak and bucket are required")
    base = public_base(request)
    return JSONResponse(_service(request).query_regions_v2(ak, bucket, base.split("://", 1)[1]), headers=headers)


# -- wrong HTTP methods ---------------------------------------------------------------------


async def wrong_nextjoy_method(request: Request, allowed: str) -> None:
    """Any other method on a NextJoy path: 18007 (the request failed verification), on HTTP
    200 like every NextJoy refusal."""
    raise NextJoyError.REQUEST_CHECK_FAILED(reason=f"method {request.method} not allowed (expects {allowed})")


async def wrong_qiniu_method(request: Request, allowed: str) -> None:
    """Any other method on a Qiniu host path: 405 ``{"error"}`` with X-Reqid and Allow."""
    _reqid(request)
    want = allowed.replace("/", ", ")
    raise QiniuError.METHOD_NOT_ALLOWED(headers={"Allow": want},
                                        reason=f"method {request.method} not allowed (expects {want})")
