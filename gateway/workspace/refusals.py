"""Plain words for a refusal: what a reason code means to a caseworker, and what to do next.

The sentences live in ``templates/workspace/reasons.html`` (``#reasons``): one gettext msgid per
sentence, translated in the five catalogues, each item naming the reason codes it explains (several
codes may share one sentence). The page carries them, so the script looks a code up and shows the
sentence in the caseworker's language; a code with no sentence (a newer gateway, a bug) gets
:data:`UNKNOWN`, a safe generic sentence, and the code itself.

This module reads the template so that tests (and anyone) can ask which codes have a sentence: every
reason the policy can give (``policies/data/reasons.json``) and every problem ``reason`` of plan,
preview approval, send, consent, PIN and exception approval must. Pure: nothing here reads a request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from .. import i18n

__all__ = ["REASONS_TEMPLATE", "UNKNOWN", "notice_kinds", "plain_words", "refusals", "sentences"]

REASONS_TEMPLATE = i18n.TEMPLATE_DIR / "workspace" / "reasons.html"
UNKNOWN = ("This was refused, and nothing was sent or changed. Note the code shown here and ask your "
           "administrator what it means.")
"""Rendered in ``home.html`` (``data-msg="reason-unknown"``); the test checks the two agree."""

_ITEM = re.compile(r'<li data-(reason|kind)="([a-z0-9_ ]+)">\{\{ _\("([^"]+)"\) \}\}</li>')


@cache
def _items() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {"reason": {}, "kind": {}}
    for attribute, codes, msgid in _ITEM.findall(REASONS_TEMPLATE.read_text(encoding="utf-8")):
        for code in codes.split():
            if code in found[attribute]:
                raise ValueError(f"{REASONS_TEMPLATE.name}: {code} has two sentences")
            found[attribute][code] = msgid
    return found


def refusals() -> dict[str, str]:
    """Reason code -> the msgid of its plain-words sentence (what it means, what to do next)."""
    return dict(_items()["reason"])


def notice_kinds() -> dict[str, str]:
    """Notice kind or alert code -> the msgid of its sentence."""
    return dict(_items()["kind"])


def plain_words(code: str) -> str:
    """The msgid for ``code``: its sentence, or :data:`UNKNOWN` for a code without one."""
    return refusals().get(code, UNKNOWN)


def sentences() -> Iterator[str]:
    """Every distinct refusal msgid, :data:`UNKNOWN` first (for the catalogue test)."""
    yield UNKNOWN
    yield from dict.fromkeys(refusals().values())
