"""Issue 15: signed policy bundles in OPA's format (gateway/policy/signed.py).

Every way to get a policy past the gateway without the policy owner's signature is tried here and
refused with its reason; the hashes are checked against real OPA's own JSON encoder (opa-golib)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import io
import json
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey
from opa_bindings import OpaEngine

from gateway.policy.bundle import PolicyBundle
from gateway.policy.provenance import DEV_SIGNING_KEY, trusted_policy
from gateway.policy.signed import (
    BUNDLE_ROOTS,
    PolicyBundleError,
    build_signed_bundle,
    bundle_files,
    generate_signing_key,
    opa_file_hash,
    verify_signed_bundle,
)
from gateway.settings import Settings

OWNER = generate_signing_key()
"""The policy owner's (the DPO's) key in these tests."""
OWNER_PUBLIC = ECKey.import_key(OWNER.as_pem(private=False))


@pytest.fixture(scope="module")
def policy() -> PolicyBundle:
    return PolicyBundle.load()


@pytest.fixture(scope="module")
def signed(policy: PolicyBundle) -> bytes:
    return build_signed_bundle(policy, OWNER)


def untar(raw: bytes) -> dict[str, bytes]:
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz, tarfile.open(fileobj=gz) as tar:
        return {m.name.lstrip("/"): tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def retar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo("/" + name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def refusal(raw: bytes, key: ECKey = OWNER_PUBLIC, key_id: str = "policy") -> str:
    with pytest.raises(PolicyBundleError) as caught:
        verify_signed_bundle(raw, key, key_id=key_id)
    return caught.value.reason


def test_a_signed_bundle_verifies_and_holds_exactly_the_policy(policy: PolicyBundle, signed: bytes) -> None:
    verified = verify_signed_bundle(signed, OWNER_PUBLIC)
    assert verified.revision == policy.version == verified.policy.version
    assert verified.policy.data() == policy.data()
    assert [m.source for m in verified.policy.modules] == [m.source for m in policy.modules]
    files = untar(signed)
    # OPA's layout: modules, one data.json per document, the manifest owning the roots, one JWT.
    assert json.loads(files[".manifest"]) == {"revision": policy.version, "roots": list(BUNDLE_ROOTS)}
    assert {n for n in files if n.endswith(".rego")} == {m.path for m in policy.modules}
    assert not any(n.endswith("_test.rego") for n in files)
    token = json.loads(files[".signatures.json"])["signatures"]
    assert len(token) == 1
    assert jws.extract_compact(token[0].encode()).protected == {"alg": "ES256", "kid": "policy"}
    listed = json.loads(jws.extract_compact(token[0].encode()).payload)["files"]
    assert {e["name"] for e in listed} == set(files) - {".signatures.json"}
    assert all(e["algorithm"] == "SHA-256" for e in listed)


def test_a_rego_module_changed_after_signing_is_refused(signed: bytes) -> None:
    files = untar(signed)
    files["gateway/decision.rego"] += b"\n# allow everything\n"
    assert refusal(retar(files)) == "bundle_digest_mismatch"


def test_a_data_document_changed_after_signing_is_refused(signed: bytes) -> None:
    files = untar(signed)
    roles = json.loads(files["gateway_data/roles/data.json"])
    roles["smuggled"] = True
    files["gateway_data/roles/data.json"] = json.dumps(roles).encode()
    assert refusal(retar(files)) == "bundle_digest_mismatch"


def test_reformatting_a_data_document_keeps_its_opa_hash_but_not_the_revision(signed: bytes) -> None:
    """OPA hashes structured files over canonical JSON (white space and key order do not matter), so OPA
    would accept a reformatted document; the gateway is stricter: the revision names the exact bytes."""
    files = untar(signed)
    name = "gateway_data/roles/data.json"
    reformatted = json.dumps(json.loads(files[name])).encode()
    assert reformatted != files[name] and opa_file_hash(name, reformatted) == opa_file_hash(name, files[name])
    assert refusal(retar({**files, name: reformatted})) == "bundle_revision_mismatch"


def test_an_added_module_a_removed_file_and_an_unsigned_bundle_are_refused(signed: bytes) -> None:
    files = untar(signed)
    assert refusal(retar({**files, "gateway/backdoor.rego": b"package gateway.backdoor\n"})) == "bundle_file_unsigned"
    without = dict(files)
    del without["gateway/firewalls.rego"]
    assert refusal(retar(without)) == "bundle_file_missing"
    unsigned = dict(files)
    del unsigned[".signatures.json"]
    assert refusal(retar(unsigned)) == "bundle_unsigned"
    two = json.loads(files[".signatures.json"])["signatures"] * 2
    assert refusal(retar({**files, ".signatures.json": json.dumps({"signatures": two}).encode()})) \
        == "bundle_signature_invalid"


def test_a_bundle_signed_by_another_key_is_refused(policy: PolicyBundle) -> None:
    operator = generate_signing_key()  # the gateway operator's own key, say
    assert refusal(build_signed_bundle(policy, operator)) == "bundle_signature_invalid"
    # Under the owner's key id too: the key id names which key verifies, it is not trusted by itself.
    assert refusal(build_signed_bundle(policy, operator, key_id="policy")) == "bundle_signature_invalid"


def test_a_token_under_another_algorithm_or_key_id_is_refused(policy: PolicyBundle, signed: bytes) -> None:
    files = untar(signed)
    token = json.loads(files[".signatures.json"])["signatures"][0]
    payload = jws.extract_compact(token.encode()).payload
    # HS256 with the public key's PEM as the secret: the classic algorithm-confusion forgery.
    signing_input = (_b64(json.dumps({"alg": "HS256", "kid": "policy"}).encode()) + "." + _b64(payload)).encode()
    mac = hmac.new(OWNER.as_pem(private=False), signing_input, hashlib.sha256).digest()
    forged = signing_input.decode() + "." + _b64(mac)
    assert refusal(retar({**files, ".signatures.json": json.dumps({"signatures": [forged]}).encode()})) \
        == "bundle_signature_invalid"
    # The owner's valid signature, but for another key id than the configured one.
    assert refusal(build_signed_bundle(policy, OWNER, key_id="other")) == "bundle_signature_invalid"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_manifest_revision_that_is_not_the_policy_version_is_refused(policy: PolicyBundle) -> None:
    """A correctly signed bundle whose manifest names another revision (replaying an old label)."""
    files = bundle_files(policy)
    files[".manifest"] = json.dumps({"revision": "sha256:0000000000000000", "roots": list(BUNDLE_ROOTS)}).encode()
    assert _sign_files(files) and refusal(_sign_files(files)) == "bundle_revision_mismatch"


def _sign_files(files: dict[str, bytes]) -> bytes:
    listed = [{"name": n, "hash": opa_file_hash(n, c), "algorithm": "SHA-256"} for n, c in files.items()]
    token = jws.serialize_compact({"alg": "ES256", "kid": "policy"}, json.dumps({"files": listed}).encode(), OWNER,
                                  algorithms=["ES256"])
    return retar({**files, ".signatures.json": json.dumps({"signatures": [token]}).encode()})


@pytest.mark.parametrize("raw", [b"", b"not gzip", gzip.compress(b"not a tar")])
def test_garbage_is_refused_with_a_reason(raw: bytes) -> None:
    assert refusal(raw) == "bundle_malformed"


def test_a_path_escaping_the_bundle_is_refused(signed: bytes) -> None:
    assert refusal(retar({**untar(signed), "../etc/passwd": b"x"})) == "bundle_malformed"


_OPA_JSON = OpaEngine()
_OPA_JSON.add_policy("canon.rego", 'package canon\n\nimport rego.v1\n\nm := json.marshal(input.v)\n')

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_data_documents_hash_as_real_opa_encodes_them(value: object) -> None:
    """The canonical JSON hashed is what OPA's own Go encoder writes (html escapes aside), for any document."""
    encoded = _OPA_JSON.eval_document("canon.m", {"v": value})
    # OPA's json.marshal escapes HTML characters; the bundle hasher does not (SetEscapeHTML(false)).
    canonical = encoded.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")
    assert opa_file_hash("x/data.json", json.dumps(value).encode()) == hashlib.sha256(canonical.encode()).hexdigest()


