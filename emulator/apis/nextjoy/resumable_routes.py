"""Qiniu's resumable uploads over HTTP, on the same emulated upload host as form uploads
(``/_qiniu/up``): v1 ``mkblk`` / ``bput`` / ``mkfile`` and v2 ``/buckets/.../uploads``,
each authorised by ``Authorization: UpToken <token>`` and answered as Qiniu answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request, Response

from ...core import jsonbody
from ...core.multipart import drain_body, read_limited
from ...core.urls import public_base
from . import auth
from .errors import QiniuError
from .resumable import MAX_CTX_LIST, Resumable
from .routes import _reqid, _service, qiniu_answer, qiniu_router
from .service import UP_PATH

V2_OBJECT = UP_PATH + "/buckets/{bucket}/objects/{encoded}/uploads"


def _grant(request: Request) -> auth.UploadGrant:
    """The upload token of ``Authorization: UpToken <token>`` (401 when absent or not UpToken)."""
    header = request.headers.get("authorization")
    if header is None or not header.strip():
        raise QiniuError.NO_TOKEN(reason="no Authorization header (expects UpToken <upload token>)")
    scheme, _, token = header.strip().partition(" ")
    if scheme != "UpToken":
        raise QiniuError.BAD_TOKEN(reason=f"Authorization scheme {scheme[:20]!r}: expects UpToken <upload token>")
    return _service(request).check_token(token)


async def _run(request: Request, call: Any) -> Response:
    """X-Reqid, the token, then the call (given the resumable service and the grant); on a
    refusal the rest of the body is drained so the client reads the answer."""
    headers = _reqid(request)
    body = request.stream()
    try:
        resumable = Resumable(_service(request))
        result = await call(resumable, _grant(request), body)
    except Exception:
        await drain_body(body)
        raise
    return qiniu_answer(result, headers)


async def _read(body: AsyncIterator[bytes], limit: int) -> bytes:
    return await read_limited(body, limit, lambda: QiniuError.BAD_REQUEST(reason=f"the body exceeds {limit} bytes"))


def _host(request: Request) -> str:
    return public_base(request) + UP_PATH


# -- v1 ----------------------------------------------------------------------------------


@qiniu_router.post(UP_PATH + "/mkblk/{block_size}")
async def make_block(block_size: str, request: Request) -> Response:
    async def call(r: Resumable, grant: auth.UploadGrant, body: AsyncIterator[bytes]) -> Any:
        r.expire()
        return await r.make_block(grant, block_size, body, _host(request))

    return await _run(request, call)


@qiniu_router.post(UP_PATH + "/bput/{ctx}/{offset}")
async def put_chunk(ctx: str, offset: str, request: Request) -> Response:
    async def call(r: Resumable, grant: auth.UploadGrant, body: AsyncIterator[bytes]) -> Any:
        return await r.put_chunk(grant, ctx, offset, body, _host(request))

    return await _run(request, call)


@qiniu_router.post(UP_PATH + "/mkfile/{file_size}")
@qiniu_router.post(UP_PATH + "/mkfile/{file_size}/{pairs:path}")
async def make_file(file_size: str, request: Request, pairs: str = "") -> Response:
    async def call(r: Resumable, grant: auth.UploadGrant, body: AsyncIterator[bytes]) -> Any:
        return await r.make_file(grant, file_size, pairs, await _read(body, MAX_CTX_LIST))

    return await _run(request, call)


# -- v2 ----------------------------------------------------------------------------------


@qiniu_router.post(V2_OBJECT)
async def initiate(bucket: str, encoded: str, request: Request) -> Response:
    async def call(r: Resumable, grant: auth.UploadGrant, body: AsyncIterator[bytes]) -> Any:
        await drain_body(body)
        return r.initiate(grant, bucket, encoded)

    return await _run(request, call)


@qiniu_router.put(V2_OBJECT + "/{upload_id}/{part_number}")
async def upload_part(bucket: str, encoded: str, upload_id: str, part_number: str, request: Request) -> Response:
    async def call(r: Resumable, grant: auth.UploadGrant, body: AsyncIterator[bytes]) -> Any:
        return await r.upload_part(grant, bucket, encoded, upload_id, part_number,
                                   request.headers.get("content-md5"), body)

    return await _run(request, call)


@qiniu_router.post(V2_OBJECT + "/{upload_id}")
async def complete(bucket: str, encoded: str, upload_id: str, request: Request) -> Response:
    async def call(r: Resumable, grant: auth.UploadGrant, body: AsyncIterator[bytes]) -> Any:
        raw = await _read(body, MAX_CTX_LIST)
        try:
            document = jsonbody.loads(raw)
        except json.JSONDecodeError as exc:
            raise QiniuError.BAD_REQUEST(reason=f"the body is not JSON: {exc}") from None
        return await r.complete(grant, bucket, encoded, upload_id, document)

    return await _run(request, call)


@qiniu_router.delete(V2_OBJECT + "/{upload_id}")
async def abort(bucket: str, encoded: str, upload_id: str, request: Request) -> Response:
    async def call(r: Resumable, grant: auth.UploadGrant, body: AsyncIterator[bytes]) -> Any:
        await drain_body(body)
        return r.abort(grant, bucket, encoded, upload_id)

    return await _run(request, call)


@qiniu_router.get(V2_OBJECT + "/{upload_id}")
async def list_parts(bucket: str, encoded: str, upload_id: str, request: Request) -> Response:
    async def call(r: Resumable, grant: auth.UploadGrant, body: AsyncIterator[bytes]) -> Any:
        q = request.query_params
        return r.list_parts(grant, bucket, encoded, upload_id, q.get("max-parts"), q.get("part-number-marker"))

    return await _run(request, call)

