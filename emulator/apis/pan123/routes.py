"""123pan over HTTP: the open-platform JSON API (envelope ``{code, message, data, x-traceID}``
on HTTP 200), plus what the real service hosts elsewhere: the presigned-PUT storage host
(S3-style XML errors) and the download links of image-hosting files."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ...core import journal
from ...core.routing import vendor_router
from ...core.runtime import emulator_of
from ...core.errors import VendorError
from ...core.methods import METHODS, refuse_other_methods
from ...core.multipart import drain_body
from ...core.urls import public_base
from . import auth
from .errors import Pan123Error, S3Error
from .service import DISK, DOWNLOAD_PREFIX, OSS, S3_PREFIX, SELF_PREFIX, Pan123Service
from .tenant import Tenant
from .wire import MAX_BODY, Params

TRACE_SUFFIX = "_kong-db-emulator"


def _trace() -> str:
    return str(journal.info().extra.get("x-traceID", ""))


def render(err: VendorError) -> Response:
    return JSONResponse({"code": err.spec.code, "message": err.message, "data": None, "x-traceID": _trace()},
                        status_code=err.spec.http_status)


def render_xml(err: VendorError) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
        f"<Code>{escape(str(err.spec.code))}</Code><Message>{escape(err.message)}</Message>"
        f"<RequestId>{escape(_trace())}</RequestId></Error>"
    )
    headers = err.extra.get("headers")
    return Response(body, status_code=err.spec.http_status, media_type="application/xml", headers=headers)


router = vendor_router("pan123", render, internal=Pan123Error.INTERNAL, invalid=Pan123Error.FAILED)
storage_router = vendor_router("pan123", render_xml, internal=S3Error.INTERNAL, invalid=S3Error.ACCESS_DENIED)


def _service(request: Request) -> Pan123Service:
    """The pan123 service serving this request: the API's one typed accessor of it."""
    return emulator_of(request).service_as("pan123", Pan123Service)


def _begin(request: Request) -> Pan123Service:
    """Every request gets a fresh trace id (answered in the envelope, kept in the journal)."""
    service = _service(request)
    journal.info().extra["x-traceID"] = service.emu.ids.uuid4() + TRACE_SUFFIX
    return service


def ok(data: Any) -> JSONResponse:
    journal.info().code = 0
    return JSONResponse({"code": 0, "message": "ok", "data": data, "x-traceID": _trace()})


async def _body(request: Request) -> Params:
    stream = request.stream()
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > MAX_BODY:
            await drain_body(stream)
            raise Pan123Error.FAILED(f"请求体超过{MAX_BODY}字节", reason="body too large")
        chunks.append(chunk)
    return Params.parse(b"".join(chunks), request.headers.get("content-type"))


async def _authed(request: Request) -> tuple[Pan123Service, Tenant]:
    """Platform header → access token → the endpoint's QPS, in that order."""
    service = _begin(request)
    auth.check_platform(request.headers.get("platform"))
    tenant = service.authenticate(request.headers.get("authorization"))
    journal.info().identify_tenant(tenant.client_id)
    service.hit_limit(tenant.client_id, request.url.path)
    await service.settle(tenant.client_id)  # uploads whose check ended become files first
    return service, tenant


async def _call(request: Request) -> tuple[Pan123Service, Tenant, Params]:
    """:func:`_authed`, then the body."""
    service, tenant = await _authed(request)
    return service, tenant, await _body(request)


# -- access token -------------------------------------------------------------------------
@router.post("/api/v1/access_token")
async def access_token(request: Request) -> Response:
    service = _begin(request)
    auth.check_platform(request.headers.get("platform"))
    params = await _body(request)
    client_id = params.string("clientID")
    journal.info().identify_tenant(client_id)
    client_secret = params.string("clientSecret")
    service.hit_limit(client_id, request.url.path)
    return ok(service.issue_token(client_id, client_secret))


