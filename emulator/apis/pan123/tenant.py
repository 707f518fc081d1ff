"""Tenant record of the 123pan open platform (image hosting) API, in the fixture format of CONTRACT.md."""

from __future__ import annotations

from pydantic import Field

from ...core.tenants import TenantModel


class Tenant(TenantModel):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    uid: int = Field(ge=1)

    def identity(self) -> str:
        return self.client_id
