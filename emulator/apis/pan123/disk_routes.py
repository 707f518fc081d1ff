"""The cloud disk over HTTP: its file-management calls (logic in disk.py) and upload v2
(upload_v2.py). Parameters are read as real clients send them: the query string, a JSON
body, or a form body (also on GET, as the pan123 SDK sends them), names case-insensitively,
numbers and booleans also as text.

routes.py adds ``ROUTES`` to the 123pan router (before its wrong-method catch-alls)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from ...core.urls import public_base
from .disk import Disk
from .envelope import authed, call, ok
from .service import Pan123Service
from .tenant import Tenant
from .upload_v2 import origin
from .wire import Params

Handler = Callable[[Request], Awaitable[Response]]
ROUTES: list[tuple[str, str, Handler]] = []


class _Routes:
    @staticmethod
    def get(path: str) -> Callable[[Handler], Handler]:
        return _Routes.route("GET", path)

    @staticmethod
    def post(path: str) -> Callable[[Handler], Handler]:
        return _Routes.route("POST", path)

    @staticmethod
    def put(path: str) -> Callable[[Handler], Handler]:
        return _Routes.route("PUT", path)

    @staticmethod
    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            ROUTES.append((method, path, handler))
            return handler

        return add


disk_router = _Routes()


async def _params(request: Request) -> tuple[Disk, Pan123Service, Tenant, Params]:
    service, tenant, body = await call(request)
    query = Params.of_query(list(request.query_params.multi_items()))
    return service.disk, service, tenant, query.merged(body)


@disk_router.get("/api/v2/file/list")
async def list_v2(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return ok(disk.list_v2(
        tenant, p.ident("parentFileId"), p.integer("limit"), p.string("searchData", required=False),
        p.integer("searchMode", required=False), p.ident("lastFileId", required=False), p.boolean("trashed"),
    ))


@disk_router.get("/api/v1/file/list")
async def list_v1(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return ok(disk.list_v1(
        tenant, p.ident("parentFileId"), p.integer("page", required=False, default=1) or 1, p.integer("limit"),
        p.string("orderBy"),
        p.string("orderDirection"), bool(p.boolean("trashed", default=False)), p.string("searchData", required=False),
    ))


@disk_router.post("/upload/v1/file/mkdir")
async def mkdir(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return ok(disk.mkdir(tenant, p.string("name"), p.ident("parentID")))


@disk_router.get("/api/v1/file/detail")
async def detail(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return ok(disk.detail(tenant, p.ident("fileID")))


@disk_router.post("/api/v1/file/infos")
async def infos(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return ok(disk.infos(tenant, p.strings("fileIds")))


@disk_router.post("/api/v1/file/trash")
async def trash(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    disk.trash(tenant, p.strings("fileIDs"))
    return ok(None)


@disk_router.post("/api/v1/file/recover")
async def recover(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return ok(disk.recover(tenant, p.strings("fileIDs")))


@disk_router.post("/api/v1/file/recover/by_path")
async def recover_by_path(request: Request) -> Response:
    """``parentFileID`` as documented; p123client sends ``toParentFileID``."""
    disk, _, tenant, p = await _params(request)
    name = "parentFileID" if p.has("parentFileID") or not p.has("toParentFileID") else "toParentFileID"
    disk.recover(tenant, p.strings("fileIDs"), p.ident(name))
    return ok(None)


@disk_router.post("/api/v1/file/delete")
async def delete(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    disk.delete(tenant, p.strings("fileIDs"))
    return ok(None)


@disk_router.post("/api/v1/file/move")
async def move(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    disk.move(tenant, p.strings("fileIDs"), p.ident("toParentFileID"))
    return ok(None)


@disk_router.put("/api/v1/file/name")
async def rename_one(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    disk.rename(tenant, [(p.ident("fileId"), p.string("fileName"))])
    return ok(None)


@disk_router.post("/api/v1/file/rename")
async def rename_batch(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return ok(disk.rename_batch(tenant, p.strings("renameList")))


@disk_router.get("/api/v1/file/download_info")
async def download_info(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return ok(disk.download_info(tenant, p.ident("fileId"), public_base(request)))


@disk_router.get("/api/v1/user/info")
async def user_info(request: Request) -> Response:
    disk, _, tenant, _p = await _params(request)
    return ok(disk.user_info(tenant))


# -- upload v2 ----------------------------------------------------------------------------------
@disk_router.get("/upload/v2/file/domain")
async def domain(request: Request) -> Response:
    await authed(request)
    return ok([origin(public_base(request))])


@disk_router.post("/upload/v2/file/create")
async def create(request: Request) -> Response:
    service, tenant, body = await call(request)
    p = body.lenient()
    return ok(service.upload_v2.create(
        tenant, p.ident("parentFileID"), p.string("filename"), p.string("etag"), p.integer("size"),
        p.integer("duplicate", required=False, default=0) or 0, bool(p.boolean("containDir", default=False)),
        public_base(request),
    ))


@disk_router.post("/upload/v2/file/slice")
async def upload_slice(request: Request) -> Response:
    service, tenant = await authed(request)
    await service.upload_v2.slice(tenant, request)
    return ok(None)


@disk_router.post("/upload/v2/file/upload_complete")
async def complete(request: Request) -> Response:
    service, tenant, body = await call(request)
    return ok(await service.upload_v2.complete(tenant, body.string("preuploadID")))


@disk_router.post("/upload/v2/file/single/create")
async def single_create(request: Request) -> Response:
    service, tenant = await authed(request)
    return ok(await service.upload_v2.single(tenant, request))


@disk_router.post("/upload/v2/file/sha1_reuse")
async def sha1_reuse(request: Request) -> Response:
    service, tenant, body = await call(request)
    p = body.lenient()
    return ok(service.upload_v2.sha1_reuse(
        tenant, p.ident("parentFileID"), p.string("filename"), p.string("sha1"), p.integer("size"),
        p.integer("duplicate", required=False, default=0) or 0,
    ))
