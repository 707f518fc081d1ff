"""123pan over HTTP: the open-platform JSON API (envelope ``{code, message, data, x-traceID}``
on HTTP 200), plus what the real service hosts elsewhere: the presigned-PUT storage host
(S3-style XML errors) and the download links of image-hosting files."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from ...core import journal
from ...core.errors import VendorError
from ...core.methods import METHODS, refuse_other_methods
from ...core.multipart import drain_body
from ...core.routing import vendor_router
from ...core.urls import public_base
from . import auth, disk_routes
from .downloads import content_type
from .envelope import begin, call, ok, read_params, render, render_xml
from .errors import Pan123Error, S3Error
from .rules import DISK, DOWNLOAD_PREFIX, OSS, S3_PREFIX, SELF_PREFIX
from .wire import Params

router = vendor_router("pan123", render, internal=Pan123Error.INTERNAL, invalid=Pan123Error.FAILED)
storage_router = vendor_router("pan123", render_xml, internal=S3Error.INTERNAL, invalid=S3Error.ACCESS_DENIED)


# -- access token -------------------------------------------------------------------------
@router.post("/api/v1/access_token")
async def access_token(request: Request) -> Response:
    service = begin(request)
    auth.check_platform(request.headers.get("platform"))
    params = await read_params(request)
    client_id = params.string("clientID")
    journal.info().identify_tenant(client_id)
    client_secret = params.string("clientSecret")
    service.hit_limit(client_id, request.url.path)
    return ok(service.issue_token(client_id, client_secret))


# -- image hosting --------------------------------------------------------------------------
@router.post("/upload/v1/oss/file/mkdir")
async def oss_mkdir(request: Request) -> Response:
    service, tenant, p = await call(request)
    return ok(service.oss.mkdir(tenant, p.strings("name", allow_single=True), p.ident("parentID"), p.integer("type")))


@router.post("/upload/v1/oss/file/create")
async def oss_create(request: Request) -> Response:
    service, tenant, p = await call(request)
    return ok(service.uploads.create(tenant, OSS, p.ident("parentFileID"), p.string("filename"), p.string("etag"),
                                     p.integer("size"), type_=p.integer("type")))


# -- the slice steps of the v1 upload, the same for both spaces ------------------------------------
def _slice_steps(space: str, prefix: str, tag: str) -> None:
    """``get_upload_url``, ``list_upload_parts``, ``upload_complete`` and
    ``upload_async_result`` under ``prefix`` for ``space`` (routes named ``<tag>_...``)."""

    async def upload_url(request: Request) -> Response:
        service, tenant, p = await call(request)
        return ok(service.uploads.upload_url(tenant, space, p.string("preuploadID"), p.integer("sliceNo"),
                                             public_base(request)))

    async def list_parts(request: Request) -> Response:
        service, tenant, p = await call(request)
        return ok(service.uploads.list_parts(tenant, space, p.string("preuploadID")))

    async def complete(request: Request) -> Response:
        service, tenant, p = await call(request)
        return ok(service.uploads.complete(tenant, space, p.string("preuploadID")))

    async def async_result(request: Request) -> Response:
        service, tenant, p = await call(request)
        return ok(await service.uploads.async_result(tenant, space, p.string("preuploadID")))

    for step, handler in (("get_upload_url", upload_url), ("list_upload_parts", list_parts),
                          ("upload_complete", complete), ("upload_async_result", async_result)):
        router.add_api_route(f"{prefix}/{step}", handler, methods=["POST"], name=f"{tag}_{handler.__name__}")


_slice_steps(OSS, "/upload/v1/oss/file", "oss")


@router.post("/api/v1/oss/file/delete")
async def oss_delete(request: Request) -> Response:
    service, tenant, p = await call(request)
    service.oss.delete(tenant, p.strings("fileIDs"))
    return ok(None)


@router.get("/api/v1/oss/file/detail")
async def oss_detail(request: Request) -> Response:
    """``fileID`` from the query string; the document's own curl example sends it as a body."""
    service, tenant, p = await call(request)
    query = Params.of_query(list(request.query_params.multi_items()))
    file_id = query.string("fileID") if query.has("fileID") else p.ident("fileID")
    return ok(service.oss.detail(tenant, file_id, public_base(request)))


