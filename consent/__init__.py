"""Consent records: granular, informed, revocable; with receipts the person keeps.

Public API (imports flow gateway -> consent -> crypto; nothing here imports the gateway or
a web framework). The gateway passes in what consent needs from it: an
:class:`AuditSink`, an :class:`AgencyDirectory`, a :class:`ReceiptSigner` and a clock.
"""

from __future__ import annotations

from .age import is_child
from .audit import Actor, AuditAction, AuditSink, MemoryAuditSink, record_refusal
from .directory import AgencyDirectory, AgencyInfo, StaticDirectory
from .errors import ConflictError, ConsentError, Failure, NotFoundError, RefusedError
from .models import ConsentEnding, ConsentReceipt, ConsentRecipient, ConsentRecord
from .notices import PersonNotice, notices_for, notify_consent_needed, notify_person
from .policy_view import consent_fragment, consents_fragment, subject_fragment
from .portal_access import IssuedCode, PortalAccess, ensure_access_code, verify_access_code
from .receipts import ReceiptSigner, verify_receipt
from .rules import ChildViews, ConsentDraft, GuardianConsent, Interpreter, RecipientClaim, validate
from .service import ConsentService, GrantResult, PersonNoticeView, WithdrawalResult, in_force_ids_query
from .subjects import (
    MandatedNoticeSpec,
    MandatedReporterNotice,
    Subject,
    SubjectAttributeChange,
    attribute_history,
    change_attributes,
    create_subject,
    get_subject,
    record_mandated_notice,
)

__all__ = [
    "Actor",
    "AgencyDirectory",
    "AgencyInfo",
    "AuditAction",
    "AuditSink",
    "ChildViews",
    "ConflictError",
    "ConsentDraft",
    "ConsentEnding",
    "ConsentError",
    "ConsentReceipt",
    "ConsentRecipient",
    "ConsentRecord",
    "ConsentService",
    "Failure",
    "GrantResult",
    "GuardianConsent",
    "Interpreter",
    "IssuedCode",
    "MandatedNoticeSpec",
    "MandatedReporterNotice",
    "MemoryAuditSink",
    "NotFoundError",
    "PersonNotice",
    "PersonNoticeView",
    "PortalAccess",
    "ReceiptSigner",
    "RecipientClaim",
    "RefusedError",
    "StaticDirectory",
    "Subject",
    "SubjectAttributeChange",
    "WithdrawalResult",
    "attribute_history",
    "change_attributes",
    "consent_fragment",
    "consents_fragment",
    "create_subject",
    "ensure_access_code",
    "get_subject",
    "in_force_ids_query",
    "is_child",
    "notices_for",
    "notify_consent_needed",
    "notify_person",
    "record_mandated_notice",
    "record_refusal",
    "subject_fragment",
    "validate",
    "verify_access_code",
    "verify_receipt",
]
