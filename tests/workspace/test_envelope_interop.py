"""The browser's envelope module (``gateway/static/workspace/envelope.js``, libsodium.js served by the
gateway) and the Python SDK speak one format: a referral sealed in Chromium opens with the SDK, and one
sealed by the SDK opens in Chromium; a tampered one is refused by both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.errors import VerificationError
from connectors.referral import make_preview, open_referral, seal_referral
from crypto.canonical import canonical_json
from crypto.encoding import b64u_decode, b64u_encode
from crypto.keys import fingerprint, generate_agency_keys
from tests.conftest import empty_database

pytestmark = [pytest.mark.browser]

PLAN = {"plan_id": "plan-1", "envelope_id": "env-1", "subject_id": "subj-1", "purpose": "shelter",
        "recipient_agency_id": "shelter", "permitted_fields": ["subject.preferred_name", "risk.level", "notes.x"]}
# Values that stress the canonical encoding: non-ASCII, astral plane, escapes, nesting, floats.
FIELDS: dict[str, Any] = {"subject.preferred_name": "Zoë \u2028 \"Ána\" 𝄞 \u0007 عائشة",
                          "risk.level": "high",
                          "notes.x": {"z": [1, 2.5, None, True, -0.0, 1e21], "a": "", "é": {"\u00e9": 3}}}


@pytest.fixture
def db_url(sqlite_database: str) -> Iterator[str]:
    yield sqlite_database
    empty_database(sqlite_database)


def _keyfile(keys: Any) -> str:
    public = keys.public()
    return json.dumps({"format": "safe-referral-gateway/agency-keypair", "version": 1,
                       "encryption_private": b64u_encode(keys.encryption_private),
                       "signing_seed": b64u_encode(keys.signing_seed),
                       "encryption_public": public.encryption_b64, "signing_public": public.signing_b64})


def _page(browser: Any, server: str) -> Any:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/w/")  # the workspace's own CSP (self scripts + WebAssembly) applies
    page.evaluate("""async () => {
      window.sodium = (await import('/w/vendor/libsodium-wrappers.mjs')).default;
      await window.sodium.ready;
      window.E = await import('/static/workspace/envelope.js');
    }""")
    assert errors == []
    return page


def test_sealed_in_chromium_opens_with_the_sdk_and_back(server: str, browser: Any) -> None:
    sender, recipient = generate_agency_keys(), generate_agency_keys()
    page = _page(browser, server)

    # Chromium seals (with a preview in Arabic) as the sender; the SDK opens as the recipient.
    body = page.evaluate("""([keyfile, plan, fields, recipientPublic]) => {
      const keys = E.parseKeyFile(sodium, keyfile);
      const preview = E.makePreview(sodium, fields, "ar");
      return E.sealReferral(sodium, {plan, fields, senderAgencyId: "ngo", senderKeys: keys, senderKeyId: "k-ngo",
        recipientKey: {key_id: "k-shelter", public_key: recipientPublic}, preview});
    }""", [_keyfile(sender), PLAN, FIELDS, recipient.public().encryption_b64])
    opened = open_referral(body, recipient_agency_id="shelter", recipient_keys=recipient,
                           sender_signing_public_b64=sender.public().signing_b64)
    assert canonical_json(opened.fields) == canonical_json(FIELDS)
    assert opened.language == "ar"
    assert sorted(e["name"] for e in body["manifest"]["fields"]) == sorted(FIELDS)
    # Every ciphertext sits in a 256-byte bucket, as the SDK's.
    assert all((len(b64u_decode(c)) - 48) % 256 == 0 for c in body["ciphertexts"].values())
    # A ciphertext moved to another field is refused by the SDK.
    moved = json.loads(json.dumps(body))
    moved["ciphertexts"]["risk.level"], moved["ciphertexts"]["subject.preferred_name"] = (
        body["ciphertexts"]["subject.preferred_name"], body["ciphertexts"]["risk.level"])
    with pytest.raises(VerificationError):
        open_referral(moved, recipient_agency_id="shelter", recipient_keys=recipient,
                      sender_signing_public_b64=sender.public().signing_b64)

    # The SDK seals; Chromium verifies and opens.
    sdk_body = seal_referral(plan=PLAN, fields=FIELDS, sender_agency_id="ngo", sender_keys=sender,
                             sender_key_id="k-ngo", recipient_key={"key_id": "k-shelter",
                                                                   "public_key": recipient.public().encryption_b64},
                             preview=make_preview(FIELDS, "ru"))
    result = page.evaluate("""([keyfile, envelope, senderPublic]) => {
      const keys = E.parseKeyFile(sodium, keyfile);
      const opened = E.openReferral(sodium, envelope, {recipientAgencyId: "shelter", recipientKeys: keys,
        senderSigningPublicB64: senderPublic});
      return {fields: opened.fields, language: opened.language};
    }""", [_keyfile(recipient), sdk_body, sender.public().signing_b64])
    assert result["language"] == "ru"
    assert result["fields"]["subject.preferred_name"] == FIELDS["subject.preferred_name"]
    assert result["fields"]["risk.level"] == "high"
    assert result["fields"]["notes.x"]["é"] == {"é": 3}

    # Chromium refuses what the SDK refuses: an altered manifest, a swapped ciphertext, another agency.
    refusals = page.evaluate("""([keyfile, envelope, senderPublic]) => {
      const keys = E.parseKeyFile(sodium, keyfile);
      const attempt = (env, agency) => {
        try { E.openReferral(sodium, env, {recipientAgencyId: agency, recipientKeys: keys,
                                          senderSigningPublicB64: senderPublic}); return "opened"; }
        catch (error) { return error.message; }
      };
      const copy = () => JSON.parse(JSON.stringify(envelope));
      const purpose = copy(); purpose.manifest.purpose = "criminal_justice";
      const swapped = copy();
      [swapped.ciphertexts["risk.level"], swapped.ciphertexts["notes.x"]] =
        [envelope.ciphertexts["notes.x"], envelope.ciphertexts["risk.level"]];
      const dropped = copy(); delete dropped.ciphertexts["risk.level"];
      return [attempt(purpose, "shelter"), attempt(swapped, "shelter"), attempt(dropped, "shelter"),
              attempt(copy(), "police")];
    }""", [_keyfile(recipient), sdk_body, sender.public().signing_b64])
    assert refusals == ["the sender's signature does not verify", "ciphertext of notes.x was altered",
                        "ciphertexts do not match the manifest", "this envelope is addressed to another agency"]


def test_canonical_json_and_fingerprints_match_the_sdk(server: str, browser: Any) -> None:
    """Signatures cover RFC 8785 bytes: the browser's must equal the SDK's byte for byte."""
    page = _page(browser, server)
    samples: list[Any] = [FIELDS, {"b": 1, "a": [True, None, "x"], "\u20ac": 1, "\U0001d11e": 2, "\ufb01": 3},
                          [0.1, 1e-7, 123456789012345.0, -5, 1e300, "\t\n\r\b\f\\\"/"], "", {}]
    for sample in samples:
        js = page.evaluate("v => Array.from(E.canonicalJson(v))", sample)
        assert bytes(js) == canonical_json(sample), sample
    keys = generate_agency_keys()
    js_fps = page.evaluate("""([keyfile]) => {
      const k = E.parseKeyFile(sodium, keyfile);
      return [E.fingerprint(sodium, k.encryptionPublic, "x25519"), E.fingerprint(sodium, k.signingPublic, "ed25519")];
    }""", [_keyfile(keys)])
    assert js_fps == [fingerprint(keys.public().encryption, "x25519"), fingerprint(keys.public().signing, "ed25519")]
    # A key file whose public half was swapped is refused, as crypto.keys.load_key_file refuses it.
    bad = json.loads(_keyfile(keys))
    bad["signing_public"] = generate_agency_keys().public().signing_b64
    assert page.evaluate("""(text) => { try { E.parseKeyFile(sodium, text); return "accepted"; }
                            catch (error) { return error.name; } }""", json.dumps(bad)) == "VerificationError"


def test_libsodium_is_served_by_the_gateway_with_no_inline_script(server: str, client: TestClient) -> None:
    page = client.get("/w/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in page.text and "style=" not in page.text
    module = client.get("/w/vendor/libsodium-wrappers.mjs")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert b'from"./libsodium-sumo.mjs"' in module.content and b'from"libsodium-sumo"' not in module.content
    assert client.get("/w/vendor/libsodium-sumo.mjs").status_code == 200
    missing = client.get("/w/vendor/..%2Fpackage.json")
    assert missing.status_code == 404
