"""The base of every API's tenant record (a leaf: pydantic only), shared by the contract
(core/contract.py) and the tenant store (core/tenants.py) without either importing the other."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TenantModel(BaseModel):
    """Base of every API's tenant record: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")

    def identity(self) -> str:
        """The value that identifies this tenant within its API."""
        raise NotImplementedError
