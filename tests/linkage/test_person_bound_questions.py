"""A linkage question is a person's (issue #16, adversarial review): the agency's machine token alone
got a caseworker's decision on D22, because a missing role was filled in as "caseworker", so the
volunteer firewall never applied. Now the question needs the signed-in person's token, the policy
decides with the role from their account on both sides (asker and holder), and a decision without a
role is refused, never defaulted."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.context import GatewayContext
from gateway.exchange.inputs import MissingUserRole, agency_document
from gateway.linkage.models import LinkageQuery
from gateway.policy import DEFAULT_POLICY_DIR, PolicyBundle
from gateway.policy.factory import build_engine
from gateway.registry.models import Agency
from tests.linkage.conftest import AMINA_ARABIC, AMINA_LATIN, Auth
from tests.support.recording import Recording
from tests.support.recording import entries_of as _entries
from tests.support.staff import People


def test_no_decision_is_made_without_a_role() -> None:
    agency = Agency(id="ngo", kind="ngo", jurisdiction="NL", vetting_status="vetted")
    for missing in ("", None):
        with pytest.raises(MissingUserRole):
            agency_document(agency, user_role=missing)  # type: ignore[arg-type]
    assert agency_document(agency, user_role="volunteer", user_id="stf_1")["user_role"] == "volunteer"


@pytest.mark.rule("S27")
def test_the_agency_system_alone_cannot_ask_who_else_knows_the_person(
    client: TestClient, auth: Auth, ctx: GatewayContext, person: Callable[..., str],
) -> None:
    ngo_subject = person("ngo", AMINA_LATIN, names=["shelter"])
    person("shelter", AMINA_ARABIC, names=["ngo"])
    alone = client.post("/v1/linkage/queries", headers=auth("ngo", system=True), json={"subject_id": ngo_subject})
    assert alone.status_code == 403 and alone.json()["reason"] == "person_token_required"
    refusal = _entries(ctx, "staff:person:refuse")[-1]
    assert (refusal.reason, refusal.details["operation"], refusal.actor_user) == (
        "person_token_required", "/v1/linkage/queries", None)
    # Nothing was asked: no question row (rate limit, DPO page), no answer, no disclosure.
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LinkageQuery)) == 0
    assert _entries(ctx, "linkage:query:answer") == [] and _entries(ctx, "linkage:match:disclose") == []
    # A signed-in caseworker of the same agency asks, and the question names her.
    asked = client.post("/v1/linkage/queries", headers=auth("ngo", person="carol"), json={"subject_id": ngo_subject})
    assert asked.status_code == 200 and [m["agency_id"] for m in asked.json()["matches"]] == ["shelter"]


@pytest.mark.rule("S27")
def test_a_question_is_decided_with_the_asking_persons_role_on_both_sides(
    client: TestClient, auth: Auth, ctx: GatewayContext, people: People, person: Callable[..., str],
) -> None:
    ngo_subject = person("ngo", AMINA_LATIN, names=["shelter"])
    person("shelter", AMINA_ARABIC, names=["ngo"])
    recording = Recording(ctx.policy)
    ctx.policy = recording  # type: ignore[assignment]
    ines = people.headers("ngo", "ines", "interpreter")
    answer = client.post("/v1/linkage/queries", headers=ines, json={"subject_id": ngo_subject})
    assert answer.status_code == 200, answer.text
    asker_side = [d for d in recording.inputs if d["requester"]["agency_id"] == "ngo"]
    holder_side = [d for d in recording.inputs if d["requester"]["agency_id"] == "shelter"]
    assert asker_side and holder_side
    # Never "caseworker": the interpreter's own role and account, from her account.
    assert {(d["requester"]["user_role"], d["requester"]["user_id"]) for d in asker_side} == {
        ("interpreter", people.id("ngo", "ines"))}
    assert {(d["requester"]["user_role"], d["recipient"]["user_role"]) for d in holder_side} == {
        ("interpreter", "interpreter")}
    assert _entries(ctx, "linkage:query:answer")[-1].actor_user == people.id("ngo", "ines")


def _d22_graded_sensitive(tmp_path: Path) -> PolicyBundle:
    """The policy data with the professional network (D22) graded S3, as a DPO could decide: from then
    on it lies above the volunteer firewall's level (S27), for volunteers and interpreters alike."""
    root = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, root)
    path = root / "data" / "classes.json"
    classes = json.loads(path.read_text(encoding="utf-8"))
    classes["classes"]["D22"].update(sensitivity="S3", level=3)
    path.write_text(json.dumps(classes, indent=2), encoding="utf-8")
    return PolicyBundle.load(root)


@pytest.mark.rule("S27")
@pytest.mark.parametrize("role", ["volunteer", "interpreter"])
def test_the_volunteer_firewall_applies_to_a_linkage_question(
    client: TestClient, auth: Auth, ctx: GatewayContext, people: People, person: Callable[..., str],
    tmp_path: Path, role: str,
) -> None:
    ngo_subject = person("ngo", AMINA_LATIN, names=["shelter"])
    person("shelter", AMINA_ARABIC, names=["ngo"])
    shipped = ctx.policy
    ctx.policy = build_engine("embedded", bundle=_d22_graded_sensitive(tmp_path))
    try:
        refused = client.post("/v1/linkage/queries", headers=people.headers("ngo", "vic", role),
                              json={"subject_id": ngo_subject})
        assert refused.status_code == 403, refused.text
        assert refused.json()["reason"] == "linkage_not_permitted"
        entry = _entries(ctx, "linkage:query:refuse")[-1]
        assert entry.reason == "linkage_not_permitted" and entry.actor_user == people.id("ngo", "vic")
        # The same question by a caseworker of the same agency is answered: the role decided it.
        answered = client.post("/v1/linkage/queries", headers=auth("ngo", person="carol"),
                               json={"subject_id": ngo_subject})
        assert answered.status_code == 200 and [m["agency_id"] for m in answered.json()["matches"]] == ["shelter"]
    finally:
        ctx.policy.close()
        ctx.policy = shipped
