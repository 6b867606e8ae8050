"""A hypothesis state machine: random grant / withdraw / expire / re-grant / supersede sequences,
checking after every step that "in force" equals a plain in-memory model (CR14, CR32, CR33)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test

from consent import Actor, ConflictError, ConsentDraft, ConsentService, RecipientClaim, create_subject
from consent.clock import FixedClock
from consent.policy_view import consent_documents
from consent.service import consent_documents_in_force
from consent.vocabulary import ActorKind, CapacityStatus, Channel, ExplainedItem, Purpose, ScopeTier
from gateway.consent_api.adapters import GatewayAuditSink, RegistryDirectory, receipt_signer, secret_hasher
from gateway.context import GatewayContext
from tests.conftest import T0, Registry

PURPOSES = (Purpose.SHELTER, Purpose.HEALTHCARE)
RECIPIENTS = ("shelter", "clinic", "iom")
ACTOR = Actor(kind=ActorKind.AGENCY, agency_id="ngo", role="ngo", user="staff-1")


@dataclass
class Modelled:
    purpose: str
    recipients: frozenset[str]
    obtained_at: datetime
    expires_at: datetime
    ended: bool = False

    def in_force(self, at: datetime) -> bool:
        return not self.ended and self.obtained_at <= at < self.expires_at


def make_machine(ctx: GatewayContext) -> type[RuleBasedStateMachine]:
    class ConsentMachine(RuleBasedStateMachine):
        consents = Bundle("consents")

        def __init__(self) -> None:
            super().__init__()
            self.clock = FixedClock(T0)
            self.model: dict[str, Modelled] = {}
            with self.service() as svc:
                owner = svc.directory.get("ngo")
                assert owner is not None
                self.subject_id = create_subject(
                    svc.session, owner=owner, attributes={"age_band": "25-34"}, directory=svc.directory,
                    actor=ACTOR, now=self.clock.now(), audit=svc.audit,
                ).id

        @contextmanager
        def service(self) -> Iterator[ConsentService]:
            with ctx.sessions() as session, session.begin():
                yield ConsentService(session, clock=self.clock, audit=GatewayAuditSink(self.clock),
                                     directory=RegistryDirectory(session), signer=receipt_signer(ctx),
                                     hasher=secret_hasher(ctx))

        def draft(self, purpose: str, recipients: frozenset[str], ttl_minutes: int,
                  supersedes: str | None = None) -> ConsentDraft:
            now = self.clock.now()
            return ConsentDraft(
                subject_id=self.subject_id, purposes=(Purpose(purpose),),
                recipients=tuple(RecipientClaim(r) for r in sorted(recipients)), scope=ScopeTier.RELEVANT_PORTION,
                data_classes=("D5",), explained_items=frozenset(ExplainedItem), notice_version="v1", language="en",
                channel=Channel.IN_PERSON, capacity=CapacityStatus.HAS_CAPACITY, obtained_by="staff-1",
                obtained_by_role="advocate", obtained_at=now, expires_at=now + timedelta(minutes=ttl_minutes),
                supersedes=supersedes,
            )

        def _grant(self, purpose: str, recipients: frozenset[str], ttl_minutes: int) -> str:
            with self.service() as svc:
                record = svc.grant(self.draft(purpose, recipients, ttl_minutes), agency_id="ngo", actor=ACTOR).record
            now = self.clock.now()
            self.model[record.id] = Modelled(purpose, recipients, now, now + timedelta(minutes=ttl_minutes))
            return record.id

        @rule(target=consents, purpose=st.sampled_from(PURPOSES),
              recipients=st.frozensets(st.sampled_from(RECIPIENTS), min_size=1), ttl=st.integers(1, 600))
        def grant(self, purpose: str, recipients: frozenset[str], ttl: int) -> str:
            return self._grant(purpose, recipients, ttl)

        @rule(target=consents, previous=consents, ttl=st.integers(1, 600))
        def regrant(self, previous: str, ttl: int) -> str:
            """Grant again what an earlier (perhaps withdrawn or expired) consent covered."""
            old = self.model[previous]
            return self._grant(old.purpose, old.recipients, ttl)

        @rule(consent=consents)
        def withdraw(self, consent: str) -> None:
            expected = self.model[consent].in_force(self.clock.now())
            try:
                with self.service() as svc:
                    svc.withdraw(consent, actor=ACTOR, channel=Channel.PORTAL, agency_id="ngo")
            except ConflictError:
                assert not expected, "a consent in force could not be withdrawn"
                return
            assert expected, "a consent not in force was withdrawn"
            self.model[consent].ended = True

        @rule(target=consents, consent=consents, recipients=st.frozensets(st.sampled_from(RECIPIENTS), min_size=1),
              ttl=st.integers(1, 600))
        def supersede(self, consent: str, recipients: frozenset[str], ttl: int):  # type: ignore[no-untyped-def]
            old = self.model[consent]
            expected = old.in_force(self.clock.now())
            try:
                with self.service() as svc:
                    draft = self.draft(old.purpose, recipients, ttl, supersedes=consent)
                    record = svc.grant(draft, agency_id="ngo", actor=ACTOR).record
            except ConflictError:
                assert not expected, "a consent in force could not be amended"
                return multiple()
            assert expected, "a consent not in force was amended"
            old.ended = True
            now = self.clock.now()
            self.model[record.id] = Modelled(old.purpose, recipients, now, now + timedelta(minutes=ttl))
            return record.id

        @rule(minutes=st.integers(0, 240), ms=st.integers(0, 999))
        def advance(self, minutes: int, ms: int) -> None:
            """Time passes: some consents expire."""
            self.clock.advance(timedelta(minutes=minutes, milliseconds=ms))

        @rule()
        def observe_expiries(self) -> None:
            with self.service() as svc:
                svc.record_expiries(subject_id=self.subject_id)

        @invariant()
        def in_force_equals_the_model(self) -> None:
            now = self.clock.now()
            with self.service() as svc:
                for purpose in PURPOSES:
                    for recipient in RECIPIENTS:
                        expected = {i for i, m in self.model.items()
                                    if m.purpose == purpose and recipient in m.recipients and m.in_force(now)}
                        assert set(svc.in_force_ids(self.subject_id, purpose, recipient)) == expected, (
                            purpose, recipient)
                records = svc.in_force_for_subject(self.subject_id)
                everything = {r.id for r in records}
                # The decision's single-statement read agrees with the records, fragment for fragment.
                assert consent_documents_in_force(svc.session, self.subject_id, at=now) == consent_documents(records)
            assert everything == {i for i, m in self.model.items() if m.in_force(now)}

    return ConsentMachine


@pytest.mark.rule("CR14", "CR32", "CR33")
def test_in_force_always_equals_the_model(ctx: GatewayContext, registry: Registry) -> None:
    """CR14/CR32/CR33: whatever the sequence, "in force" is exactly what the model says."""
    run_state_machine_as_test(
        make_machine(ctx),
        settings=settings(max_examples=60, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
