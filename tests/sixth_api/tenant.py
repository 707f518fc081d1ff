from __future__ import annotations

from pydantic import Field

from emulator.core.tenants import TenantModel


class Tenant(TenantModel):
    key: str = Field(min_length=1)
    name: str = "someone"

    def identity(self) -> str:
        return self.key
