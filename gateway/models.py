"""Imports every table module so that ``Base.metadata`` is complete (Alembic and tests use it)."""

from __future__ import annotations

from consent.orm import Base

from . import accounts as _accounts
from .audit import models as _audit_models
from .auth import models as _auth_models
from .registry import models as _registry_models

__all__ = ["Base", "metadata"]

metadata = Base.metadata
_loaded = (_accounts, _audit_models, _auth_models, _registry_models)
