"""Imports every table module so that ``Base.metadata`` is complete (Alembic and tests use it)."""

from __future__ import annotations

from consent import models as _consent_models
from consent import notices as _consent_notices
from consent import portal_access as _consent_portal_access
from consent import subjects as _consent_subjects
from consent.orm import Base

from . import accounts as _accounts
from . import retention_models as _retention_models
from .audit import models as _audit_models
from .audit import redaction as _audit_redaction
from .audit import subject_keys as _subject_keys
from .auth import models as _auth_models
from .exceptions import models as _exceptions_models
from .exchange import models as _exchange_models
from .linkage import models as _linkage_models
from .nrm import models as _nrm_models
from .portal import models as _portal_models
from .registry import models as _registry_models
from .requests import models as _requests_models
from .staff import models as _staff_models
from .statistics import models as _statistics_models
from .web import models as _web_models

__all__ = ["Base", "metadata"]

metadata = Base.metadata
_loaded = (_accounts, _audit_models, _auth_models, _exceptions_models, _exchange_models, _linkage_models,
           _nrm_models, _portal_models, _registry_models, _web_models, _statistics_models,
           _staff_models, _requests_models, _audit_redaction, _subject_keys, _retention_models)
_consent_tables = (_consent_models, _consent_notices, _consent_portal_access, _consent_subjects)
