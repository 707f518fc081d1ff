"""123pan open platform (image hosting). Tenants load now; the routes land with this API's own issue."""

from ...core.apis import ApiSpec, vendor_router
from .tenant import Tenant

router = vendor_router("pan123")

API = ApiSpec(name="pan123", title="123pan open platform (image hosting)", router=router, tenant_model=Tenant, implemented=False)
