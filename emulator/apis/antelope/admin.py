"""Under /_emulator/antelope: mint access_tokens, and evidence for tests (objects, events)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...admin.bodies import read_json
from ...admin.errors import AdminError
from .auth import UINT32_MAX
from .routes import _service

router = APIRouter(tags=["admin: antelope"])


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str | None = None  # default: the first antelope tenant
    cid: int = Field(ge=0, le=UINT32_MAX)
    control: int = Field(0, ge=0, le=UINT32_MAX)
    expire: int | None = Field(None, ge=0, le=UINT32_MAX)  # unix seconds
    ttl: int | None = Field(None, ge=0)  # seconds from the emulator clock's now; default one day

    @model_validator(mode="after")
    def _one_deadline(self) -> TokenRequest:
        if self.expire is not None and self.ttl is not None:
            raise ValueError("give expire or ttl, not both")
        return self


def _invalid(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e.get("loc", ())) or "body"
    return f"{where}: {e.get('msg', 'invalid')}".removeprefix("body: Value error, ")


@router.post("/tokens", openapi_extra={"requestBody": {"content": {"application/json": {
    "schema": TokenRequest.model_json_schema()}}}})
async def mint(request: Request) -> JSONResponse:
    """An access_token for ``cid`` signed with the app's app_key:
    ``{"access_token", "app_id", "cid", "control", "expire"}``. A body that is not such an
    object (not JSON, NaN, numbers out of range, a lone surrogate) is 400 with the reason."""
    document = await read_json(request, empty={})
    try:
        body = TokenRequest.model_validate(document)
    except ValidationError as exc:
        raise AdminError(400, _invalid(exc)) from None
    try:
        answer = _service(request).mint(body.app_id, body.cid, body.control, body.expire, body.ttl)
    except LookupError as exc:
        raise AdminError(404, str(exc)) from None
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    return JSONResponse(answer)


@router.get("/objects")
async def objects(request: Request, app_id: str | None = None) -> list[dict[str, Any]]:
    """Every unexpired object (of one app if given), in obj_id order, with its expiry instant."""
    return _service(request).all_objects(app_id)


@router.get("/events")
async def events(request: Request, app_id: str | None = None, channel_id: int | None = None) -> list[dict[str, Any]]:
    """Every event appended to the channels (of one app / channel if given), with its offset."""
    return _service(request).all_events(app_id, channel_id)


@router.get("/objects/{obj_id}/content")
async def object_content(obj_id: str, request: Request) -> Response:
    """The stored bytes of an object, by obj_id (expired objects are gone)."""
    service = _service(request)
    found = next((o for o in service.all_objects() if o["obj_id"] == obj_id), None)
    if found is None:
        raise AdminError(404, f"no object {obj_id!r}")
    blob_id = service.blob_of(obj_id)
    return StreamingResponse(service.read(blob_id), media_type="application/octet-stream",
                             headers={"Content-Length": str(found["file_size"])})
