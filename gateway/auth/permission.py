"""What an agency's access token may do: the OAuth2 scopes, one enum instead of bare strings.

The values are the wire values (the ``scope`` claim of a token, the ``scopes`` of an agency row,
the OpenAPI document), unchanged; a member *is* its string (:class:`enum.StrEnum`), so it compares,
joins and serialises as the scope it names, and a misspelt scope is a mypy error instead of a
permission nobody holds.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AGENCY_PERMISSIONS", "OPERATOR_PERMISSIONS", "Permission"]


class Permission(StrEnum):
    REGISTRY_READ = "registry:read"
    REGISTRY_ADMIN = "registry:admin"
    SUBJECTS_WRITE = "subjects:write"
    CONSENTS_WRITE = "consents:write"
    REFERRALS_WRITE = "referrals:write"
    REFERRALS_READ = "referrals:read"
    AUDIT_READ = "audit:read"

    @property
    def description(self) -> str:
        """One line for the OpenAPI document."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Permission.REGISTRY_READ: "Read the registry",
    Permission.REGISTRY_ADMIN: "Administer the registry (operator)",
    Permission.SUBJECTS_WRITE: "Create subjects",
    Permission.CONSENTS_WRITE: "Record and withdraw consents",
    Permission.REFERRALS_WRITE: "Plan and submit referrals",
    Permission.REFERRALS_READ: "Pull and acknowledge",
    Permission.AUDIT_READ: "Read the agency's own audit entries and proofs",
}

AGENCY_PERMISSIONS: tuple[Permission, ...] = (
    Permission.REGISTRY_READ, Permission.SUBJECTS_WRITE, Permission.CONSENTS_WRITE,
    Permission.REFERRALS_WRITE, Permission.REFERRALS_READ, Permission.AUDIT_READ,
)
"""What an agency registers with, unless its kind has its own list."""

OPERATOR_PERMISSIONS: tuple[Permission, ...] = (
    Permission.REGISTRY_READ, Permission.REGISTRY_ADMIN, Permission.AUDIT_READ,
)
"""What the gateway operator registers with."""
