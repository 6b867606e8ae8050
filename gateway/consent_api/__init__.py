"""``/v1/subjects`` and ``/v1/consents``: the HTTP edge of the consent package."""

from __future__ import annotations

from .consents import router as consents_router
from .subjects import router as subjects_router

__all__ = ["consents_router", "subjects_router"]
