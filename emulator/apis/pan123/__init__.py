"""123pan (123云盘) open platform: access token, image hosting (图床) folders, the six-step
presigned-PUT slice upload with 秒传, detail, list, delete and download links, and the
cloud-disk upload flow of the document's PHP demo."""

import secrets
from typing import Any

from ...core.contract import ApiSpec, ErrorFamily
from . import models  # noqa: F401  (registers the tables)
from .admin import router as admin_router
from .envelope import begin, render, render_xml
from .errors import Pan123Error, S3Error
from .listing import LISTING
from .routes import router
from .service import Pan123Service
from .tenant import Tenant


def worker_tenant(record: dict[str, Any], tag: str) -> dict[str, Any]:
    """A copy of a tenant record with a client id and secret of its own (testing/server.py)."""
    return {**record, "client_id": f"{record['client_id']}-{tag}", "client_secret": secrets.token_hex(16)}


API = ApiSpec(
    name="pan123",
    title="123pan open platform (image hosting)",
    router=router,
    tenant_model=Tenant,
    worker_tenant=worker_tenant,
    service_factory=Pan123Service,
    admin_router=admin_router,
    objects=LISTING,
    endpoints=lambda base: {"pan123": base},
    errors=(
        ErrorFamily(Pan123Error, render, prepare=begin),
        ErrorFamily(S3Error, render_xml, prepare=begin),
    ),
)
