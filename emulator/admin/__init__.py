"""The admin API under /_emulator (never a vendor path)."""

from .dashboard import router as _dashboard_router
from .faults import router as _faults_router
from .objects import router as _objects_router
from .preload import router as _preload_router
from .routes import router
from .snapshots import router as _snapshots_router

router.include_router(_preload_router)
router.include_router(_faults_router)
router.include_router(_snapshots_router)
router.include_router(_objects_router)

router.include_router(_dashboard_router)

__all__ = ["router"]
