"""Antelope object storage (ADFS). Tenants load now; the routes land with this API's own issue."""

from ...core.apis import ApiSpec, vendor_router
from .tenant import Tenant

router = vendor_router("antelope")

API = ApiSpec(name="antelope", title="Antelope object storage (ADFS)", router=router, tenant_model=Tenant, implemented=False)
