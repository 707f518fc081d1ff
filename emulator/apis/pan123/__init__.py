"""123pan (123云盘) open platform: access token, image hosting (图床) folders, the six-step
presigned-PUT slice upload with 秒传, detail, list, delete and download links, and the
cloud-disk upload flow of the document's PHP demo."""

from ...core.apis import ApiSpec, ErrorFamily
from . import models  # noqa: F401  (registers the tables)
from . import routes
from .admin import router as admin_router
from .errors import Pan123Error, S3Error
from .routes import router
from .service import Pan123Service
from .tenant import Tenant

API = ApiSpec(
    name="pan123",
    title="123pan open platform (image hosting)",
    router=router,
    tenant_model=Tenant,
    service_factory=Pan123Service,
    admin_router=admin_router,
    endpoints=lambda base: {"pan123": base},
    errors=(
        ErrorFamily(Pan123Error, routes.render, prepare=routes._begin),
        ErrorFamily(S3Error, routes.render_xml, prepare=routes._begin),
    ),
)
