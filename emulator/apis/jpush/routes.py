"""JPush file API over HTTP: /v3/files. Parses the vendor's wire format, calls the
service, answers JPush's JSON and rate-limit headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from ...core import journal
from ...core.errors import VendorError
from ...core.methods import refuse_other_methods, refuse_with
from ...core.multipart import MultipartError, MultipartReader, drain_body
from ...core.ratelimit import Decision
from ...core.routing import vendor_router
from ...core.runtime import emulator_of
from .errors import JPushError
from .service import JPushService, ReceivedFile
from .tenant import Tenant


def render(err: VendorError) -> Response:
    message = err.spec.message if err.detail is None else f"{err.spec.message}: {err.detail}"
    return JSONResponse(
        {"error": {"code": err.spec.code, "message": message}},
        status_code=err.spec.http_status,
        headers=err.extra.get("headers"),
    )


router = vendor_router("jpush", render, internal=JPushError.INTERNAL, invalid=JPushError.INVALID_PARAM)


def _service(request: Request) -> JPushService:
    """The jpush service serving this request: the API's one typed accessor of it."""
    return emulator_of(request).service_as("jpush", JPushService)


def _rate_headers(decision: Decision) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(decision.limit),
        "X-Rate-Limit-Remaining": str(decision.remaining),
        "X-Rate-Limit-Reset": str(decision.reset_seconds),
    }


def _admit(request: Request) -> tuple[JPushService, Tenant, dict[str, str]]:
    """Authenticate, then count the call against the app key's per-minute budget."""
    service = _service(request)
    tenant = service.authenticate(request.headers.get("authorization"))
    journal.info().identify_tenant(tenant.app_key)
    decision = service.hit_limit(tenant.app_key)
    headers = _rate_headers(decision)
    if not decision.allowed:
        raise JPushError.RATE_LIMITED(
            f"at most {decision.limit} file API calls a minute", headers=headers, reason="rate limit"
        )
    return service, tenant, headers


@router.post("/v3/files/{file_type}")
async def upload_file(file_type: str, request: Request) -> Response:
    body: AsyncIterator[bytes] = request.stream()
    received: ReceivedFile | None = None
    headers: dict[str, str] | None = None
    try:
        service, tenant, headers = _admit(request)
        service.check_type(file_type)
        try:
            reader = MultipartReader(body, request.headers.get("content-type"))
            ttl_raw: str | None = None
            async for part in reader.parts():
                if part.name == "filename":
                    if received is not None:
                        raise JPushError.INVALID_PARAM("filename is given more than once")
                    if not part.is_file:
                        raise JPushError.MISSING_PARAM("filename must be a file (multipart part with a file name)")
                    received = await service.receive_file(part.filename or "", part.stream())
                elif part.name == "ttl":
                    ttl_raw = await part.text(limit=64)
        except MultipartError as exc:
            if received is None:
                raise JPushError.MISSING_PARAM(f"no filename: {exc}") from None
            raise JPushError.INVALID_PARAM(str(exc)) from None
        if received is None:
            raise JPushError.MISSING_PARAM("the filename field is missing")
        result = service.create(tenant, file_type, received, service.parse_ttl(ttl_raw))
    except VendorError as err:
        if received is not None:
            _service(request).discard(received)
        if headers is not None:
            err.extra.setdefault("headers", headers)
        await drain_body(body)
        raise
    return JSONResponse(result, headers=headers)



@router.get("/v3/files")
async def list_files(request: Request) -> Response:
    service, tenant, headers = _admit(request)
    return JSONResponse(service.list_files(tenant.app_key), headers=headers)


@router.get("/v3/files/{file_id}")
async def get_file(file_id: str, request: Request) -> Response:
    service, tenant, headers = _admit(request)
    try:
        return JSONResponse(service.get_file(tenant.app_key, file_id), headers=headers)
    except VendorError as err:
        err.extra.setdefault("headers", headers)
        raise


@router.delete("/v3/files/{file_id}")
async def delete_file(file_id: str, request: Request) -> Response:
    service, tenant, headers = _admit(request)
    service.delete_file(tenant.app_key, file_id)
    return Response(status_code=200, content=b"", headers=headers)


refuse_other_methods(router, refuse_with(JPushError.METHOD_NOT_ALLOWED))
