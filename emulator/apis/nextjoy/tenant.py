"""Tenant record of the NextJoy upload-token service API, in the fixture format of CONTRACT.md."""

from __future__ import annotations

from pydantic import Field

from ...core.tenants import TenantModel


class Tenant(TenantModel):
    appid: int
    child_id: int
    app_secret: str = Field(min_length=1)
    bucket: str = Field(min_length=1)
    qiniu_access_key: str = Field(min_length=1)
    qiniu_secret_key: str = Field(min_length=1)

    def identity(self) -> str:
        return f"{self.appid}:{self.child_id}"
