"""The cloud disk's file-management calls over HTTP (logic in disk.py). Parameters are read
as real clients send them: the query string, a JSON body, or a form body (also on GET, as
the pan123 SDK sends them), names case-insensitively, numbers and booleans also as text.

routes.py adds ``ROUTES`` to the 123pan router (before its wrong-method catch-alls)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from ...core.urls import public_base
from .disk import Disk
from .service import Pan123Service
from .tenant import Tenant
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
    from .routes import _call  # routes.py includes this module's router at its end

    service, tenant, body = await _call(request)
    query = Params.of_query(list(request.query_params.multi_items()))
    return service.disk, service, tenant, query.merged(body)


def _ok(data: object) -> Response:
    from .routes import ok

    return ok(data)


@disk_router.get("/api/v2/file/list")
async def list_v2(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return _ok(disk.list_v2(
        tenant, p.ident("parentFileId"), p.integer("limit"), p.string("searchData", required=False),
        p.integer("searchMode", required=False), p.ident("lastFileId", required=False), p.boolean("trashed"),
    ))


@disk_router.get("/api/v1/file/list")
async def list_v1(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return _ok(disk.list_v1(
        tenant, p.ident("parentFileId"), p.integer("page", required=False, default=1) or 1, p.integer("limit"), p.string("orderBy"),
        p.string("orderDirection"), bool(p.boolean("trashed", default=False)), p.string("searchData", required=False),
    ))


@disk_router.post("/upload/v1/file/mkdir")
async def mkdir(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return _ok(disk.mkdir(tenant, p.string("name"), p.ident("parentID")))


@disk_router.get("/api/v1/file/detail")
async def detail(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return _ok(disk.detail(tenant, p.ident("fileID")))


@disk_router.post("/api/v1/file/infos")
async def infos(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return _ok(disk.infos(tenant, p.strings("fileIds")))


@disk_router.post("/api/v1/file/trash")
async def trash(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    disk.trash(tenant, p.strings("fileIDs"))
    return _ok(None)


@disk_router.post("/api/v1/file/recover")
async def recover(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return _ok(disk.recover(tenant, p.strings("fileIDs")))


@disk_router.post("/api/v1/file/recover/by_path")
async def recover_by_path(request: Request) -> Response:
    """``parentFileID`` as documented; p123client sends ``toParentFileID``."""
    disk, _, tenant, p = await _params(request)
    name = "parentFileID" if p.has("parentFileID") or not p.has("toParentFileID") else "toParentFileID"
    disk.recover(tenant, p.strings("fileIDs"), p.ident(name))
    return _ok(None)


@disk_router.post("/api/v1/file/delete")
async def delete(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    disk.delete(tenant, p.strings("fileIDs"))
    return _ok(None)


@disk_router.post("/api/v1/file/move")
async def move(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    disk.move(tenant, p.strings("fileIDs"), p.ident("toParentFileID"))
    return _ok(None)


@disk_router.put("/api/v1/file/name")
async def rename_one(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    disk.rename(tenant, [(p.ident("fileId"), p.string("fileName"))])
    return _ok(None)


@disk_router.post("/api/v1/file/rename")
async def rename_batch(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return _ok(disk.rename_batch(tenant, p.strings("renameList")))


@disk_router.get("/api/v1/file/download_info")
async def download_info(request: Request) -> Response:
    disk, _, tenant, p = await _params(request)
    return _ok(disk.download_info(tenant, p.ident("fileId"), public_base(request)))


@disk_router.get("/api/v1/user/info")
async def user_info(request: Request) -> Response:
    disk, _, tenant, _p = await _params(request)
    return _ok(disk.user_info(tenant))
