"""Audit actions, named ``source:subject:action`` (the grammar warehouse uses for its events)."""

from __future__ import annotations

from enum import StrEnum


class AuditTag(StrEnum):
    REGISTRY_AGENCY_REGISTER = "registry:agency:register"
    REGISTRY_AGENCY_UPDATE = "registry:agency:update"
    REGISTRY_KEY_ADD = "registry:key:add"
    REGISTRY_KEY_VERIFY = "registry:key:verify"
    REGISTRY_KEY_VERIFY_FAIL = "registry:key:verify_fail"
    REGISTRY_KEY_REVOKE = "registry:key:revoke"
    REGISTRY_ENDPOINT_ADD = "registry:endpoint:add"
    REGISTRY_ENDPOINT_VERIFY = "registry:endpoint:verify"
    REGISTRY_ENDPOINT_VERIFY_FAIL = "registry:endpoint:verify_fail"
    REGISTRY_ENDPOINT_REVOKE = "registry:endpoint:revoke"
    REGISTRY_ADDRESS_REFUSED = "registry:address:refuse"
    AUTH_TOKEN_ISSUE = "auth:token:issue"  # noqa: S105 - an event name
    AUTH_TOKEN_REFUSE = "auth:token:refuse"  # noqa: S105 - an event name
    SUBJECT_CREATE = "subject:record:create"
    SUBJECT_ATTRIBUTE_CHANGE = "subject:attribute:change"
    CONSENT_GRANT = "consent:record:grant"
    CONSENT_WITHDRAW = "consent:record:withdraw"
    CONSENT_EXPIRE = "consent:record:expire"
    CONSENT_REFUSE = "consent:record:refuse"
    POLICY_DECISION = "policy:decision:evaluate"
    EXCHANGE_PLAN = "exchange:plan:create"
    EXCHANGE_SUBMIT = "exchange:envelope:submit"
    EXCHANGE_DELIVER = "exchange:envelope:deliver"
    EXCHANGE_ACK = "exchange:envelope:ack"
    EXCHANGE_PURGE = "exchange:envelope:purge"
    EXCHANGE_EXPIRE = "exchange:envelope:expire"
    EXCEPTION_REQUEST = "exception:grant:request"
    EXCEPTION_APPROVE = "exception:grant:approve"
    EXCEPTION_USE = "exception:grant:use"
    EXCEPTION_REFUSE = "exception:grant:refuse"
    AUDIT_VIEW = "audit:log:view"
    AUDIT_EXPORT = "audit:log:export"
    AUDIT_CHECKPOINT = "audit:checkpoint:sign"
    ADMIN_ACTION = "admin:operator:action"
    PORTAL_SIGN_IN = "portal:session:sign_in"
    PORTAL_SIGN_IN_FAIL = "portal:session:sign_in_fail"
    CONSOLE_SIGN_IN = "console:session:sign_in"
    CONSOLE_SIGN_IN_FAIL = "console:session:sign_in_fail"
