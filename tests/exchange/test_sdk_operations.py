"""The SDK covers everything the API does, with typed results (issue 19): every operation of the OpenAPI
document has a named SDK call that addresses it; the result types are generated from the same document
and kept equal to it; and the people, consent, portal, staff and service calls work against a live
gateway and answer what their types say."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any, get_type_hints

import pytest

from connectors import wire
from connectors.client import GatewayClient
from connectors.errors import GatewayAPIError
from connectors.operations import SDK_OPERATIONS
from tests.consent.conftest import consent_body, subject_body
from tests.exchange.conftest import LiveGateway
from tests.support.pins import pins_for
from tests.support.staff import sdk_staff
from tests.support.wire_types import WIRE, document, render


def _resolve(target: str) -> Any:
    module, _, qualname = target.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def test_every_operation_of_the_document_has_an_sdk_call_that_addresses_it() -> None:
    spec = document()
    operations = {f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    assert len(operations) > 80
    assert operations - SDK_OPERATIONS.keys() == set(), "operations without an SDK call"
    assert SDK_OPERATIONS.keys() - operations == set(), "SDK calls for operations the API no longer has"
    for operation, target in SDK_OPERATIONS.items():
        method, path = operation.split(" ", 1)
        source = inspect.getsource(_resolve(target))
        # Each literal piece of the path template is in the call's code, and so is the HTTP method.
        for piece in filter(None, re.split(r"\{[^}]+\}", path)):
            assert piece in source, f"{target} does not address {operation} ({piece!r} missing)"
        assert (f'"{method}"' in source or f".{method.lower()}(" in source
                or (method == "GET" and ".download(" in source)), f"{target} does not {method}"


def test_the_typed_results_are_generated_from_the_document_and_equal_to_it() -> None:
    assert WIRE.read_text() == render(document()), (
        "connectors/wire.py differs from the API: regenerate it with `python -m tests.support.wire_types`")


def _conforms(value: Any, shape: Any) -> None:
    """``value`` (the JSON an SDK call returned) has every required key of the TypedDict ``shape``, and
    no key the type does not name."""
    assert isinstance(value, dict), value
    required, optional = set(shape.__required_keys__), set(shape.__optional_keys__)
    assert required <= value.keys(), (shape.__name__, required - value.keys())
    assert value.keys() <= required | optional, (shape.__name__, value.keys() - required - optional)


def _returned(call: Any) -> Any:
    return get_type_hints(call, globalns=vars(wire) | {"wire": wire})["return"]


def test_people_consents_portal_staff_and_service_calls_answer_their_types(live_gateway: LiveGateway) -> None:
    with GatewayClient(live_gateway.url, "ngo", live_gateway.registry.keys["ngo"],
                       pins=pins_for(live_gateway.registry.keys)) as ngo:
        staff = sdk_staff(live_gateway.ctx, ngo)
        # The agency's system alone may not record a person: the call is person-bound.
        with pytest.raises(GatewayAPIError) as alone:
            ngo.create_subject(subject_body())  # type: ignore[arg-type]
        assert (alone.value.status, alone.value.reason) == (403, "person_token_required")

        subject = staff.create_subject(subject_body())
        _conforms(subject, wire.SubjectOut)
        assert [s["id"] for s in staff.subjects()] == [subject["id"]]
        assert staff.subject(subject["id"]) == subject
        created = staff.record_consent(consent_body(subject["id"]))
        _conforms(created, wire.ConsentCreated)
        assert created["access_code"]  # shown once, for the person's card
        consent = created["consent"]
        shown = staff.consent(consent["id"])
        _conforms(shown, wire.ConsentOut)
        assert [c["id"] for c in staff.consents(subject["id"], in_force=True)] == [consent["id"]]
        _conforms(staff.consent_history(consent["id"]), wire.ConsentHistoryOut)
        assert shown["id"] == consent["id"]
        card = staff.consent_card(consent["id"], lang="fr")
        assert card.lstrip().lower().startswith("<!doctype html") and 'lang="fr"' in card
        access = staff.set_portal_pin(subject["id"], "482913")
        _conforms(access, wire.PortalAccessOut)
        _conforms(staff.portal_access(subject["id"]), wire.PortalAccessOut)
        changed = staff.change_subject(subject["id"], {"changes": {"preferred_language": "fr"},
                                                       "reason": "person_request"})
        assert changed and all(_conforms(c, wire.AttributeChangeOut) is None for c in changed)
        history = staff.attribute_history(subject["id"])
        assert history[-1]["id"] == changed[-1]["id"] and history[-1]["new_value"] == "fr"
        withdrawn = staff.withdraw_consent(consent["id"], "in_person")
        _conforms(withdrawn, wire.WithdrawalOut)
        assert staff.consents(subject["id"], in_force=True) == []

        me = staff.staff_me()
        _conforms(me, wire.WhoAmIOut)
        _conforms(ngo.staff_roles(), wire.StaffRolesOut)
        _conforms(ngo.alerts(), wire.AlertsOut)
        with pytest.raises(GatewayAPIError) as not_a_rapporteur:
            ngo.statistics_catalogue()
        assert not_a_rapporteur.value.reason == "statistics_role_required"
        for call in (ngo.health, ngo.readiness, ngo.authorization_server):
            _conforms(call(), _returned(call))
        signer = live_gateway.ctx.note_signer()
        assert signer is not None and ngo.checkpoint_key().strip() == signer.verifier().vkey()
        _conforms(ngo.agency("shelter"), wire.AgencyOut)
        key_id = ngo.agency("shelter")["keys"][0]["id"]
        _conforms(ngo.key("shelter", key_id), wire.KeyOut)
        with pytest.raises(GatewayAPIError) as no_bundle:  # this test gateway pushes no bundle to an OPA
            ngo.policy_bundle()
        assert (no_bundle.value.status, no_bundle.value.reason) == (404, "policy_bundle_not_served")
        for event in ngo.key_events("ngo"):
            _conforms(event, wire.EntryOut)


@pytest.mark.parametrize("bad", ["", ".", ".."])
def test_an_sdk_call_refuses_an_id_that_would_address_another_path(bad: str) -> None:
    from connectors.operations import _seg

    with pytest.raises(ValueError):
        _seg(bad)
    assert _seg("a/../b") == "a%2F..%2Fb"  # a slash never leaves its segment
