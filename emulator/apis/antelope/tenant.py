"""Tenant record of the Antelope object storage (ADFS) API, in the fixture format of CONTRACT.md."""

from __future__ import annotations

from pydantic import Field

from ...core.tenants import TenantModel


class Tenant(TenantModel):
    app_id: str = Field(min_length=1)
    app_key: str = Field(min_length=1)  # HMAC key of access_tokens; also the X-APP-Key of /v2/events
    area_id: int = Field(1, ge=0, le=255)  # "area_id | byte" in the document

    def identity(self) -> str:
        return self.app_id
