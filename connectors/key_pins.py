"""Pinned agency keys: the SDK trusts a key only if it is pinned or proven bound by the agency itself.

First contact: a person types the fingerprints the other agency read out to them (phone,
in person), and :meth:`KeyPins.pin` records the keys the gateway shows *with exactly those
fingerprints*. From then on a key for that agency is accepted only if

* it is the pinned key, or
* it was bound by the agency itself: a ``registry:key:bind`` entry whose binding is signed by
  the agency's *pinned* signing key, proven (RFC 9162 inclusion proof) in a checkpoint that the
  trusted witnesses cosigned (:class:`~connectors.tree_head.WitnessedLog`).

A key accepted the second way replaces the pin and is reported loudly (``on_key_change``
and a WARNING on the ``connectors.keys`` logger). Anything else raises :class:`KeyNotTrusted`
naming why, e.g. a key the operator registered and "verified" with its own token, which has no
binding the agency signed (``no_agency_binding``).

The pin file is JSON, ``{agency_id: {kind: {"public_key", "fingerprint", "source"}}}``,
written atomically; keep it with the agency's own keys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.binding import verify_binding
from crypto.encoding import b64u_decode
from crypto.keys import AgencyPublicKeys, normalise_fingerprint
from crypto.merkle import verify_inclusion
from crypto.note import parse_checkpoint, parse_note
from crypto.revocation import verify_revocation

from .audit import entry_leaf_hash
from .errors import GatewayAPIError, VerificationError
from .state_file import write_atomically
from .tree_head import TreeHead

__all__ = ["KeyChange", "KeyNotTrusted", "KeyPins"]

log = logging.getLogger("connectors.keys")


class KeyNotTrusted(VerificationError):
    """A key was refused. ``reason``: ``not_pinned``, ``fingerprint_not_found``, ``no_agency_binding``,
    ``binding_not_proven``, ``no_witnessed_log``, ``key_revoked``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class KeyChange:
    agency_id: str
    kind: str
    old_fingerprint: str
    new_fingerprint: str
    seq: int
    """The log entry of the agency's binding."""


