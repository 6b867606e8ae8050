"""The statistics service as the API and the console use it: who may ask, refresh, cost, release, files.

Only two kinds of requester: agencies of kind ``rapporteur`` or ``monitoring_body`` (API), and
console staff with the role ``rapporteur`` or ``monitoring_body``. Everyone else is refused, and
the refusal is audited with its reason, as is every refused release.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.log import Actor, AuditEvent, record_refusal
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..settings import Settings
from . import ledger
from .dimensions import DIMENSIONS, Granularity, Source
from .models import StatRelease
from .release import Cost, Released, ReleasePolicy, StatisticsRefused, TableRequest, cost, release
from .store import UNIT_LABEL, UnitKey, refresh_all

__all__ = ["STATISTICS_ROLES", "StatisticsService", "policy_of"]

STATISTICS_ROLES = frozenset({"rapporteur", "monitoring_body"})
"""Agency kinds and staff roles that may ask for statistics."""


def policy_of(settings: Settings) -> ReleasePolicy:
    return ReleasePolicy(
        budget_per_year=settings.statistics_budget_per_year, default_epsilon=settings.statistics_default_epsilon,
        k=settings.statistics_k, max_contributions=settings.statistics_max_contributions,
        max_cells=settings.statistics_max_cells, home_country=settings.statistics_home_country,
    )


@dataclass(frozen=True)
class StatisticsService:
    ctx: GatewayContext

    @property
    def policy(self) -> ReleasePolicy:
        return policy_of(self.ctx.settings)

    @property
    def units(self) -> UnitKey:
        return UnitKey(self.ctx.at_rest_key(UNIT_LABEL))

    def refresh(self) -> int:
        """Bring the store up to date with the audit log (idempotent; also run by the scheduler)."""
        return refresh_all(self.ctx.sessions, self.units, home_country=self.policy.home_country,
                           now=self.ctx.clock.now())

    def refuse(self, actor: Actor, reason: str, details: dict[str, Any], request_id: str | None = None) -> None:
        record_refusal(self.ctx.sessions, AuditEvent(AuditTag.STATISTICS_REFUSE, decision="deny", reason=reason,
                                                     purpose="statistics", details=details),
                       actor=actor, at=self.ctx.clock.now(), request_id=request_id)

    def permitted(self, actor: Actor, role: str | None, request_id: str | None = None) -> bool:
        """Whether ``role`` may ask; a refusal is audited."""
        if role in STATISTICS_ROLES:
            return True
        self.refuse(actor, "statistics_role_required", {"role": role}, request_id)
        return False

    def parse(self, raw: dict[str, Any], actor: Actor, request_id: str | None = None) -> TableRequest:
        try:
            return TableRequest.parse(raw, self.policy)
        except StatisticsRefused as exc:
            self.refuse(actor, exc.reason, {"stage": "request"}, request_id)
            raise

    def cost(self, request: TableRequest) -> Cost:
        with self.ctx.sessions() as session, session.begin():
            return cost(session, request, self.policy)

    def release(self, request: TableRequest, actor: Actor, request_id: str | None = None) -> Released:
        """Refresh the store, then release (one transaction: budget, table, signature, audit entry)."""
        self.refresh()
        try:
            with self.ctx.sessions() as session, session.begin():
                return release(session, request, self.policy, seed=self.ctx.signing_seed, actor=actor,
                               now=self.ctx.clock.now(), request_id=request_id)
        except StatisticsRefused as exc:
            self.refuse(actor, exc.reason, {**request.describe(), "epsilon": request.epsilon, **exc.extra},
                        request_id)
            raise

    def budget(self, years: list[str]) -> dict[str, float]:
        with self.ctx.sessions() as session, session.begin():
            left = ledger.remaining(session, years, self.policy.budget_micro)
        return {y: v / ledger.MICRO for y, v in left.items()}

    def recent(self, limit: int = 20) -> list[StatRelease]:
        with self.ctx.sessions() as session:
            rows = list(session.scalars(select(StatRelease).order_by(StatRelease.released_at.desc(),
                                                                     StatRelease.id).limit(limit)))
            session.expunge_all()
            return rows

    @staticmethod
    def get(session: Session, release_id: str) -> StatRelease | None:
        return session.get(StatRelease, release_id[:40])

    def catalogue(self) -> dict[str, Any]:
        """What may be asked, with the defaults: public information."""
        policy = self.policy
        return {
            "sources": {str(s): [d.name for d in DIMENSIONS.values() if s in d.sources] for s in Source},
            "dimensions": {d.name: {"label": d.label, "values": list(d.values),
                                    "sources": sorted(str(s) for s in d.sources)} for d in DIMENSIONS.values()},
            "granularities": [str(g) for g in Granularity],
            "defaults": {"epsilon": policy.default_epsilon, "delta": 0, "k": policy.k,
                         "budget_per_year": policy.budget_per_year, "max_contributions": policy.max_contributions,
                         "max_cells": policy.max_cells},
        }