def test_rego_files_hash_over_their_bytes() -> None:
    assert opa_file_hash("gateway/a.rego", b"package a\n") == hashlib.sha256(b"package a\n").hexdigest()


# --- where the gateway's policy comes from ---------------------------------------------------------


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(env="test", data_dir=tmp_path, **extra)  # type: ignore[arg-type]


def test_development_signs_with_a_dev_key_in_the_data_dir_and_loads_through_verification(tmp_path: Path) -> None:
    verified = trusted_policy(_settings(tmp_path))
    key_file = tmp_path / "keys" / DEV_SIGNING_KEY
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert verified.revision == PolicyBundle.load().version
    # The same key next time (replicas sharing a data dir agree).
    again = trusted_policy(_settings(tmp_path))
    assert verify_signed_bundle(again.raw, ECKey.import_key(ECKey.import_key(key_file.read_bytes())
                                                            .as_pem(private=False))).revision == verified.revision


def test_a_configured_bundle_is_used_only_if_it_verifies_under_the_configured_key(
    tmp_path: Path, policy: PolicyBundle, signed: bytes,
) -> None:
    bundle_file, key_file = tmp_path / "bundle.tar.gz", tmp_path / "policy-owner.pem"
    bundle_file.write_bytes(signed)
    key_file.write_bytes(OWNER.as_pem(private=False))
    ok = trusted_policy(_settings(tmp_path, policy_bundle_file=bundle_file, policy_verification_key_file=key_file))
    assert ok.raw == signed and ok.revision == policy.version
    files = untar(signed)
    files["gateway/consent.rego"] += b"\n"
    bundle_file.write_bytes(retar(files))
    with pytest.raises(PolicyBundleError) as caught:
        trusted_policy(_settings(tmp_path, policy_bundle_file=bundle_file, policy_verification_key_file=key_file))
    assert caught.value.reason == "bundle_digest_mismatch"
    with pytest.raises(PolicyBundleError) as caught:
        trusted_policy(_settings(tmp_path, policy_bundle_file=bundle_file))
    assert caught.value.reason == "policy_verification_key_missing"
    # The development key is never a fallback for a configured key: a dev-signed bundle is refused.
    key_file.write_bytes(generate_signing_key().as_pem(private=False))
    with pytest.raises(PolicyBundleError) as caught:
        trusted_policy(_settings(tmp_path, policy_verification_key_file=key_file))
    assert caught.value.reason == "bundle_signature_invalid"


