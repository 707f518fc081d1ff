"""What every 123pan handler shares (routes.py, disk_routes.py): the answers' envelopes
(the JSON API's ``{code, message, data, x-traceID}`` on HTTP 200, the storage host's
S3-style XML errors) and what a request goes through first: a fresh trace id, the
platform header, the access token, the endpoint's QPS, the uploads whose check ended,
then the body."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from ...core import journal
from ...core.errors import VendorError
from ...core.multipart import drain_body
from ...core.runtime import emulator_of
from . import auth
from .errors import Pan123Error
from .service import Pan123Service
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


def ok(data: Any) -> JSONResponse:
    journal.info().code = 0
    return JSONResponse({"code": 0, "message": "ok", "data": data, "x-traceID": _trace()})


def service_of(request: Request) -> Pan123Service:
    """The pan123 service serving this request: the API's one typed accessor of it."""
    return emulator_of(request).service_as("pan123", Pan123Service)


def begin(request: Request) -> Pan123Service:
    """Every request gets a fresh trace id (answered in the envelope, kept in the journal)."""
    service = service_of(request)
    journal.info().extra["x-traceID"] = service.emu.ids.uuid4() + TRACE_SUFFIX
    return service


async def read_params(request: Request) -> Params:
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


async def authed(request: Request) -> tuple[Pan123Service, Tenant]:
    """Platform header → access token → the endpoint's QPS, in that order."""
    service = begin(request)
    auth.check_platform(request.headers.get("platform"))
    tenant, config = service.access(request.headers.get("authorization"))
    journal.info().identify_tenant(tenant.client_id)
    service.hit_limit(tenant.client_id, request.url.path, config)
    await service.settle(tenant.client_id)  # uploads whose check ended become files first
    return service, tenant


async def call(request: Request) -> tuple[Pan123Service, Tenant, Params]:
    """:func:`authed`, then the body."""
    service, tenant = await authed(request)
    return service, tenant, await read_params(request)
