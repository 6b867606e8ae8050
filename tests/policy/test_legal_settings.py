"""Two settings pending legal sign-off are policy data, not code (issue #16): the 90-day deferral
ceiling (``exceptions.json`` ``deferral``; SEC6, digest 7.5 and open question 9) and interpreters
standing behind the volunteer firewall (``firewalls.json`` ``volunteer.user_roles`` with
``roles.json`` ``user_roles.interpreter``; S27, digest 8.2 item 8). Shipped values keep today's
decisions; a DPO who changes the data changes the decision, on the embedded engine and on real OPA
over REST alike."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.policy import DEFAULT_POLICY_DIR, PolicyBundle, PolicyEngine, decide
from gateway.policy._regorus import EmbeddedPolicyEngine
from gateway.policy._remote import RemotePolicyEngine
from gateway.staff.service import LEGAL_DEFERRAL_MAX_DAYS, legal_deferral_max_days
from tests.policy import inputs as i
from tests.support.opa_server import OpaServer

DataChange = Callable[[dict[str, Any]], None]
DAY = 86400


def _policies_with(tmp_path: Path, change: DataChange) -> Path:
    """A copy of the policies directory whose data documents ``change`` edited, as a DPO would."""
    root = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, root)
    docs = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (root / "data").glob("*.json")}
    change(docs)
    for name, doc in docs.items():
        (root / "data" / f"{name}.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return root


@pytest.fixture
def engines_for(tmp_path: Path) -> Iterator[Callable[[DataChange], tuple[Path, list[PolicyEngine]]]]:
    """Both engines loaded with the changed data: embedded regorus, and real OPA (a fresh stub) over REST."""
    opened: list[Any] = []

    def build(change: DataChange) -> tuple[Path, list[PolicyEngine]]:
        root = _policies_with(tmp_path / str(len(opened)), change)
        bundle = PolicyBundle.load(root)
        server = OpaServer()
        server.__enter__()
        opened.append(server)
        remote = RemotePolicyEngine(server.url, bundle, timeout_s=10.0)
        remote.publish()
        embedded = EmbeddedPolicyEngine(bundle)
        opened.extend([remote, embedded])
        return root, [embedded, remote]

    yield build
    for thing in reversed(opened):
        if isinstance(thing, OpaServer):
            thing.__exit__(None, None, None)
        else:
            thing.close()


def _interpreter_referral() -> dict[str, Any]:
    return i.ngo_referral(requester=i.requester(user_role="interpreter"))


def _deferred_grant(days: int) -> dict[str, Any]:
    from datetime import datetime, timedelta

    now = datetime.fromisoformat(i.NOW.replace("Z", "+00:00"))
    until = (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return i.grant("L3", "unconscious_emergency", "a-er", ["D1", "D6", "D8"], defer_until=until,
                   defer_reason="covert_investigation")


def _emergency(grant: dict[str, Any]) -> dict[str, Any]:
    return i.request("healthcare", i.recipient("a-er", "healthcare"), ["health.allergies", "health.medication"],
                     [], exception=grant)


@pytest.mark.rule("S27")
def test_interpreters_are_decided_as_volunteers_as_shipped(engine: PolicyEngine) -> None:
    volunteer = decide(engine, i.ngo_referral(requester=i.requester(user_role="volunteer")))
    interpreter = decide(engine, _interpreter_referral())
    assert interpreter == volunteer
    assert interpreter.permitted_fields == ("subject.language",)


@pytest.mark.rule("S27")
def test_a_dpo_takes_interpreters_out_of_the_volunteer_firewall_in_the_data(engines_for: Any,
                                                                           engine: PolicyEngine) -> None:
    caseworker = decide(engine, i.ngo_referral())

    def lift(docs: dict[str, Any]) -> None:
        docs["firewalls"]["firewalls"]["volunteer"]["user_roles"] = ["volunteer"]
        docs["roles"]["user_roles"]["interpreter"]["max_level"] = 4

    _root, changed = engines_for(lift)
    for each in changed:
        lifted = decide(each, _interpreter_referral())
        assert lifted.permitted_fields == caseworker.permitted_fields != ("subject.language",)
        # volunteers stay behind it
        assert decide(each, i.ngo_referral(requester=i.requester(user_role="volunteer"))).permitted_fields == (
            "subject.language",)


@pytest.mark.rule("SEC6")
def test_the_deferral_ceiling_is_decided_from_the_data(engine: PolicyEngine) -> None:
    assert legal_deferral_max_days(DEFAULT_POLICY_DIR) == LEGAL_DEFERRAL_MAX_DAYS == 90
    within = decide(engine, _emergency(_deferred_grant(90)))
    assert within.allow and within.permitted_fields == ("health.allergies", "health.medication")
    beyond = decide(engine, _emergency(_deferred_grant(91)))
    assert not beyond.allow and "exception_deferral_not_allowed" in beyond.reasons
    other_reason = decide(engine, _emergency({**_deferred_grant(10), "defer_reason": "convenience"}))
    assert not other_reason.allow and "exception_deferral_not_allowed" in other_reason.reasons
    no_deferral = decide(engine, _emergency(i.grant("L3", "unconscious_emergency", "a-er", ["D1", "D6", "D8"])))
    assert no_deferral.allow


@pytest.mark.rule("SEC6")
def test_a_dpo_changes_the_deferral_ceiling_in_the_data(engines_for: Any) -> None:
    def shorten(docs: dict[str, Any]) -> None:
        docs["exceptions"]["deferral"]["legal_max_days"] = 30

    def lengthen(docs: dict[str, Any]) -> None:
        docs["exceptions"]["deferral"]["legal_max_days"] = 180

    short_root, short = engines_for(shorten)
    long_root, long = engines_for(lengthen)
    # The gateway's own check (at grant request) reads the same number.
    assert legal_deferral_max_days(short_root) == 30 and legal_deferral_max_days(long_root) == 180
    for each in short:
        assert not decide(each, _emergency(_deferred_grant(60))).allow
        assert decide(each, _emergency(_deferred_grant(30))).allow
    for each in long:
        assert decide(each, _emergency(_deferred_grant(120))).allow
        refused = decide(each, _emergency(_deferred_grant(181)))
        assert not refused.allow and "exception_deferral_not_allowed" in refused.reasons