class KeyPins:
    def __init__(self, path: Path | None = None, *, on_key_change: Callable[[KeyChange], None] | None = None) -> None:
        self.path = path
        self.on_key_change = on_key_change
        self.pins: dict[str, dict[str, dict[str, str]]] = {}
        self.proofs_checked = 0
        """Inclusion proofs and binding signatures checked (benchmarks count work)."""
        if path is not None and path.exists():
            self.pins = json.loads(path.read_text())

    def _save(self) -> None:
        if self.path is None:
            return
        write_atomically(self.path, json.dumps(self.pins, indent=1, sort_keys=True))

    def pinned(self, agency_id: str, kind: str) -> dict[str, str] | None:
        return self.pins.get(agency_id, {}).get(kind)

    def pin(self, agency_id: str, keys: list[Mapping[str, Any]], typed: Mapping[str, str]) -> None:
        """Pin, for each kind in ``typed`` (``x25519``/``ed25519`` -> fingerprint a person typed), the
        key among ``keys`` (the registry's answer) with exactly that fingerprint."""
        for kind, fingerprint in typed.items():
            try:
                wanted = normalise_fingerprint(fingerprint)
            except ValueError:
                raise KeyNotTrusted("fingerprint_not_found", f"{fingerprint!r} is not a fingerprint") from None
            match = next((k for k in keys if k.get("kind") == kind and k.get("fingerprint") == wanted
                          and k.get("status") == "verified"), None)
            if match is None:
                raise KeyNotTrusted("fingerprint_not_found",
                                    f"the gateway shows no verified {kind} key of {agency_id} with fingerprint "
                                    f"{wanted}: do not send; call the agency on its known number")
            self.pins.setdefault(agency_id, {})[kind] = {
                "public_key": str(match["public_key"]), "fingerprint": wanted, "source": "typed"}
        self._save()

    def _refuse_if_revoked(self, agency_id: str, key: Mapping[str, Any], proof: Callable[[], Mapping[str, Any]],
                           accept_head: Callable[[str], TreeHead]) -> None:
        """Raise ``key_revoked`` if the witnessed log proves a revocation of ``key`` that the agency signed
        (with its pinned signing key, or with the revoked key itself), and drop the pin."""
        try:
            evidence = proof()
        except GatewayAPIError as exc:
            if exc.reason == "not_witnessed":
                return  # nothing about this key is witnessed yet: no revocation to prove (a few seconds)
            raise
        signers = [b64u_decode(p["public_key"]) for p in (self.pinned(agency_id, "ed25519"),) if p is not None]
        if key.get("kind") == "ed25519":
            signers.append(b64u_decode(str(key["public_key"])))
        revocations = [e for e in evidence.get("events", []) if e["entry"].get("action") == "registry:key:revoke_signed"
                       and e["entry"].get("details", {}).get("public_key") == key["public_key"]]
        if not revocations:
            return
        note = str(evidence["checkpoint"])
        head = accept_head(note)
        checkpoint = parse_checkpoint(parse_note(note).text)
        for event in revocations:
            entry = event["entry"]
            details = entry["details"]
            document, signature = details.get("revocation", {}), str(details.get("signature", ""))
            self.proofs_checked += 2
            if not (isinstance(document, Mapping) and document.get("public_key") == key["public_key"]
                    and document.get("agency_id") == agency_id
                    and any(verify_revocation(document, signature, s) for s in signers)):
                continue
            hashes = [bytes.fromhex(h) for h in event["proof"]]
            if head.size == checkpoint.size and verify_inclusion(entry_leaf_hash(entry), int(entry["seq"]),
                                                                 checkpoint.size, hashes, checkpoint.root):
                for kind, pinned in list(self.pins.get(agency_id, {}).items()):
                    if pinned["public_key"] == key["public_key"]:
                        del self.pins[agency_id][kind]
                self._save()
                log.warning("KEY REVOKED by %s: %s (%s), log entry %s", agency_id, key.get("fingerprint"),
                            document.get("reason"), entry["seq"])
                raise KeyNotTrusted("key_revoked", f"{agency_id} revoked its {key.get('kind')} key "
                                                   f"{key.get('fingerprint')} ({document.get('reason')!r}), signed by "
                                                   f"the agency and proven in the witnessed log (entry {entry['seq']})")

    def pin_public_keys(self, agency_id: str, public: AgencyPublicKeys) -> None:
        """Pin both keys of ``agency_id`` from its public keys received out of band (a key file the
        agency handed over in person, not fetched from the gateway)."""
        fps = public.fingerprints()
        self.pins[agency_id] = {
            "x25519": {"public_key": public.encryption_b64, "fingerprint": fps["encryption"], "source": "given"},
            "ed25519": {"public_key": public.signing_b64, "fingerprint": fps["signing"], "source": "given"}}
        self._save()

    def pin_first_use(self, agency_id: str, keys: list[Mapping[str, Any]]) -> None:
        """Trust on first use, only when a client asked for it: pin the newest verified key of each kind
        the gateway shows for ``agency_id`` now (``source: tofu``), and say so loudly. Weaker than
        :meth:`pin`: whoever runs the gateway at that moment chooses the keys."""
        newest: dict[str, Mapping[str, Any]] = {}
        for key in keys:
            if key.get("status") == "verified" and key.get("kind") in ("x25519", "ed25519"):
                newest[str(key["kind"])] = key  # the registry lists keys oldest first
        if not newest:
            raise KeyNotTrusted("not_pinned", f"{agency_id} has no verified key to pin on first use")
        for kind, key in newest.items():
            self.pins.setdefault(agency_id, {})[kind] = {
                "public_key": str(key["public_key"]), "fingerprint": str(key["fingerprint"]), "source": "tofu"}
            log.warning("TRUST ON FIRST USE: pinned %s's %s key %s as the gateway shows it; confirm the fingerprint "
                        "with the agency", agency_id, kind, key["fingerprint"])
        self._save()

    def check(self, agency_id: str, key: Mapping[str, Any], proof: Callable[[], Mapping[str, Any]],
              accept_head: Callable[[str], TreeHead] | None) -> None:
        """Accept ``key`` (``kind``, ``public_key``, ``fingerprint``) of ``agency_id`` or raise KeyNotTrusted."""
        kind = str(key["kind"])
        pinned = self.pinned(agency_id, kind)
        if pinned is not None and pinned["public_key"] == key["public_key"]:
            if accept_head is not None:
                self._refuse_if_revoked(agency_id, key, proof, accept_head)
            return
        anchor = self.pinned(agency_id, "ed25519")
        if anchor is None:
            raise KeyNotTrusted("not_pinned", f"no key of {agency_id} is pinned: pin it first from the fingerprints "
                                              "the agency read out to you (first contact)")
        if accept_head is None:
            raise KeyNotTrusted("no_witnessed_log", f"{agency_id}'s {kind} key {key['fingerprint']} is not the pinned "
                                                    "one, and no witnessed log is configured to prove it")
        evidence = proof()
        note = str(evidence["checkpoint"])
        head = accept_head(note)  # quorum of witnesses, consistent with the head this agency kept
        checkpoint = parse_checkpoint(parse_note(note).text)
        self._refuse_if_revoked(agency_id, key, lambda: evidence, lambda _note: head)
        for event in evidence["events"]:
            entry = event["entry"]
            details = entry.get("details", {})
            if entry.get("action") != "registry:key:bind" or details.get("public_key") != key["public_key"]:
                continue
            self.proofs_checked += 2
            binding, signature = details.get("binding", {}), str(details.get("signature", ""))
            if not (binding.get("agency_id") == agency_id and binding.get("kind") == kind
                    and binding.get("public_key") == key["public_key"]
                    and verify_binding(binding, signature, b64u_decode(anchor["public_key"]))):
                continue
            hashes = [bytes.fromhex(h) for h in event["proof"]]
            if head.size != checkpoint.size or not verify_inclusion(
                    entry_leaf_hash(entry), int(entry["seq"]), checkpoint.size, hashes, checkpoint.root):
                raise KeyNotTrusted("binding_not_proven", f"the binding of {agency_id}'s {kind} key "
                                                          f"{key['fingerprint']} is not in the witnessed log")
            old = pinned["fingerprint"] if pinned is not None else "(none)"
            change = KeyChange(agency_id, kind, old, str(key["fingerprint"]), int(entry["seq"]))
            log.warning("KEY CHANGE for %s (%s): %s -> %s, bound by the agency's pinned signing key (log entry %s)",
                        agency_id, kind, old, key["fingerprint"], entry["seq"])
            if self.on_key_change is not None:
                self.on_key_change(change)
            self.pins.setdefault(agency_id, {})[kind] = {
                "public_key": str(key["public_key"]), "fingerprint": str(key["fingerprint"]), "source": "binding"}
            self._save()
            return
        raise KeyNotTrusted(
            "no_agency_binding",
            f"{agency_id}'s {kind} key {key['fingerprint']} is not the pinned key "
            f"{pinned['fingerprint'] if pinned else '(none)'} and no binding signed by {agency_id}'s pinned signing "
            f"key {anchor['fingerprint']} is in the witnessed log: it may have been put there by whoever runs the "
            "gateway. Refusing; call the agency on its known number")

