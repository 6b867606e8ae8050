"""Plain words for what is addressed to the agency: notices (``/v1/exceptions/notices``) and silent
alerts (``/v1/alerts``), by their kind or code, with what to do next.

The sentences live in ``templates/workspace/reasons.html`` (``#notice-kinds``), read by
:mod:`gateway.workspace.refusals`; a kind with no sentence shows :data:`UNKNOWN_NOTICE` and the kind.
"""

from __future__ import annotations

from collections.abc import Iterator

from .refusals import notice_kinds

__all__ = ["NOTICE_KINDS", "UNKNOWN_NOTICE", "sentences"]

UNKNOWN_NOTICE = ("A notice your agency must read. Note the code shown here and ask your administrator what it "
                  "means.")
"""Rendered in ``home.html`` (``data-msg="notice-unknown"``); the test checks the two agree."""

NOTICE_KINDS: dict[str, str] = notice_kinds()
"""Notice kind or alert code -> the msgid of its sentence."""


def sentences() -> Iterator[str]:
    yield UNKNOWN_NOTICE
    yield from dict.fromkeys(NOTICE_KINDS.values())
