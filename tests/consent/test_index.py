"""The in-force lookup is one query that the lookup index answers (no scan of consent tables)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from consent import in_force_ids_query
from gateway.context import GatewayContext


@pytest.mark.rule("CR14", "CR33")
def test_in_force_lookup_uses_the_lookup_index(ctx: GatewayContext, new_subject: Callable[..., str],
                                               grant: Callable[..., dict[str, Any]]) -> None:
    """The decision-time lookup stays an index range scan however many consents exist (see bench/consent.py)."""
    for _ in range(3):
        sid = new_subject()
        grant(sid)
        grant(sid, purpose="healthcare", recipients=[{"agency_id": "clinic"}, {"agency_id": "shelter"}])
    query = in_force_ids_query(sid, "healthcare", "clinic", ctx.clock.now())
    with ctx.sessions() as session, session.begin():
        dialect = session.get_bind().dialect
        sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if dialect.name == "sqlite":
            plan = "\n".join(str(row[-1]) for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "ix_consent_recipients_lookup" in plan, plan
            assert "SCAN consent_recipients" not in plan and "SCAN consent_records" not in plan, plan
        else:
            # Tiny test tables make a sequential scan cheapest; forbid it to see which index the planner has.
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(str(row[0]) for row in session.execute(text("EXPLAIN " + sql)))
            assert "ix_consent_recipients_lookup" in plan, plan
        assert len(session.execute(query).all()) == 1
