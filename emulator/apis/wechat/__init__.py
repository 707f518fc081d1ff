"""WeChat Cloud Base storage. Tenants load now; the routes land with this API's own issue."""

from ...core.apis import ApiSpec, vendor_router
from .tenant import Tenant

router = vendor_router("wechat")

API = ApiSpec(name="wechat", title="WeChat Cloud Base storage", router=router, tenant_model=Tenant, implemented=False)
