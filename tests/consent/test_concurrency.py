"""A withdrawal is seen by every lookup that starts after it committed, under concurrent load (CR14, CR33).

Readers run in their own threads, sessions and connections while another thread withdraws;
every lookup records when it started. None that started after the withdrawal committed may
return the withdrawn consent. Nothing is cached, so this holds on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from consent import Actor
from consent.clock import FixedClock
from consent.vocabulary import ActorKind, Channel
from gateway.consent_api.adapters import consent_service
from gateway.context import GatewayContext
from tests.consent.conftest import Auth

READERS = 4
Lookup = tuple[float, float, bool]  # started, finished, saw the consent


def _run_readers(lookup: Callable[[], bool], withdraw: Callable[[], None]) -> tuple[list[Lookup], float, float]:
    results: list[Lookup] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            deadline = time.monotonic() + 30  # bounded even if the main thread dies
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.perf_counter()
                seen = lookup()
                with lock:
                    results.append((started, time.perf_counter(), seen))
        except BaseException as exc:  # surfaced below, never swallowed
            errors.append(exc)

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(READERS)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    began = time.perf_counter()
    withdraw()
    committed = time.perf_counter()
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return results, began, committed


@pytest.mark.rule("CR14", "CR33", "S04")
def test_cr14_no_lookup_started_after_the_commit_sees_the_withdrawn_consent(
    ctx: GatewayContext, new_subject: Callable[..., str], grant: Callable[..., dict[str, Any]], clock: FixedClock
) -> None:
    """CR14: service-level readers in parallel; the withdrawal's commit is the cut-off."""
    sid = new_subject()
    cid = grant(sid, purpose="data_sharing", recipients=[{"agency_id": "clinic"}])["consent"]["id"]

    def lookup() -> bool:
        with ctx.sessions() as session:
            return cid in consent_service(ctx, session).in_force_ids(sid, "data_sharing", "clinic")

    def withdraw() -> None:
        with ctx.sessions() as session, session.begin():
            consent_service(ctx, session).withdraw(
                cid, actor=Actor(kind=ActorKind.AGENCY, agency_id="ngo", user="staff-1"), channel=Channel.PORTAL,
                agency_id="ngo")

    results, began, committed = _run_readers(lookup, withdraw)
    before = [r for r in results if r[1] < began]
    after = [r for r in results if r[0] > committed]
    assert before and all(seen for _, _, seen in before), "readers saw the consent before the withdrawal"
    assert after, "no lookup ran after the withdrawal"
    assert not [r for r in after if r[2]], "a lookup that started after the commit saw the withdrawn consent"
    # And one millisecond later, on the decision clock.
    clock.advance(timedelta(milliseconds=1))
    assert not lookup()


@pytest.mark.rule("CR14", "CR33")
def test_cr14_concurrent_api_requests_never_see_a_withdrawn_consent(
    client: TestClient, auth: Auth, new_subject: Callable[..., str], grant: Callable[..., dict[str, Any]]
) -> None:
    """CR14: the same through the HTTP API: concurrent GET in_force requests while another request withdraws."""
    sid = new_subject()
    cid = grant(sid, purpose="data_sharing", recipients=[{"agency_id": "clinic"}])["consent"]["id"]
    headers = auth("ngo")
    url = f"/v1/subjects/{sid}/consents?in_force=true&purpose=data_sharing&recipient=clinic"

    def lookup() -> bool:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        return cid in [c["id"] for c in response.json()]

    def withdraw() -> None:
        response = client.post(f"/v1/consents/{cid}/withdraw", headers=headers,
                               json={"channel": "portal"})
        assert response.status_code == 200, response.text

    # The answer arrives after the commit, so "started after the answer" is after the commit.
    results, began, answered = _run_readers(lookup, withdraw)
    after = [r for r in results if r[0] > answered]
    assert [r for r in results if r[1] < began and r[2]], "readers saw the consent before the withdrawal"
    assert after and not [r for r in after if r[2]]
