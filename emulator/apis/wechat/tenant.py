"""Tenant record of the WeChat Cloud Base storage API, in the fixture format of CONTRACT.md."""

from __future__ import annotations

from pydantic import Field

from ...core.tenants import TenantModel


class Tenant(TenantModel):
    appid: str = Field(min_length=1)
    secret: str = Field(min_length=1)
    envs: list[str] = Field(default_factory=list)

    def identity(self) -> str:
        return self.appid
