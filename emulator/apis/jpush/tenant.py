"""Tenant record of the JPush file API, in the fixture format of CONTRACT.md."""

from __future__ import annotations

from pydantic import Field, model_validator

from ...core.tenants import TenantModel


class Tenant(TenantModel):
    app_key: str = Field(min_length=1)
    master_secret: str = Field(min_length=1)
    dev_key: str | None = None  # developer-level base64(dev_key:dev_secret) auth
    dev_secret: str | None = None
    file_vip: bool = False  # dev_key auth is refused with 1105 unless true

    @model_validator(mode="after")
    def _dev_pair(self) -> Tenant:
        if (self.dev_key is None) != (self.dev_secret is None):
            raise ValueError("dev_key and dev_secret go together")
        return self

    def identity(self) -> str:
        return self.app_key
