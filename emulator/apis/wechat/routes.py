"""WeChat over HTTP: /cgi-bin/token and the /tcb storage calls (JSON, always HTTP 200 with
errcode/errmsg), plus the storage side the real service hosts on COS and its CDN: the form
POST target of upload links and the signed download links (XML errors)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from ...core import journal, jsonbody
from ...core.blobs import StagedBlob
from ...core.errors import VendorError
from ...core.methods import refuse_other_methods
from ...core.multipart import MultipartError, MultipartReader, drain_body
from ...core.numbers import decimal, quoted
from ...core.routing import vendor_router
from ...core.runtime import emulator_of
from ...core.urls import public_base
from .errors import CosError, WeChatError
from .service import COS_PREFIX, DOWNLOAD_PREFIX, WeChatService
from .tenant import Tenant

log = logging.getLogger("emulator.wechat")
MAX_JSON_BODY = 1024 * 1024
MAX_FIELD = 8192
# any other method gets the errcode, not a 405
TCB_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def render(err: VendorError) -> Response:
    message = err.spec.message if err.detail is None else f"{err.spec.message} hint: [{err.detail}]"
    return JSONResponse({"errcode": err.spec.code, "errmsg": message}, status_code=200)


def render_xml(err: VendorError) -> Response:
    message = err.spec.message if err.detail is None else f"{err.spec.message} ({err.detail})"
    resource = err.extra.get("resource")
    body = (
        "<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n"
        f"\t<Code>{escape(str(err.spec.code))}</Code>\n\t<Message>{escape(message)}</Message>\n"
        + (f"\t<Resource>{escape(resource)}</Resource>\n" if resource else "")
        + "</Error>"
    )
    return Response(body, status_code=err.spec.http_status, media_type="application/xml",
                    headers=err.extra.get("headers"))


router = vendor_router(
    "wechat", render,
    internal=WeChatError.SYSTEM_ERROR, invalid=WeChatError.INVALID_ARGS, full=WeChatError.BACKEND_ERROR,
)
storage_router = vendor_router("wechat", render_xml, internal=CosError.INTERNAL, invalid=CosError.INVALID_ARGUMENT)


def _service(request: Request) -> WeChatService:
    """The wechat service serving this request: the API's one typed accessor of it."""
    return emulator_of(request).service_as("wechat", WeChatService)



# -- access token ---------------------------------------------------------------------
@router.api_route("/cgi-bin/token", methods=TCB_METHODS)
async def token(request: Request) -> Response:
    if request.method != "GET":
        raise WeChatError.REQUIRE_GET(reason=f"{request.method} instead of GET")
    q = request.query_params
    service = _service(request)
    if service.is_tenant(q.get("appid")):
        journal.info().identify_tenant(q["appid"])
    _, answer = service.issue_token(q.get("grant_type"), q.get("appid"), q.get("secret"))
    return JSONResponse(answer)


