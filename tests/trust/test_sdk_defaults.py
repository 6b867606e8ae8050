"""Pins and proofs are the SDK's default: no client seals to a key it has not pinned or seen proven.

A client made with no pin store refuses an agency it has not pinned (``not_pinned``); trust on
first use happens only when asked, and is logged; a key change is accepted only with a proof in
the witnessed log, so a client with pins but no witnessed log refuses it (``no_witnessed_log``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from connectors.client import GatewayClient
from connectors.key_pins import KeyNotTrusted
from crypto.keys import generate_agency_keys
from tests.support.pins import pins_for
from tests.trust.conftest import WitnessedGateway


def test_a_client_without_pins_refuses_to_seal_and_trusts_on_first_use_only_when_asked(
    witnessed_gateway: WitnessedGateway, caplog: pytest.LogCaptureFixture,
) -> None:
    gw = witnessed_gateway
    with GatewayClient(gw.url, "ngo", gw.registry.keys["ngo"]) as ngo:
        with pytest.raises(KeyNotTrusted) as refused:
            ngo.recipient_key("shelter")
        assert refused.value.reason == "not_pinned"
    with caplog.at_level(logging.WARNING, logger="connectors.keys"), \
            GatewayClient(gw.url, "ngo", gw.registry.keys["ngo"], trust_on_first_use=True) as tofu:
        key = tofu.recipient_key("shelter")
        assert key["key_id"] == gw.registry.key_ids["shelter"]["x25519"]
        assert (tofu.pins.pinned("shelter", "x25519") or {}).get("source") == "tofu"
    assert "TRUST ON FIRST USE" in caplog.text


def test_a_key_change_without_a_witnessed_log_is_refused(witnessed_gateway: WitnessedGateway) -> None:
    gw = witnessed_gateway
    with GatewayClient(gw.url, "shelter", gw.registry.keys["shelter"]) as shelter:
        shelter.bind_key("x25519", generate_agency_keys().public().encryption_b64, at=datetime.now(UTC).isoformat())
    with GatewayClient(gw.url, "ngo", gw.registry.keys["ngo"], pins=pins_for(gw.registry.keys)) as ngo:
        with pytest.raises(KeyNotTrusted) as refused:
            ngo.recipient_key("shelter")  # the gateway now serves the shelter's new, bound key
        assert refused.value.reason == "no_witnessed_log"
