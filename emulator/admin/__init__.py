"""The admin API under /_emulator (never a vendor path)."""

from .routes import router

__all__ = ["router"]
