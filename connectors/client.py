"""``GatewayClient``: the agency side of the gateway API, with token handling.

Private keys never leave this process: the client signs its own client assertions and,
for referrals, seals and opens payloads locally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from crypto.binding import make_binding, verify_binding
from crypto.checkpoint import Checkpoint
from crypto.encoding import b64u_decode
from crypto.keys import AgencyKeyPair
from crypto.revocation import make_revocation

from .assertion import token_request_form
from .audit import CheckpointUpdate, check_checkpoint_update, verify_entry_inclusion
from .errors import GatewayAPIError, VerificationError
from .key_pins import KeyNotTrusted, KeyPins
from .operations import Operations
from .records import AgencyNotice, ExceptionGrant, Explanation
from .referral import OpenedReferral, Preview, make_preview, open_referral, seal_referral
from .retention import RetentionNotice, open_notice
from .tree_head import TreeHead, WitnessedLog

JSONDict = dict[str, Any]
__all__ = ["GatewayClient", "KeyNotTrusted"]


class GatewayClient(Operations):
    """A connection to one gateway as one agency."""

    def __init__(
        self,
        base_url: str,
        agency_id: str,
        keys: AgencyKeyPair,
        *,
        scope: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], float] = time.time,
        log: WitnessedLog | None = None,
        log_check_interval_s: float = 0.0,
        pins: KeyPins | None = None,
        trust_on_first_use: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.agency_id = agency_id
        self.keys = keys
        self.scope = scope
        self._now = now
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)
        self._token: str | None = None
        self._token_expires = 0.0
        self._key_ids: dict[str, str] = {}
        self.log = log
        """With a :class:`WitnessedLog`, every call first checks the gateway's witnessed tree head."""
        self.log_check_interval_s = log_check_interval_s
        self._log_checked_at = float("-inf")
        self.pins = pins if pins is not None else KeyPins()
        """Other agencies' keys are used only if pinned or proven bound by the agency in the witnessed
        log. Without a pin store given, an in-memory one (pin with :meth:`pin_agency` each run)."""
        self.trust_on_first_use = trust_on_first_use
        """Only when asked: an agency with no pinned key is pinned from what the gateway shows on first
        contact (reported loudly). Otherwise such an agency is refused (``not_pinned``)."""
        self.pinned_checkpoint: Checkpoint | None = None
        """The latest audit checkpoint this client has verified; a later one must extend it."""
        self._gateway_key: bytes | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- auth --------------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    def token(self) -> str:
        """A valid access token, fetched with a fresh client assertion when the last one nears expiry."""
        if self._token is None or self._now() > self._token_expires - 30:
            form = token_request_form(self.agency_id, self.keys.signing_seed, self.token_url, scope=self.scope,
                                      now=self._now())
            body = self._check(self._http.post("/oauth/token", data=form))
            self._token = str(body["access_token"])
            self._token_expires = self._now() + float(body["expires_in"])
        return self._token

    def acting_for(self, person_token: str) -> PersonClient:
        """A client acting for a signed-in staff member, from the person token they got at
        ``/staff`` (OAuth 2.0 Token Exchange, RFC 8693). Use it for what is theirs to do: plan a
        referral (decided with their role), record a subject, a consent or its withdrawal, answer an
        information request, request or approve an exception, approve a preview with the person, set a
        PIN, unlock a portal. The agency's client alone is refused these (``person_token_required``).
        The token is exchanged once and acts for about five minutes; then ask the person again."""
        return PersonClient(self, person_token)

    # -- plumbing ----------------------------------------------------------------------
    def check_log(self) -> TreeHead:
        """Fetch the newest witnessed checkpoint and accept it (quorum, consistency) or raise
        :class:`~connectors.tree_head.LogNotTrusted` naming the checkpoint and why."""
        if self.log is None:
            raise VerificationError("no witnessed log configured")
        note = self._check(self._http.get("/v1/audit/checkpoint/witnessed"))
        head = self._accept_note(str(note))
        self._log_checked_at = self._now()
        return head

    def _consistency(self, first: int, second: int) -> list[bytes]:
        body = self._check(self._http.get("/v1/audit/proof/consistency", params={"first": first, "second": second}))
        return [bytes.fromhex(h) for h in body["proof"]]

    def _accept_note(self, note: str) -> TreeHead:
        if self.log is None:
            raise VerificationError("no witnessed log configured")
        return self.log.accept(note, self._consistency)

    # -- key trust -----------------------------------------------------------------------
    def pin_agency(self, agency_id: str, *, x25519: str | None = None, ed25519: str | None = None) -> None:
        """First contact: pin the keys of ``agency_id`` whose fingerprints a person typed (read out by the agency)."""
        typed = {k: v for k, v in (("x25519", x25519), ("ed25519", ed25519)) if v}
        self.pins.pin(agency_id, list(self.request("GET", f"/v1/agencies/{agency_id}")["keys"]), typed)

    def trust_key(self, agency_id: str, key_id: str, key: JSONDict) -> None:
        """Raise :class:`KeyNotTrusted` unless ``key`` is pinned or proven bound by ``agency_id`` in the
        witnessed log (always: there is no opt-out). With ``trust_on_first_use`` an agency with no pin
        yet is pinned from the gateway's answer first, and that is logged as a WARNING."""
        if self.trust_on_first_use and not self.pins.pins.get(agency_id):
            self.pins.pin_first_use(agency_id, list(self.request("GET", f"/v1/agencies/{agency_id}")["keys"]))
        self.pins.check(agency_id, key,
                        lambda: dict(self._check(self._http.get(f"/v1/agencies/{agency_id}/keys/{key_id}/proof"))),
                        self._accept_note if self.log is not None else None)

    def bind_key(self, kind: str, public_key_b64: str, *, at: str) -> JSONDict:
        """Bind a new key of this agency (rotation), signed with this client's current signing key."""
        binding, signature = make_binding(agency_id=self.agency_id, kind=kind, public_key_b64=public_key_b64,
                                          signing_seed=self.keys.signing_seed, at=at)
        return dict(self.request("POST", f"/v1/agencies/{self.agency_id}/keys/bindings",
                                 json={"binding": binding, "signature": signature}))

    def revoke_key(self, key_id: str, kind: str, public_key_b64: str, reason: str, *, at: str,
                   signing_seed: bytes | None = None) -> JSONDict:
        """Revoke a key of this agency on its own signed word (with this client's signing key, or
        ``signing_seed``: the agency's other signing key when this one is lost). Senders' SDKs prove the
        revocation in the witnessed log and refuse the key (``key_revoked``); keep the answer's key id
        and check it with :meth:`monitor_keys` (``revoked=``) so a gateway hiding it is caught."""
        document, signature = make_revocation(agency_id=self.agency_id, kind=kind, public_key_b64=public_key_b64,
                                              reason=reason, signing_seed=signing_seed or self.keys.signing_seed,
                                              at=at)
        return dict(self._check(self._http.post(f"/v1/agencies/{self.agency_id}/keys/{key_id}/revocation",
                                                json={"revocation": document, "signature": signature})))

    @staticmethod
    def enrol(base_url: str, agency_id: str, keys: AgencyKeyPair, secret: str, *, at: str,
              transport: httpx.BaseTransport | None = None) -> list[JSONDict]:
        """First enrolment with the one-time secret received out of band: both keys, bound by the new signing key.

        Then read the fingerprints out to the agencies you deal with, so they can pin them.
        """
        public = keys.public()
        signed = [make_binding(agency_id=agency_id, kind=kind, public_key_b64=b64, signing_seed=keys.signing_seed,
                               at=at) for kind, b64 in (("ed25519", public.signing_b64),
                                                        ("x25519", public.encryption_b64))]
        with httpx.Client(base_url=base_url.rstrip("/"), transport=transport, timeout=10.0) as http:
            return list(GatewayClient._check(http.post(f"/v1/agencies/{agency_id}/enrol", json={
                "secret": secret, "bindings": [{"binding": b, "signature": s} for b, s in signed]})))

    def monitor_keys(self, known: set[str] | None = None, revoked: set[str] | None = None) -> list[JSONDict]:
        """Alarms for keys in this agency's name that it did not bind: every key in the directory or the log
        that is neither this client's own, nor in ``known``, nor bound by a binding signed with one of those;
        and for each key id in ``revoked`` (keys this agency revoked) that the gateway still shows usable or
        whose signed revocation is not in the log it serves (``revocation_hidden``)."""
        own = {self.keys.public().encryption_b64, self.keys.public().signing_b64, *(known or set())}
        events = list(self._check(self._http.get(f"/v1/agencies/{self.agency_id}/key-events")))
        for event in events:  # oldest first: a key bound by one of ours is ours, and may bind the next
            details = event.get("details", {})
            binding = details.get("binding")
            if event.get("action") == "registry:key:bind" and isinstance(binding, dict) and any(
                    verify_binding(binding, str(details.get("signature", "")), b64u_decode(k))
                    for k in own if binding.get("kind") in ("x25519", "ed25519")):
                own.add(str(details.get("public_key")))
        keys = {str(k["id"]): k for k in self.me()["keys"]}
        alarms: list[JSONDict] = []
        for key_id, key in keys.items():
            if key["public_key"] not in own and key["status"] != "revoked":
                alarms.append({"key_id": key_id, "kind": key["kind"], "fingerprint": key["fingerprint"],
                               "status": key["status"], "why": "a key in this agency's name that it did not bind"})
        for key_id in sorted(revoked or set()):
            shown = keys.get(key_id)
            signed = [e for e in events if e.get("action") == "registry:key:revoke_signed"
                      and str(e.get("details", {}).get("key_id")) == key_id]
            if shown is None or shown["status"] != "revoked" or not signed:
                alarms.append({"key_id": key_id, "kind": (shown or {}).get("kind"),
                               "fingerprint": (shown or {}).get("fingerprint"), "status": (shown or {}).get("status"),
                               "why": "revocation_hidden: a key this agency revoked is shown usable or its signed "
                                      "revocation is missing from the log"})
            elif self.log is not None:
                self._proven_revocation(key_id, shown)
        logged = {str(e.get("details", {}).get("key_id")) for e in events}
        alarms += [{"key_id": k, "why": "the log names a key the directory does not show"}
                   for k in sorted(logged - set(keys))]
        return alarms

    def _proven_revocation(self, key_id: str, key: JSONDict) -> None:
        """The signed revocation of our ``key_id`` is proven in the witnessed log (or LogNotTrusted/KeyNotTrusted)."""
        evidence = dict(self._check(self._http.get(f"/v1/agencies/{self.agency_id}/keys/{key_id}/proof")))
        probe = KeyPins()
        probe.pins[self.agency_id] = {"ed25519": {"public_key": self.keys.public().signing_b64,
                                                  "fingerprint": "", "source": "self"}}
        try:
            probe._refuse_if_revoked(self.agency_id, key, lambda: evidence, self._accept_note)
        except KeyNotTrusted as exc:
            if exc.reason == "key_revoked":
                return
            raise
        raise KeyNotTrusted("revocation_hidden", f"the revocation of {key_id} is not proven in the witnessed log")

    def request(self, method: str, path: str, *, json: Any = None, params: JSONDict | None = None,
                headers: dict[str, str] | None = None) -> Any:
        if self.log is not None and self._now() - self._log_checked_at >= self.log_check_interval_s:
            self.check_log()
        all_headers = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
        if self.log is not None and self.log.head is not None:
            all_headers["Tree-Head"] = self.log.head.header()  # gossip: the gateway checks it is on its log
        response = self._http.request(method, path, json=json, params=params, headers=all_headers)
        if response.status_code == 401 and self._token is not None:
            self._token = None  # revoked or expired early: one retry with a fresh token
            all_headers["Authorization"] = f"Bearer {self.token()}"
            response = self._http.request(method, path, json=json, params=params, headers=all_headers)
        return self._check(response)

    def download(self, path: str) -> bytes:
        response = self._http.get(path, headers={"Authorization": f"Bearer {self.token()}"})
        self._check(response)
        return response.content

    @staticmethod
    def _check(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise GatewayAPIError(response.status_code, str(body.get("reason", "http_error")),
                                  str(body.get("detail", "")), body if isinstance(body, dict) else {})
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith(("application/json", "application/problem+json")):
            return response.json()
        return response.text

    # -- registry ----------------------------------------------------------------------
    def me(self) -> JSONDict:
        return dict(self.request("GET", "/v1/agencies/me"))

    def agencies(self) -> list[JSONDict]:
        return list(self.request("GET", "/v1/agencies"))

    def recipient_key(self, agency_id: str, key_id: str | None = None) -> JSONDict:
        """The key to seal to; with pins, refused (:class:`KeyNotTrusted`) unless pinned or proven bound."""
        params = {"key_id": key_id} if key_id else None
        key = dict(self.request("GET", f"/v1/agencies/{agency_id}/recipient-key", params=params))
        self.trust_key(agency_id, str(key["key_id"]), key)
        return key

    def signing_key(self, agency_id: str, key_id: str) -> JSONDict:
        """A sender's signing key from the registry; refused unless it is verified now (and, with pins,
        pinned or proven bound by the sender)."""
        key = dict(self.request("GET", f"/v1/agencies/{agency_id}/keys/{key_id}"))
        if key.get("status") != "verified" or key.get("kind") != "ed25519":
            raise VerificationError(f"the sender's signing key is {key.get('status')}, not verified")
        self.trust_key(agency_id, key_id, key)
        return key

    def my_key_id(self, kind: str) -> str:
        """The registry id of this client's own public key of ``kind`` (``x25519`` or ``ed25519``), verified.

        Looked up once per client; if the key is revoked later, the gateway refuses the next submit
        (``sender_key_revoked``) and a new client must be made with the new key.
        """
        if kind not in self._key_ids:
            mine = self.keys.public().signing_b64 if kind == "ed25519" else self.keys.public().encryption_b64
            keys = [k for k in self.me()["keys"]
                    if k["kind"] == kind and k["status"] == "verified" and k["public_key"] == mine]
            if not keys:
                raise VerificationError(f"this client's {kind} key is not verified in the registry")
            self._key_ids[kind] = str(keys[0]["id"])
        return self._key_ids[kind]

    # -- exchange ----------------------------------------------------------------------
    def plan(self, subject_id: str, recipient_agency_id: str, purpose: str, fields: list[str], *,
             exception_grant_id: str | None = None) -> JSONDict:
        """Ask what may be sent. The answer says ``allow``, the permitted fields, reasons and obligations.
        With ``exception_grant_id`` the decision is made under that approved lawful exception."""
        body: JSONDict = {"subject_id": subject_id, "recipient_agency_id": recipient_agency_id, "purpose": purpose,
                          "fields": sorted(fields)}
        if exception_grant_id is not None:
            body["exception_grant_id"] = exception_grant_id
        return dict(self.request("POST", "/v1/plans", json=body))

    def preview(self, plan: JSONDict, fields: dict[str, Any], language: str) -> Preview:
        """What the person must see before sending (only the permitted fields)."""
        permitted = set(plan["permitted_fields"])
        return make_preview({k: v for k, v in fields.items() if k in permitted}, language)

    def approve_preview(self, plan: JSONDict, preview: Preview, *, channel: str = "in_person") -> None:
        """Record that the person approved ``preview``: their advocate's act, with them present, so
        call it on :meth:`acting_for` the signed-in advocate (the gateway refuses it otherwise)."""
        self.request("POST", f"/v1/plans/{plan['plan_id']}/preview-approvals", json={
            "preview_hash": preview.hash, "channel": channel})

    def seal(self, plan: JSONDict, fields: dict[str, Any], *, preview: Preview | None = None,
             endpoint_id: str | None = None) -> JSONDict:
        """Seal the permitted ``fields`` to the recipient's verified key and sign the manifest."""
        permitted = set(plan["permitted_fields"])
        to_send = {k: v for k, v in fields.items() if k in permitted}
        recipient_key = self.recipient_key(str(plan["recipient_agency_id"]))
        body = seal_referral(plan=plan, fields=to_send, sender_agency_id=self.agency_id, sender_keys=self.keys,
                             sender_key_id=self.my_key_id("ed25519"), recipient_key=recipient_key, preview=preview)
        if endpoint_id:
            body["endpoint_id"] = endpoint_id
        return body

    def submit_sealed(self, body: JSONDict, *, idempotency_key: str | None = None, attempts: int = 5,
                      retry_delay_s: float = 0.5) -> JSONDict:
        """Submit a sealed body; on a network failure, retry the *same* body with the same key.

        A retry after a lost answer gets the first answer back (the gateway stored the key
        with the envelope), so a referral is never stored twice.
        """
        key = idempotency_key or f"submit-{body['manifest']['envelope_id']}"
        for attempt in range(attempts):
            try:
                return dict(self.request("POST", "/v1/envelopes", json=body, headers={"Idempotency-Key": key}))
            except httpx.TransportError:
                if attempt == attempts - 1:
                    raise
                time.sleep(retry_delay_s * (2 ** attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def submit(self, plan: JSONDict, fields: dict[str, Any], *, preview: Preview | None = None,
               idempotency_key: str | None = None, endpoint_id: str | None = None) -> JSONDict:
        """Seal once and submit (with retries of the same sealed body)."""
        body = self.seal(plan, fields, preview=preview, endpoint_id=endpoint_id)
        return self.submit_sealed(body, idempotency_key=idempotency_key)

    def send(self, subject_id: str, recipient_agency_id: str, purpose: str, fields: dict[str, Any]) -> JSONDict:
        """Plan and submit in one call (for referrals that need no preview). Raises if nothing may go."""
        plan = self.plan(subject_id, recipient_agency_id, purpose, list(fields))
        if not plan["allow"]:
            raise GatewayAPIError(403, str((plan.get("reasons") or ["denied"])[0]), "the policy refused", plan)
        return self.submit(plan, fields)

    def inbox(self, limit: int = 20) -> list[JSONDict]:
        return list(self.request("GET", "/v1/inbox", params={"limit": limit}))

    def open(self, envelope: JSONDict) -> OpenedReferral:
        """Verify the sender's signature against the registry and decrypt the fields."""
        manifest = envelope["manifest"]
        key = self.signing_key(str(manifest["sender_agency_id"]), str(manifest["sender_key_id"]))
        return open_referral(envelope, recipient_agency_id=self.agency_id, recipient_keys=self.keys,
                             sender_signing_public_b64=str(key["public_key"]))

    def ack(self, envelope_id: str) -> JSONDict:
        return dict(self.request("POST", f"/v1/envelopes/{envelope_id}/ack"))

    def outbox(self, envelope_id: str) -> JSONDict:
        return dict(self.request("GET", f"/v1/outbox/{envelope_id}"))

    # -- lawful exceptions ---------------------------------------------------------------
    def request_exception(self, subject_id: str, *, basis: str, scenario: str, recipient_agency_id: str,
                          purpose: str, classes: list[str], justification_code: str, justification_ref: str,
                          fields: list[str] | None = None, **extra: Any) -> ExceptionGrant:
        """Ask for a grant under a basis and scenario your agency published (``extra``: ``ttl_s``,
        ``best_interests_ref``, ``defer_until``, ``defer_reason``). Person-bound: call it on
        :meth:`acting_for` (the requester is that person). It needs a second approver."""
        body: JSONDict = {"subject_id": subject_id, "basis": basis, "scenario": scenario,
                          "recipient_agency_id": recipient_agency_id, "purpose": purpose, "classes": classes,
                          "fields": fields or [], "justification_code": justification_code,
                          "justification_ref": justification_ref, **extra}
        return ExceptionGrant.from_json(self.request("POST", "/v1/exceptions", json=body))

    def approve_exception(self, grant_id: str) -> ExceptionGrant:
        """The second pair of eyes: another entitled person of the same agency (call it on
        :meth:`acting_for` with that person's token)."""
        return ExceptionGrant.from_json(self.request("POST", f"/v1/exceptions/{grant_id}/approvals"))

    def exception(self, grant_id: str) -> ExceptionGrant:
        return ExceptionGrant.from_json(self.request("GET", f"/v1/exceptions/{grant_id}"))

    def exceptions(self, subject_id: str | None = None) -> list[ExceptionGrant]:
        params = {"subject_id": subject_id} if subject_id else None
        return [ExceptionGrant.from_json(g) for g in self.request("GET", "/v1/exceptions", params=params)]

    def record_exception_explanation(self, subject_id: str, *, given_at: str, policy_version: str,
                                     language: str) -> Explanation:
        """Record that the person was told, at the outset, when your agency may share without asking (L1).
        Person-bound: call it on :meth:`acting_for`."""
        return Explanation.from_json(self.request("POST", "/v1/exceptions/explanations", json={
            "subject_id": subject_id, "given_at": given_at,
            "policy_version": policy_version, "language": language}))

    def notices(self) -> list[AgencyNotice]:
        """What your agency must be told (exceptions used on your cases, suspected guardians, age
        corrections, NRM deadline alerts)."""
        return [AgencyNotice.from_json(n) for n in self.request("GET", "/v1/exceptions/notices")]

    # -- retention: sealing and erasure notices (issue 22) ---------------------------------
    def retention_notices(self) -> list[RetentionNotice]:
        """The sealing and erasure notices sent to your agency, each checked against the gateway's key
        and its reference (the envelopes you received about the person) opened with your key."""
        return [open_notice(item, agency_id=self.agency_id, gateway_public=self.gateway_public_key(), keys=self.keys)
                for item in self.request("GET", "/v1/retention/notices")]

    def acknowledge_retention_notice(self, notice_id: str) -> JSONDict:
        """Confirm your agency sealed or erased its copies as the notice asks (idempotent)."""
        return dict(self.request("POST", f"/v1/retention/notices/{notice_id}/ack"))

    # -- audit log: checkpoint pinning ----------------------------------------------------
    def gateway_public_key(self) -> bytes:
        """The gateway's Ed25519 key from its JWKS (fetched once; pass it to the constructor's caller
        out of band where possible)."""
        if self._gateway_key is None:
            jwks = self._check(self._http.get("/.well-known/jwks.json"))
            okp = [k for k in jwks["keys"] if k.get("kty") == "OKP" and k.get("crv") == "Ed25519"]
            if not okp:
                raise VerificationError("the gateway publishes no Ed25519 key")
            self._gateway_key = b64u_decode(str(okp[0]["x"]))
        return self._gateway_key

    def pin_gateway_key(self, public_key: bytes) -> None:
        """Use this key (obtained out of band) instead of fetching the JWKS."""
        self._gateway_key = public_key

    def check_audit_log(self) -> CheckpointUpdate:
        """Fetch the latest signed checkpoint and check it extends the pinned one (a consistency proof);
        pin it if so. Raises :class:`VerificationError` when the log was rewritten (keep both signed
        checkpoints: they prove it) or the checkpoint does not verify."""
        latest = self.request("GET", "/v1/audit/checkpoints/latest")
        proof: list[str] = []
        old = self.pinned_checkpoint
        if old is not None and int(latest["tree_size"]) > old.tree_size:
            proof = list(self.request("GET", "/v1/audit/consistency-proof",
                                      params={"first": old.tree_size, "second": int(latest["tree_size"])})["proof"])
        update = check_checkpoint_update(old, latest, self.gateway_public_key(), proof)
        if update.rewritten:
            raise VerificationError(f"the gateway's audit log was rewritten ({update.reason})")
        if update.accept and update.checkpoint is not None:
            self.pinned_checkpoint = update.checkpoint
        elif update.reason in ("bad_signature", "malformed"):
            raise VerificationError(f"the gateway's checkpoint does not verify ({update.reason})")
        return update

    def verify_audit_entry(self, entry: JSONDict) -> bool:
        """Whether an audit entry (as ``/v1/audit/entries`` returns it) is in the pinned checkpoint's tree."""
        if self.pinned_checkpoint is None:
            self.check_audit_log()
        head = self.pinned_checkpoint
        if head is None or int(entry["seq"]) >= head.tree_size:
            return False
        proof = self.request("GET", f"/v1/audit/entries/{entry['seq']}/inclusion-proof",
                             params={"tree_size": head.tree_size})
        return verify_entry_inclusion(entry, proof["proof"], head, self.gateway_public_key())

    def audit_entries(self, *, after: int = -1, limit: int = 50) -> JSONDict:
        """A page of your agency's own audit entries (``entries``, ``next_after``)."""
        return dict(self.request("GET", "/v1/audit/entries", params={"after": after, "limit": limit}))

    # -- information requests (issue 21) ----------------------------------------------
    def request_information(self, holder_agency_id: str, subject_ref: str, purpose: str, fields: list[str], *,
                            basis: str = "consent", urgency: str = "medium") -> JSONDict:
        """Ask ``holder_agency_id`` for ``fields`` about ``subject_ref`` (its own subject id, given to you
        earlier, or an opaque reference: never a name). A person's request: call it on
        ``acting_for(person_token)``; the agency's client alone is refused (``person_token_required``)."""
        return dict(self.request("POST", "/v1/information-requests", json={
            "holder_agency_id": holder_agency_id, "subject_ref": subject_ref, "purpose": purpose,
            "fields": sorted(fields), "basis": basis, "urgency": urgency}))

    def information_requests(self, box: str = "inbox") -> list[JSONDict]:
        """Requests to this agency (``inbox``) or made by it (``outbox``)."""
        return list(self.request("GET", "/v1/information-requests", params={"box": box}))

    def answer_information_request(self, request_id: str) -> JSONDict:
        """Run the referral the request asks for through the policy; the answer is the plan."""
        return dict(self.request("POST", f"/v1/information-requests/{request_id}/answer", json={}))

    def decline_information_request(self, request_id: str, reason: str) -> JSONDict:
        """Decline with a closed reason code: a person's decision, so call it on
        ``acting_for(person_token)``; the agency's client alone is refused (``person_token_required``)."""
        return dict(self.request("POST", f"/v1/information-requests/{request_id}/decline", json={"reason": reason}))


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a grant type URI
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 - a token type URI


class PersonClient(GatewayClient):
    """The agency's client acting for one signed-in person (see :meth:`GatewayClient.acting_for`)."""

    def __init__(self, agency: GatewayClient, person_token: str) -> None:
        self.base_url = agency.base_url
        self.agency_id = agency.agency_id
        self.keys = agency.keys
        self.scope = agency.scope
        self._now = agency._now
        self._http = agency._http  # shared; closed by the agency's client
        self._token = None
        self._token_expires = 0.0
        self._key_ids = agency._key_ids
        self._person_token: str | None = person_token
        # The same trust as the agency's client: its witnessed log, its pinned keys and checkpoint.
        self.log = agency.log
        self.log_check_interval_s = agency.log_check_interval_s
        self._log_checked_at = agency._log_checked_at
        self.pins = agency.pins
        self.trust_on_first_use = agency.trust_on_first_use
        self.pinned_checkpoint = agency.pinned_checkpoint
        self._gateway_key = agency._gateway_key

    def close(self) -> None:
        return None

    def token(self) -> str:
        if self._token is not None and self._now() <= self._token_expires - 5:
            return self._token
        if self._person_token is None:
            raise GatewayAPIError(401, "person_token_expired",
                                  "The person's token was used up: ask them for a new one at /staff.")
        form = token_request_form(self.agency_id, self.keys.signing_seed, self.token_url, scope=self.scope,
                                  now=self._now())
        form.update(grant_type=TOKEN_EXCHANGE, subject_token=self._person_token, subject_token_type=JWT_TOKEN_TYPE)
        self._person_token = None  # single use, whatever the answer
        body = self._check(self._http.post("/oauth/token", data=form))
        self._token = str(body["access_token"])
        self._token_expires = self._now() + float(body["expires_in"])
        return self._token
