"""Safety flags, read the way the policy reads them (``data.gateway.model.flag``).

A safety flag (``is_child``, ``age_disputed``, ``asylum_claimed``, ``possible_refugee``,
``guardian_suspected``) restricts what may be shared when it is set. It counts as set unless it
is exactly ``false`` or null/absent: a mistyped value (``"false"``, ``0``, ``"no"``) fails closed,
in Python as in Rego (issue 21). ``0 == False`` in Python, so the test is by identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SAFETY_FLAGS = ("is_child", "age_disputed", "asylum_claimed", "possible_refugee", "guardian_suspected")


def flag_set(value: Any) -> bool:
    """True unless ``value`` is exactly ``False`` or ``None``."""
    return value is not False and value is not None


def subject_flag(subject: Mapping[str, Any] | None, name: str) -> bool:
    """The subject document's flag ``name`` (absent: not set)."""
    if not isinstance(subject, Mapping):
        return False
    return flag_set(subject.get(name))


def is_child(subject: Mapping[str, Any] | None) -> bool:
    """The policy's presumption of minority (CH1, CH1b): a child, or an age in dispute."""
    return subject_flag(subject, "is_child") or subject_flag(subject, "age_disputed")