def test_production_refuses_to_start_without_a_bundle_signed_elsewhere(tmp_path: Path) -> None:
    production = Settings(env="production", data_dir=tmp_path, issuer="https://gateway.example.org")
    with pytest.raises(PolicyBundleError) as caught:
        trusted_policy(production)
    assert caught.value.reason == "policy_bundle_missing"
    assert not (tmp_path / "keys" / DEV_SIGNING_KEY).exists()  # no development key is made there
    with pytest.raises(ValueError, match="push"):
        Settings(env="production", issuer="https://gateway.example.org", opa_bundle="push")
    assert production.opa_pulls_bundle and not _settings(tmp_path).opa_pulls_bundle
    # Outside production too: a configured signed bundle is only ever pulled, never pushed.
    assert _settings(tmp_path, policy_bundle_file=tmp_path / "b.tar.gz").opa_pulls_bundle
    with pytest.raises(ValueError, match="push"):
        _settings(tmp_path, policy_bundle_file=tmp_path / "b.tar.gz", opa_bundle="push")


def test_the_policy_owner_signs_with_the_cli_and_the_gateway_key_cannot_stand_in(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app

    runner = CliRunner()
    owner, operator, bundle = tmp_path / "dpo.pem", tmp_path / "operator.pem", tmp_path / "bundle.tar.gz"
    assert runner.invoke(app, ["policy", "keygen", "--out", str(owner)]).exit_code == 0
    assert owner.stat().st_mode & 0o777 == 0o600
    assert runner.invoke(app, ["policy", "keygen", "--out", str(owner)]).exit_code == 1  # never overwritten
    assert runner.invoke(app, ["policy", "keygen", "--out", str(operator)]).exit_code == 0
    signed = runner.invoke(app, ["policy", "sign", "--signing-key", str(owner), "--out", str(bundle), "policies"])
    assert signed.exit_code == 0, signed.output
    ok = runner.invoke(app, ["policy", "verify", str(bundle), "--verification-key", f"{owner}.pub"])
    assert ok.exit_code == 0 and f"OK {PolicyBundle.load().version}" in ok.output
    wrong = runner.invoke(app, ["policy", "verify", str(bundle), "--verification-key", f"{operator}.pub"])
    assert wrong.exit_code == 1 and "bundle_signature_invalid" in wrong.output
