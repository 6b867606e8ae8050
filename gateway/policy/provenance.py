"""Where the gateway's policy comes from: a bundle the policy owner signed, verified before any use.

:func:`trusted_policy` is what the gateway loads at start, for either engine:

* ``GATEWAY_POLICY_BUNDLE_FILE`` names a signed bundle (``gateway policy sign``, run by the policy
  owner on their machine) and ``GATEWAY_POLICY_VERIFICATION_KEY_FILE`` the owner's public key. The
  bundle is used only if its signature and every file hash verify (``gateway/policy/signed.py``);
  anything else stops the start with the reason. Production requires both.
* Otherwise (development, demo, tests) the gateway signs ``policies/`` itself with a development key
  it makes in ``<data_dir>/keys/policy-signing-dev.pem``, and then loads the result through the same
  verification. That key is on the operator's host, so it protects nothing: it is for development only,
  and production refuses to start without a bundle signed elsewhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from joserfc.jwk import ECKey

from gateway.policy.bundle import PolicyBundle
from gateway.policy.signed import (
    PolicyBundleError,
    VerifiedBundle,
    build_signed_bundle,
    generate_signing_key,
    load_signing_key,
    load_verification_key,
    verify_signed_bundle,
)
from gateway.settings import Settings

__all__ = ["DEV_SIGNING_KEY", "dev_signing_key", "trusted_policy"]

DEV_SIGNING_KEY = "policy-signing-dev.pem"
"""In ``<data_dir>/keys``: the development-only policy signing key."""

log = logging.getLogger("gateway.policy")


def trusted_policy(settings: Settings) -> VerifiedBundle:
    """The verified signed bundle this gateway decides with; raises :class:`PolicyBundleError` (fail closed)."""
    key_file = settings.policy_verification_key_file
    if settings.policy_bundle_file is not None:
        if key_file is None:
            raise PolicyBundleError("policy_verification_key_missing",
                                    "GATEWAY_POLICY_BUNDLE_FILE needs GATEWAY_POLICY_VERIFICATION_KEY_FILE, "
                                    "the policy owner's public key")
        try:
            raw = settings.policy_bundle_file.read_bytes()
        except OSError:
            raise PolicyBundleError("policy_bundle_missing",
                                    f"no policy bundle at {settings.policy_bundle_file}") from None
        return verify_signed_bundle(raw, load_verification_key(key_file), key_id=settings.policy_key_id)
    if settings.env == "production":
        raise PolicyBundleError("policy_bundle_missing",
                                "production needs GATEWAY_POLICY_BUNDLE_FILE, a bundle the policy owner signed, "
                                "and GATEWAY_POLICY_VERIFICATION_KEY_FILE")
    signing = dev_signing_key(settings.data_dir)
    verification = load_verification_key(key_file) if key_file is not None else _public(signing)
    raw = build_signed_bundle(PolicyBundle.load(settings.policy_dir), signing, key_id=settings.policy_key_id)
    log.info("policy bundle signed with the development key (development only)")
    return verify_signed_bundle(raw, verification, key_id=settings.policy_key_id)


def dev_signing_key(data_dir: Path) -> ECKey:
    """The development-only policy signing key in ``<data_dir>/keys``, made (mode 0600) on first use."""
    path = data_dir / "keys" / DEV_SIGNING_KEY
    if path.exists():
        return load_signing_key(path)
    key = generate_signing_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return load_signing_key(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.as_pem(private=True))
    return key


def _public(key: ECKey) -> ECKey:
    return ECKey.import_key(key.as_pem(private=False))
