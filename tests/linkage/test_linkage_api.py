"""The gateway as linkage unit, through its API, on SQLite and PostgreSQL.

Agencies encode with the SDK (``connectors.linkage``) and a secret the gateway never sees; the
gateway reports a possible match to an agency whose subject's consent lets it ask and whose
match's consent lets the holder be named, to no other, and audits every question and answer.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.linkage import LinkageSecret, encode
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.linkage import service
from tests.conftest import Registry
from tests.linkage.conftest import (
    AMINA_ARABIC,
    AMINA_CYRILLIC,
    AMINA_LATIN,
    EPOCH,
    SOMEONE_ELSE,
    ask,
    enrol,
    new_subject,
)
from tests.support.pseudonyms import subject_of

Auth = Callable[..., dict[str, str]]


def _entries(ctx: GatewayContext, action: str) -> list[AuditEntry]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


@pytest.mark.rule("CR1")
def test_the_same_person_spelt_in_arabic_and_latin_is_reported_to_the_entitled_agency_only(
    client: TestClient, auth: Auth, ctx: GatewayContext, person: Callable[..., str],
) -> None:
    # The NGO knows her as "Amina Bakri"; the shelter wrote her name in Arabic, family name first;
    # the police wrote it in Cyrillic. Each subject's consent names who may be told.
    ngo_subject = person("ngo", AMINA_LATIN, names=["shelter", "iom", "police"])
    shelter_subject = person("shelter", AMINA_ARABIC, names=["ngo"])
    person("police", AMINA_CYRILLIC, names=["ngo"])
    person("iom", SOMEONE_ELSE, names=["ngo"])

    answer = ask(client, auth, "ngo", ngo_subject)
    assert [m["agency_id"] for m in answer["matches"]] == ["shelter"]
    found = answer["matches"][0]
    assert found["strength"] >= service.POSSIBLE and found["next_steps"] == ["information_request", "referral"]
    # An agency and a strength, never the shelter's subject id or anything about her.
    assert shelter_subject not in str(answer)
    assert set(found) == {"agency_id", "strength", "band", "match_id", "next_steps"}

    # The match id leads to the follow-up: the asker sees the holder, the holder its own subject.
    asker_view = client.get(f"/v1/linkage/matches/{found['match_id']}", headers=auth("ngo")).json()
    assert asker_view["holding_agency_id"] == "shelter" and asker_view["subject_id"] == ngo_subject
    holder_view = client.get(f"/v1/linkage/matches/{found['match_id']}", headers=auth("shelter")).json()
    assert holder_view["subject_id"] == shelter_subject and holder_view["asking_agency_id"] == "ngo"
    assert client.get(f"/v1/linkage/matches/{found['match_id']}", headers=auth("police")).status_code == 404

    # The question and the disclosure are both audited, the disclosure under the shelter's subject.
    question = _entries(ctx, "linkage:query:answer")[-1]
    assert subject_of(ctx, question.subject_id) == ngo_subject and question.decision == "allow"
    assert question.details["matches"][0]["agency_id"] == "shelter"
    disclosed = [e for e in _entries(ctx, "linkage:match:disclose") if e.decision == "allow"]
    assert [(subject_of(ctx, e.subject_id), e.recipient_agency_id) for e in disclosed] == [(shelter_subject, "ngo")]


@pytest.mark.rule("CR1")
def test_police_never_learn_a_match_even_with_a_consent_that_names_the_shelter(
    client: TestClient, auth: Auth, person: Callable[..., str],
) -> None:
    person("shelter", AMINA_ARABIC, names=["ngo", "police"])
    police_subject = person("police", AMINA_CYRILLIC, names=["shelter"])
    answer = ask(client, auth, "police", police_subject)
    # The police may ask (their subject's consent names the shelter), but no profile lets the
    # shelter's knowing her be told to the police: nothing, and nothing that says "withheld".
    assert answer["matches"] == []
    assert set(answer) == {"query_id", "subject_id", "epoch", "matches"}


def test_a_match_whose_own_consent_does_not_name_the_asker_is_withheld_silently(
    client: TestClient, auth: Auth, ctx: GatewayContext, person: Callable[..., str],
) -> None:
    ngo_subject = person("ngo", AMINA_LATIN, names=["shelter"])
    shelter_subject = person("shelter", AMINA_ARABIC, names=["clinic"])  # not the NGO
    assert ask(client, auth, "ngo", ngo_subject)["matches"] == []
    withheld = [e for e in _entries(ctx, "linkage:match:disclose") if e.decision == "deny"]
    assert [subject_of(ctx, e.subject_id) for e in withheld] == [shelter_subject]


def test_an_agency_without_consent_or_lawful_basis_gets_no_answer(
    client: TestClient, auth: Auth, ctx: GatewayContext, person: Callable[..., str], secret: LinkageSecret,
) -> None:
    person("shelter", AMINA_ARABIC, names=["iom"])
    # The IOM's subject consented to being looked for only towards the police: no profile, no basis.
    iom_subject = person("iom", AMINA_LATIN, names=["police"])
    refused = ask(client, auth, "iom", iom_subject, expect=403)
    assert refused["reason"] == "linkage_not_permitted" and "matches" not in refused
    entry = _entries(ctx, "linkage:query:refuse")[-1]
    assert subject_of(ctx, entry.subject_id) == iom_subject and entry.reason == "linkage_not_permitted"

    # No consent for the purpose at all: the key is not even stored.
    unconsented = new_subject(client, auth, "iom")
    problem = enrol(client, auth, "iom", unconsented, encode(AMINA_LATIN, secret), expect=422)
    assert problem["reason"] == "linkage_consent_missing"


def test_a_withdrawn_consent_stops_the_answers_at_once(
    client: TestClient, auth: Auth, person: Callable[..., str],
) -> None:
    ngo_subject = person("ngo", AMINA_LATIN, names=["shelter"])
    shelter_subject = person("shelter", AMINA_ARABIC, names=["ngo"])
    assert [m["agency_id"] for m in ask(client, auth, "ngo", ngo_subject)["matches"]] == ["shelter"]
    consents = client.get(f"/v1/subjects/{shelter_subject}/consents", headers=auth("shelter"))
    assert consents.status_code == 200, consents.text
    body = consents.json()
    records = body["consents"] if isinstance(body, dict) else body
    (linkage_consent,) = [c for c in records if c["purpose"] == "record_linkage"]
    withdrawn = client.post(f"/v1/consents/{linkage_consent['id']}/withdraw", headers=auth("shelter"), json={
        "channel": "in_person"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert ask(client, auth, "ngo", ngo_subject)["matches"] == []


def test_keys_of_another_secret_or_epoch_or_shape_are_refused(
    client: TestClient, auth: Auth, epoch: str, secret: LinkageSecret,
) -> None:
    first = new_subject(client, auth, "ngo", consent_names=["shelter"])
    second = new_subject(client, auth, "shelter", consent_names=["ngo"])
    enrol(client, auth, "ngo", first, encode(AMINA_LATIN, secret))
    # Another secret under the same epoch would never match anything: refused, not stored.
    other = encode(AMINA_ARABIC, LinkageSecret.generate(EPOCH))
    assert enrol(client, auth, "shelter", second, other, expect=409)["reason"] == "linkage_secret_mismatch"
    # Not balanced (half the bits set) or not the right length: not a key the SDK made.
    bad = encode(AMINA_ARABIC, secret).document()
    raw = bytearray(base64.b64decode(bad["clk"]))
    # Flip exactly one bit: the popcount moves by one, whatever the random secret made of the byte.
    raw[0] ^= 0x01
    for clk in (base64.b64encode(bytes(raw)).decode(), base64.b64encode(b"\x0f" * 128).decode(), "not base64!"):
        response = client.put(f"/v1/linkage/subjects/{second}/key", headers=auth("shelter"), json={**bad, "clk": clk})
        assert response.status_code == 422, response.text
        assert response.json()["reason"] == "linkage_key_invalid"
    # Someone else's subject: the same 404 as an absent one.
    assert enrol(client, auth, "shelter", first, encode(AMINA_ARABIC, secret), expect=404)["reason"] == \
        "unknown_subject"


def test_rotating_the_secret_deletes_the_old_keys_and_refuses_them(
    client: TestClient, auth: Auth, ctx: GatewayContext, person: Callable[..., str], secret: LinkageSecret,
) -> None:
    ngo_subject = person("ngo", AMINA_LATIN, names=["shelter"])
    shelter_subject = person("shelter", AMINA_ARABIC, names=["ngo"])
    assert ask(client, auth, "ngo", ngo_subject)["matches"]

    rotated = client.post("/v1/linkage/epochs", headers=auth("operator"), json={"epoch": "2027-01"})
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["keys_deleted"] == 2 and rotated.json()["retired"] == [EPOCH]
    # Only the operator rotates; an epoch id is used once.
    assert client.post("/v1/linkage/epochs", headers=auth("ngo"), json={"epoch": "x"}).status_code == 403
    again = client.post("/v1/linkage/epochs", headers=auth("operator"), json={"epoch": EPOCH})
    assert again.status_code == 409 and again.json()["reason"] == "linkage_epoch_exists"

    # An old-epoch key is refused; asking without a current key is refused too.
    stale = enrol(client, auth, "ngo", ngo_subject, encode(AMINA_LATIN, secret), expect=409)
    assert stale["reason"] == "linkage_epoch_retired"
    assert ask(client, auth, "ngo", ngo_subject, expect=422)["reason"] == "linkage_key_missing"

    # Re-encoded under the new secret, the match is found again.
    fresh = LinkageSecret.generate("2027-01")
    enrol(client, auth, "ngo", ngo_subject, encode(AMINA_LATIN, fresh))
    enrol(client, auth, "shelter", shelter_subject, encode(AMINA_ARABIC, fresh))
    assert [m["agency_id"] for m in ask(client, auth, "ngo", ngo_subject)["matches"]] == ["shelter"]
    assert _entries(ctx, "linkage:epoch:start")[-1].details["keys_deleted"] == 2


def test_a_replaced_key_is_never_reported_from_the_stale_index(
    client: TestClient, auth: Auth, person: Callable[..., str], secret: LinkageSecret,
) -> None:
    ngo_subject = person("ngo", AMINA_LATIN, names=["shelter"])
    shelter_subject = person("shelter", AMINA_ARABIC, names=["ngo"])
    assert ask(client, auth, "ngo", ngo_subject)["matches"]
    # The shelter corrects its record: the person is someone else. The old row leaves the table.
    enrol(client, auth, "shelter", shelter_subject, encode(SOMEONE_ELSE, secret))
    assert ask(client, auth, "ngo", ngo_subject)["matches"] == []
    for _ in range(2):  # idempotent
        response = client.delete(f"/v1/linkage/subjects/{shelter_subject}/key", headers=auth("shelter"))
        assert response.status_code == 204
    assert client.delete(f"/v1/linkage/subjects/{shelter_subject}/key", headers=auth("ngo")).status_code == 404


def test_bad_input_gets_a_precise_problem(client: TestClient, auth: Auth, registry: Registry) -> None:
    response = client.post("/v1/linkage/queries", headers=auth("ngo"), json={"subject_id": "x", "key": "..."})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    no_epoch = client.put("/v1/linkage/subjects/s_unknown/key", headers=auth("ngo"),
                          json={"epoch": "e", "clk": "AAAA", "check_value": "0" * 24, "version": "srg-linkage/v1"})
    assert no_epoch.status_code == 404
