"""Person notices: append-only, codes and ids only, optionally deferred (CR32, S34)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from consent import notices_for, notify_consent_needed, notify_person
from consent.vocabulary import NoticeKind
from gateway.context import GatewayContext


@pytest.mark.rule("CR32", "S34")
def test_s34_consent_needed_notice_and_deferral(ctx: GatewayContext, new_subject: Callable[..., str]) -> None:
    """S34: a refused exchange for lack of consent tells the person; a deferred notice shows only later."""
    sid = new_subject()
    now = ctx.clock.now()
    with ctx.sessions() as session, session.begin():
        notify_consent_needed(session, sid, purpose="data_sharing", recipient_agency_id="clinic", now=now)
        notify_person(session, sid, NoticeKind.EXCEPTION_USED, now=now, details={"basis": "L4"},
                      defer_until=now + timedelta(days=2), defer_reason="safety_risk_now")
    with ctx.sessions() as session:
        assert [n.kind for n in notices_for(session, sid, at=now)] == ["consent_needed"]
        later = [n.kind for n in notices_for(session, sid, at=now + timedelta(days=2))]
        assert sorted(later) == ["consent_needed", "exception_used"]
        assert len(notices_for(session, sid)) == 2


@pytest.mark.parametrize("details", [
    {"note": "She is staying with her cousin in Rotterdam"},
    {"nested": {"name": "Ana Example"}},
    {"when": object()},
])
def test_notices_hold_codes_and_ids_never_text(ctx: GatewayContext, new_subject: Callable[..., str],
                                               details: dict[str, object]) -> None:
    sid = new_subject()
    with ctx.sessions() as session, session.begin(), pytest.raises(ValueError):
        notify_person(session, sid, NoticeKind.CONSENT_NEEDED, now=ctx.clock.now(), details=details)


def test_a_deferred_notice_needs_a_reason(ctx: GatewayContext, new_subject: Callable[..., str]) -> None:
    sid = new_subject()
    with ctx.sessions() as session, session.begin(), pytest.raises(ValueError):
        notify_person(session, sid, "notice_deferred", now=ctx.clock.now(), defer_until=ctx.clock.now())
    with ctx.sessions() as session, session.begin(), pytest.raises(ValueError):
        notify_person(session, sid, "not_a_kind", now=ctx.clock.now())