# -- image hosting --------------------------------------------------------------------------
@router.post("/upload/v1/oss/file/mkdir")
async def oss_mkdir(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(service.mkdir(tenant, p.strings("name", allow_single=True), p.ident("parentID"), p.integer("type")))


@router.post("/upload/v1/oss/file/create")
async def oss_create(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(service.create(tenant, OSS, p.ident("parentFileID"), p.string("filename"), p.string("etag"),
                             p.integer("size"), type_=p.integer("type")))


@router.post("/upload/v1/oss/file/get_upload_url")
async def oss_upload_url(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(service.upload_url(tenant, OSS, p.string("preuploadID"), p.integer("sliceNo"), public_base(request)))


@router.post("/upload/v1/oss/file/list_upload_parts")
async def oss_list_parts(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(service.list_parts(tenant, OSS, p.string("preuploadID")))


@router.post("/upload/v1/oss/file/upload_complete")
async def oss_complete(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(service.complete(tenant, OSS, p.string("preuploadID")))


@router.post("/upload/v1/oss/file/upload_async_result")
async def oss_async_result(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(await service.async_result(tenant, OSS, p.string("preuploadID")))


@router.post("/api/v1/oss/file/delete")
async def oss_delete(request: Request) -> Response:
    service, tenant, p = await _call(request)
    service.delete(tenant, p.strings("fileIDs"))
    return ok(None)


@router.get("/api/v1/oss/file/detail")
async def oss_detail(request: Request) -> Response:
    """``fileID`` from the query string; the document's own curl example sends it as a body."""
    service, tenant, p = await _call(request)
    query = Params.of_query(list(request.query_params.multi_items()))
    file_id = query.string("fileID") if query.has("fileID") else p.ident("fileID")
    return ok(service.detail(tenant, file_id, public_base(request)))


@router.post("/api/v1/oss/file/list")
async def oss_list(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(service.list(
        tenant, p.ident("parentFileId", required=False), p.integer("limit"),
        p.integer("startTime", required=False), p.integer("endTime", required=False),
        p.ident("lastFileId", required=False), p.integer("type"), public_base(request),
    ))


# -- cloud disk upload (the flow of the document's PHP demo) -----------------------------------
@router.post("/upload/v1/file/create")
async def disk_create(request: Request) -> Response:
    service, tenant, p = await _call(request)
    parent, filename, etag, size = p.ident("parentFileID"), p.string("filename"), p.string("etag"), p.integer("size")
    duplicate = p.integer("duplicate", required=False, default=0) or 0
    if p.boolean("containDir", default=False):  # filename is a path; its folders are made
        parent, filename = service.disk.contain_dir(tenant, parent, filename)
    return ok(service.create(tenant, DISK, parent, filename, etag, size, duplicate))


@router.post("/upload/v1/file/get_upload_url")
async def disk_upload_url(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(service.upload_url(tenant, DISK, p.string("preuploadID"), p.integer("sliceNo"), public_base(request)))


@router.post("/upload/v1/file/list_upload_parts")
async def disk_list_parts(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(service.list_parts(tenant, DISK, p.string("preuploadID")))


@router.post("/upload/v1/file/upload_complete")
async def disk_complete(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(service.complete(tenant, DISK, p.string("preuploadID")))


@router.post("/upload/v1/file/upload_async_result")
async def disk_async_result(request: Request) -> Response:
    service, tenant, p = await _call(request)
    return ok(await service.async_result(tenant, DISK, p.string("preuploadID")))


# -- storage host: presigned PUT of one slice ---------------------------------------------------
@storage_router.put(S3_PREFIX + "/{key:path}")
async def put_slice(key: str, request: Request) -> Response:
    service = _begin(request)
    body = request.stream()
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    upload_id = dict(auth.parse_query(raw_query)).get("uploadId", "")
    try:
        journal.info().identify_tenant(service.slice_tenant(upload_id).client_id)
        part_no, limit = service.slice_target(upload_id, "PUT", path, raw_query, request.headers.get("host", ""))
        md5 = await service.receive_slice(upload_id, part_no, limit, body)
    except VendorError:
        await drain_body(body)
        raise
    return Response(status_code=200, headers={"ETag": f'"{md5}"'})


# -- download links -------------------------------------------------------------------------------
def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as [start, end); None for the whole object. Raises 416."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                raise S3Error.BAD_RANGE(headers={"Content-Range": f"bytes */{size}"}, reason=f"range {header}")
            return max(0, size - n), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        raise S3Error.BAD_RANGE(headers={"Content-Range": f"bytes */{size}"}, reason=f"range {header} of {size}")
    return start, min(end, size)


async def _download(uid: str, name: str, request: Request) -> Response:
    service = _begin(request)
    dl = service.download(uid, name)
    journal.info().identify_tenant(dl.client_id)  # the link's owner: tenant-bound fault rules apply to it
    rng = _range(request.headers.get("range"), dl.size)
    start, end = rng if rng else (0, dl.size)
    headers = {
        "Content-Type": service.content_type(dl.name),
        "Content-Length": str(end - start),
        "ETag": f'"{dl.etag}"',
        "Accept-Ranges": "bytes",
    }
    status = 200
    if rng:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{dl.size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return StreamingResponse(service.stream(dl, start, end), status_code=status, headers=headers)


@storage_router.api_route(DOWNLOAD_PREFIX + "/{uid}/{name}", methods=["GET", "HEAD"])
async def download(uid: str, name: str, request: Request) -> Response:
    return await _download(uid, name, request)


@storage_router.api_route(SELF_PREFIX + "/{uid}/{name}", methods=["GET", "HEAD"])
async def download_self(uid: str, name: str, request: Request) -> Response:
    return await _download(uid, name, request)


# -- the cloud disk's file management and upload v2 (disk_routes.py, upload_v2.py) --------------
from . import disk_routes, upload_v2  # noqa: E402,F401  (their handlers use _call and ok above)

for _method, _path, _handler in disk_routes.ROUTES:
    router.add_api_route(_path, _handler, methods=[_method])


# -- wrong HTTP methods ------------------------------------------------------------------------
# A documented path called with another method answers the vendor's envelope (code 1, HTTP 200
# like every other refusal of the JSON API), or S3 XML on the storage host; never FastAPI's
# 405 {"detail"}. Starlette picks a route whose method matches before one whose path alone does,
# so these catch-alls only see the methods the real routes do not take.
async def _refuse_json(request: Request, allowed: str) -> None:
    _begin(request)
    raise Pan123Error.FAILED(f"请求方法{request.method}不支持,应为{allowed}",
                             reason=f"method {request.method} not allowed (expects {allowed})")


async def _refuse_storage(request: Request, allowed: str) -> None:
    service = _begin(request)
    if request.url.path.startswith(S3_PREFIX + "/"):
        # A presigned URL signs its method: another method fails the signature check (403),
        # as on S3, before anything else is said about it.
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?", 1)[0]
        upload_id = dict(auth.parse_query(raw_query)).get("uploadId", "")
        journal.info().identify_tenant(service.slice_tenant(upload_id).client_id)
        service.slice_target(upload_id, request.method, path, raw_query, request.headers.get("host", ""))
    raise S3Error.METHOD_NOT_ALLOWED(headers={"Allow": allowed.replace("/", ", ")},
                                     reason=f"method {request.method} not allowed (expects {allowed})")


refuse_other_methods(router, _refuse_json)
refuse_other_methods(storage_router, _refuse_storage)

router.include_router(storage_router)


# -- paths the platform does not have -------------------------------------------------------------
# Under the open platform's own prefixes (including paths only an SDK invents, such as
# aio123pan's /upload/v2/file/upload_domain): HTTP 404 with the 123pan envelope (code 404,
# data null), never FastAPI's {"detail"}. Registered last, so every real route wins.
async def no_such_path(request: Request) -> Response:
    _begin(request)
    await drain_body(request.stream())
    raise Pan123Error.NO_SUCH_PATH(reason=f"{request.method} {request.url.path} is not a 123pan open-platform path")


for _prefix in ("/api/", "/upload/"):
    router.add_api_route(_prefix + "{rest:path}", no_such_path, methods=list(METHODS), include_in_schema=False)