# -- the tcb calls --------------------------------------------------------------------
async def _admit(request: Request) -> tuple[WeChatService, Tenant, dict[str, Any]]:
    """access_token (41001, 40014, 42001), then method (43002), then the JSON body
    (44002, 47001). Any Content-Type: wechatpy posts its JSON with none."""
    service = _service(request)
    body = request.stream()
    try:
        tenant = service.authenticate(request.query_params.get("access_token"))
        journal.info().identify_tenant(tenant.appid)
        if request.method != "POST":
            raise WeChatError.REQUIRE_POST(reason=f"{request.method} instead of POST")
        raw = bytearray()
        async for chunk in body:
            raw += chunk
            if len(raw) > MAX_JSON_BODY:
                raise WeChatError.BAD_BODY(f"body larger than {MAX_JSON_BODY} bytes")
    except VendorError:
        await drain_body(body)
        raise
    if not raw:
        raise WeChatError.EMPTY_BODY(reason="no body")
    try:
        data = jsonbody.loads(bytes(raw), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WeChatError.BAD_BODY(reason=f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WeChatError.BAD_BODY(reason=f"body is a JSON {type(data).__name__}, not an object")
    return service, tenant, data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _answer(call: Callable[[], dict[str, Any]]) -> Response:
    """-1000 when the storage backend fails (-1 stays for anything else unexpected)."""
    try:
        return JSONResponse(call())
    except SQLAlchemyError as exc:
        log.exception("storage backend failed")
        raise WeChatError.BACKEND_ERROR(reason=f"storage backend failed: {type(exc).__name__}") from None


@router.api_route("/tcb/uploadfile", methods=TCB_METHODS)
async def uploadfile(request: Request) -> Response:
    service, tenant, data = await _admit(request)
    return _answer(lambda: service.upload_link(tenant, data, public_base(request)))


@router.api_route("/tcb/batchdownloadfile", methods=TCB_METHODS)
async def batchdownloadfile(request: Request) -> Response:
    service, tenant, data = await _admit(request)
    return _answer(lambda: service.download_links(tenant, data, public_base(request)))


@router.api_route("/tcb/batchdeletefile", methods=TCB_METHODS)
async def batchdeletefile(request: Request) -> Response:
    service, tenant, data = await _admit(request)
    return _answer(lambda: service.delete_files(tenant, data))


# -- COS form POST (the upload link's url) --------------------------------------------
@storage_router.post(COS_PREFIX + "/{bucket}")
@storage_router.post(COS_PREFIX + "/{bucket}/{path:path}")
async def cos_post(bucket: str, request: Request, path: str = "") -> Response:
    """Fields may come before or after ``file``: wechatpy sends ``file`` first. The file
    streams into a staged blob; nothing is kept until the credentials check out."""
    service = _service(request)
    body = request.stream()
    staged: StagedBlob | None = None
    fields: dict[str, str] = {}
    try:
        owner, _ = service.bucket_owner(bucket)
        journal.info().identify_tenant(owner.appid)
        content_type: str | None = None
        try:
            reader = MultipartReader(body, request.headers.get("content-type"))
            async for part in reader.parts():
                name = (part.name or "").lower()
                if name == "file":
                    if staged is not None:
                        raise CosError.INVALID_ARGUMENT("more than one file field")
                    content_type = part.content_type
                    service.precheck(bucket, fields)
                    staged = await service.stage(part.stream())
                elif name:
                    fields[name] = await part.text(limit=MAX_FIELD)
        except MultipartError as exc:
            raise CosError.MALFORMED_POST(str(exc)) from None
        stored = service.store(bucket, fields, staged, fields.get("content-type") or content_type)
    except Exception as err:
        if staged is not None:
            service.discard(staged)
        if isinstance(err, VendorError):
            err.extra.setdefault("resource", f"{bucket}/{fields.get('key', path)}")
        await drain_body(body)
        raise
    url = f"{public_base(request)}{COS_PREFIX}/{bucket}/{quote(stored.key, safe='/')}"
    return Response(status_code=204, headers={"ETag": f'"{stored.md5}"', "Location": url})


# -- download links -------------------------------------------------------------------
def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as [start, end); None to serve the whole object."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_text, sep, last_text = header[6:].strip().partition("-")
    # ASCII digits only (not "²"); a number past the object's size reads as size + 1, which
    # every comparison below treats as it would the number itself.
    first = decimal(first_text, limit=size) if first_text else None
    last = decimal(last_text, limit=size) if last_text else None
    if not sep or (first_text and first is None) or (last_text and last is None):
        return None
    if first is None:
        if not last:
            raise CosError.RANGE_NOT_SATISFIABLE(reason=f"Range {quoted(header)}")
        return max(0, size - last), size
    end = last + 1 if last is not None else size
    if first >= size or first >= end:
        raise CosError.RANGE_NOT_SATISFIABLE(reason=f"Range {quoted(header)} of a {size}-byte object",
                                             headers={"Content-Range": f"bytes */{size}"})
    return first, min(end, size)


@storage_router.api_route(DOWNLOAD_PREFIX + "/{bucket}/{key:path}", methods=["GET", "HEAD"])
async def download(bucket: str, key: str, request: Request) -> Response:
    service = _service(request)
    owner, _ = service.bucket_owner(bucket)
    journal.info().identify_tenant(owner.appid)
    found = service.open_download(owner, bucket, key, request.query_params.get("sign"), request.query_params.get("t"))
    size = found.row.size
    headers = {"ETag": f'"{found.row.md5}"', "Accept-Ranges": "bytes", "Content-Type": found.row.content_type}
    status = 200
    start, end = 0, size
    wanted = _range(request.headers.get("range"), size)
    if wanted is not None:
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return StreamingResponse(service.read(found.blob_id, start, end), status_code=status, headers=headers)


# -- wrong HTTP methods ---------------------------------------------------------------
# The /tcb and token routes take every method (an errcode answers the wrong ones). On the
# COS upload host and the download links another method is COS's XML 405, never FastAPI's
# {"detail"}: the path decides, before the bucket or the credentials are looked at.
async def _refuse_storage(request: Request, allowed: str) -> None:
    bucket = request.path_params.get("bucket", "")
    try:
        owner, _ = _service(request).bucket_owner(bucket)
        journal.info().identify_tenant(owner.appid)
    except VendorError:
        pass  # an unknown bucket: still the method's 405, with no tenant to name
    rest = request.path_params.get("path", request.path_params.get("key", ""))
    raise CosError.METHOD_NOT_ALLOWED(
        headers={"Allow": allowed.replace("/", ", ")}, resource=f"{bucket}/{rest}" if rest else bucket,
        reason=f"method {request.method} not allowed (expects {allowed})",
    )


refuse_other_methods(storage_router, _refuse_storage)
router.include_router(storage_router)
