"""NextJoy upload-token service. Tenants load now; the routes land with this API's own issue."""

from ...core.apis import ApiSpec, vendor_router
from .tenant import Tenant

router = vendor_router("nextjoy")

API = ApiSpec(name="nextjoy", title="NextJoy upload-token service", router=router, tenant_model=Tenant, implemented=False)
