"""NextJoy upload-token service: signed calls that mint Qiniu upload tokens and manage
the tenant's bucket, plus the emulated Qiniu upload host those tokens work on."""

import secrets
from typing import Any

from fastapi import APIRouter

from ...core.contract import ApiSpec, ErrorFamily
from ...core.methods import refuse_other_methods
from ...core.statuses import allow_statuses
from . import (
    models,  # noqa: F401  (registers the tables)
    resumable_routes,  # noqa: F401  (adds the resumable paths to the upload host)
    routes,
)
from .admin import router as admin_router
from .errors import NextJoyError, QiniuError
from .listing import LISTING
from .service import UC_PATH, UP_PATH, NextJoyService
from .tenant import Tenant

refuse_other_methods(routes.nextjoy_router, routes.wrong_nextjoy_method)
refuse_other_methods(routes.qiniu_router, routes.wrong_qiniu_method)
router = APIRouter()
router.include_router(routes.nextjoy_router)
router.include_router(routes.qiniu_router)

# Qiniu answers with statuses above 599 (614 file exists, 631 no such bucket, ...).
allow_statuses(e.http_status for e in QiniuError.all() if e.http_status >= 600)


def worker_tenant(record: dict[str, Any], tag: str) -> dict[str, Any]:
    """A copy of a tenant record with a child id, bucket, secret and Qiniu keys of its own
    (testing/server.py)."""
    return {**record, "child_id": int(secrets.token_hex(3), 16) % 9_000_000 + 1_000_000,
            "app_secret": secrets.token_hex(16), "bucket": f"{record['bucket']}-{tag}",
            "qiniu_access_key": f"ak-{tag}-{secrets.token_hex(8)}", "qiniu_secret_key": secrets.token_hex(16)}


API = ApiSpec(
    name="nextjoy",
    title="NextJoy upload-token service",
    router=router,
    tenant_model=Tenant,
    worker_tenant=worker_tenant,
    service_factory=NextJoyService,
    admin_router=admin_router,
    objects=LISTING,
    endpoints=lambda base: {"nextjoy": base, "qiniu_upload": base + UP_PATH, "qiniu_uc": base + UC_PATH},
    errors=(
        ErrorFamily(NextJoyError, routes.render_nextjoy),
        ErrorFamily(QiniuError, routes.render_qiniu, prepare=routes._reqid),
    ),
)