@router.post("/api/v1/oss/file/list")
async def oss_list(request: Request) -> Response:
    service, tenant, p = await call(request)
    return ok(service.oss.list_files(
        tenant, p.ident("parentFileId", required=False), p.integer("limit"),
        p.integer("startTime", required=False), p.integer("endTime", required=False),
        p.ident("lastFileId", required=False), p.integer("type"), public_base(request),
    ))


# -- cloud disk upload (the flow of the document's PHP demo) -----------------------------------
@router.post("/upload/v1/file/create")
async def disk_create(request: Request) -> Response:
    service, tenant, p = await call(request)
    parent, filename, etag, size = p.ident("parentFileID"), p.string("filename"), p.string("etag"), p.integer("size")
    duplicate = p.integer("duplicate", required=False, default=0) or 0
    if p.boolean("containDir", default=False):  # filename is a path; its folders are made
        parent, filename = service.disk.contain_dir(tenant, parent, filename)
    return ok(service.uploads.create(tenant, DISK, parent, filename, etag, size, duplicate))


_slice_steps(DISK, "/upload/v1/file", "disk")


# -- storage host: presigned PUT of one slice ---------------------------------------------------
@storage_router.put(S3_PREFIX + "/{key:path}")
async def put_slice(key: str, request: Request) -> Response:
    service = begin(request)
    body = request.stream()
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    upload_id = dict(auth.parse_query(raw_query)).get("uploadId", "")
    try:
        up = service.uploads.slice_upload(upload_id)
        journal.info().identify_tenant(service.uploads.slice_tenant(up, upload_id).client_id)
        host = request.headers.get("host", "")
        part_no, limit = service.uploads.slice_target(up, upload_id, "PUT", path, raw_query, host)
        md5 = await service.uploads.receive_slice(upload_id, part_no, limit, body)
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
    service = begin(request)
    dl = service.downloads.download(uid, name)
    journal.info().identify_tenant(dl.client_id)  # the link's owner: tenant-bound fault rules apply to it
    rng = _range(request.headers.get("range"), dl.size)
    start, end = rng if rng else (0, dl.size)
    headers = {
        "Content-Type": content_type(dl.name),
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
    return StreamingResponse(service.downloads.stream(dl, start, end), status_code=status, headers=headers)


@storage_router.api_route(DOWNLOAD_PREFIX + "/{uid}/{name}", methods=["GET", "HEAD"])
async def download(uid: str, name: str, request: Request) -> Response:
    return await _download(uid, name, request)


@storage_router.api_route(SELF_PREFIX + "/{uid}/{name}", methods=["GET", "HEAD"])
async def download_self(uid: str, name: str, request: Request) -> Response:
    return await _download(uid, name, request)


# -- the cloud disk's file management and upload v2 (disk_routes.py) ----------------------------
for _method, _path, _handler in disk_routes.ROUTES:
    router.add_api_route(_path, _handler, methods=[_method])


# -- wrong HTTP methods ------------------------------------------------------------------------
# A documented path called with another method answers the vendor's envelope (code 1, HTTP 200
# like every other refusal of the JSON API), or S3 XML on the storage host; never FastAPI's
# 405 {"detail"}. Starlette picks a route whose method matches before one whose path alone does,
# so these catch-alls only see the methods the real routes do not take.
async def _refuse_json(request: Request, allowed: str) -> None:
    begin(request)
    raise Pan123Error.FAILED(f"请求方法{request.method}不支持,应为{allowed}",
                             reason=f"method {request.method} not allowed (expects {allowed})")


async def _refuse_storage(request: Request, allowed: str) -> None:
    service = begin(request)
    if request.url.path.startswith(S3_PREFIX + "/"):
        # A presigned URL signs its method: another method fails the signature check (403),
        # as on S3, before anything else is said about it.
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?", 1)[0]
        upload_id = dict(auth.parse_query(raw_query)).get("uploadId", "")
        up = service.uploads.slice_upload(upload_id)
        journal.info().identify_tenant(service.uploads.slice_tenant(up, upload_id).client_id)
        service.uploads.slice_target(up, upload_id, request.method, path, raw_query, request.headers.get("host", ""))
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
    begin(request)
    await drain_body(request.stream())
    raise Pan123Error.NO_SUCH_PATH(reason=f"{request.method} {request.url.path} is not a 123pan open-platform path")


for _prefix in ("/api/", "/upload/"):
    router.add_api_route(_prefix + "{rest:path}", no_such_path, methods=list(METHODS), include_in_schema=False)
