"""The safe-referral gateway service: API, CLI, persistence, policy adapter, audit, portals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> FastAPI:
    """Build the ASGI application (see :func:`gateway.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)
