"""Typed calls for every operation of the gateway API that the exchange itself does not need: people
and consents, children, the person's portal access, alerts, statistics, record-linkage epochs, staff
administration, the registry's operator calls and the service's own documents.

:class:`connectors.client.GatewayClient` inherits them. Results are the API's own schemas as TypedDicts
(``connectors/wire.py``, generated from the OpenAPI document), so a type checker sees what each call
returns. Person-bound calls (recording a subject or consent, a PIN, an account) go through
:meth:`GatewayClient.acting_for`: the agency's system alone is refused (``person_token_required``).

:data:`SDK_OPERATIONS` names the SDK call behind each operation of the document; a test keeps it
complete.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import quote

from . import wire

__all__ = ["SDK_OPERATIONS", "Operations"]


def _seg(value: str) -> str:
    """One path segment, escaped (an id is never allowed to address another path: ``/`` is escaped, and
    an empty id, ``.`` or ``..``, which a client would resolve against the path, is refused)."""
    if value in ("", ".", ".."):
        raise ValueError(f"not an id: {value!r}")
    return quote(value, safe="")


class Operations:
    """Typed calls; :class:`connectors.client.GatewayClient` supplies :meth:`request`."""

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> Any:
        raise NotImplementedError

    def download(self, path: str) -> bytes:
        """The body of a GET as bytes (for files: bundles, exports)."""
        raise NotImplementedError

    # -- the service ------------------------------------------------------------------------------
    def authorization_server(self) -> wire.AuthorizationServerOut:
        """RFC 8414 metadata: the token endpoint and the client authentication it accepts."""
        return cast(wire.AuthorizationServerOut, self.request("GET", "/.well-known/oauth-authorization-server"))

    def health(self) -> wire.HealthOut:
        return cast(wire.HealthOut, self.request("GET", "/healthz"))

    def readiness(self) -> wire.ReadinessOut:
        """Whether the gateway can decide (database and policy engine answer); a 503 raises."""
        return cast(wire.ReadinessOut, self.request("GET", "/readyz"))

    def checkpoint_key(self) -> str:
        """The checkpoint key as a C2SP note verifier key (compare it with the one you were given)."""
        return str(self.request("GET", "/v1/audit/checkpoint/key")).strip()

    def policy_bundle(self) -> bytes:
        """The signed policy bundle (.tar.gz) OPA pulls; ``gateway policy verify`` checks it against the
        policy owner's public key."""
        return self.download("/v1/policy/bundle.tar.gz")

    # -- the registry -----------------------------------------------------------------------------
    def agency(self, agency_id: str) -> wire.AgencyOut:
        return cast(wire.AgencyOut, self.request("GET", f"/v1/agencies/{_seg(agency_id)}"))

    def register_agency(self, body: wire.AgencyCreate) -> wire.AgencyOut:
        """Operator: register an agency (it then enrols its own keys with an enrolment secret)."""
        return cast(wire.AgencyOut, self.request("POST", "/v1/agencies", json=body))

    def enrolment_secret(self, agency_id: str) -> wire.GatewayRegistryKeyRoutesEnrolmentOut:
        """Operator: a one-time secret for the agency to enrol its keys with (hand it over out of band)."""
        return cast(wire.GatewayRegistryKeyRoutesEnrolmentOut,
                    self.request("POST", f"/v1/agencies/{_seg(agency_id)}/enrolment-secrets"))

    def add_key(self, agency_id: str, body: wire.KeyCreate) -> wire.KeyOut:
        """Operator: record a key. It stays ``unbound`` (never used) until the agency binds it itself."""
        return cast(wire.KeyOut, self.request("POST", f"/v1/agencies/{_seg(agency_id)}/keys", json=body))

    def key(self, agency_id: str, key_id: str) -> wire.KeyOut:
        return cast(wire.KeyOut, self.request("GET", f"/v1/agencies/{_seg(agency_id)}/keys/{_seg(key_id)}"))

    def verify_key(self, agency_id: str, key_id: str, fingerprint: str) -> wire.KeyOut:
        """Operator: the fingerprint the agency read back over the phone."""
        return cast(wire.KeyOut, self.request("POST", f"/v1/agencies/{_seg(agency_id)}/keys/{_seg(key_id)}/verify",
                                              json={"fingerprint": fingerprint}))

    def operator_revoke_key(self, agency_id: str, key_id: str, reason: str) -> wire.KeyOut:
        """Operator: revoke a key (an agency revokes its own, signed, with :meth:`revoke_key`)."""
        return cast(wire.KeyOut, self.request("POST", f"/v1/agencies/{_seg(agency_id)}/keys/{_seg(key_id)}/revoke",
                                              json={"reason": reason}))

    def key_proof(self, agency_id: str, key_id: str) -> wire.KeyProofOut:
        """The key's binding and revocation events with their inclusion in the witnessed log."""
        return cast(wire.KeyProofOut,
                    self.request("GET", f"/v1/agencies/{_seg(agency_id)}/keys/{_seg(key_id)}/proof"))

    def key_events(self, agency_id: str) -> list[wire.EntryOut]:
        return cast(list[wire.EntryOut], self.request("GET", f"/v1/agencies/{_seg(agency_id)}/key-events"))

    def add_endpoint(self, agency_id: str, url: str) -> wire.EndpointOut:
        return cast(wire.EndpointOut, self.request("POST", f"/v1/agencies/{_seg(agency_id)}/endpoints",
                                                   json={"url": url}))

    def endpoint(self, agency_id: str, endpoint_id: str) -> wire.EndpointOut:
        return cast(wire.EndpointOut,
                    self.request("GET", f"/v1/agencies/{_seg(agency_id)}/endpoints/{_seg(endpoint_id)}"))

    def verify_endpoint(self, agency_id: str, endpoint_id: str, fingerprint: str) -> wire.EndpointOut:
        return cast(wire.EndpointOut, self.request(
            "POST", f"/v1/agencies/{_seg(agency_id)}/endpoints/{_seg(endpoint_id)}/verify",
            json={"fingerprint": fingerprint}))

    def revoke_endpoint(self, agency_id: str, endpoint_id: str, reason: str) -> wire.EndpointOut:
        return cast(wire.EndpointOut, self.request(
            "POST", f"/v1/agencies/{_seg(agency_id)}/endpoints/{_seg(endpoint_id)}/revoke", json={"reason": reason}))

    # -- the audit log ----------------------------------------------------------------------------
    def checkpoint(self, tree_size: int) -> wire.CheckpointOut:
        return cast(wire.CheckpointOut, self.request("GET", f"/v1/audit/checkpoints/{int(tree_size)}"))

    def cut_checkpoint(self) -> wire.CheckpointOut:
        """Operator: sign the current tree head now (the scheduler also does, on its timer)."""
        return cast(wire.CheckpointOut, self.request("POST", "/v1/audit/checkpoints"))

    # -- people (pseudonymous subjects) ----------------------------------------------------------
    def create_subject(self, body: wire.SubjectCreate) -> wire.SubjectOut:
        """Person-bound: a pseudonymous record (attributes only, never a name)."""
        return cast(wire.SubjectOut, self.request("POST", "/v1/subjects", json=body))

    def subjects(self, *, limit: int = 50, before: str | None = None) -> list[wire.SubjectOut]:
        """Your agency's people, newest first (``before``: the last id of the previous page)."""
        params: dict[str, Any] = {"limit": limit, **({"before": before} if before else {})}
        return cast(list[wire.SubjectOut], self.request("GET", "/v1/subjects", params=params))

    def subject(self, subject_id: str) -> wire.SubjectOut:
        return cast(wire.SubjectOut, self.request("GET", f"/v1/subjects/{_seg(subject_id)}"))

    def change_subject(self, subject_id: str, body: wire.AttributeChangeIn) -> list[wire.AttributeChangeOut]:
        """Person-bound: change attributes with a reason (a child's case is reviewed again)."""
        return cast(list[wire.AttributeChangeOut],
                    self.request("POST", f"/v1/subjects/{_seg(subject_id)}/attributes", json=body))

    def attribute_history(self, subject_id: str) -> list[wire.AttributeChangeOut]:
        return cast(list[wire.AttributeChangeOut],
                    self.request("GET", f"/v1/subjects/{_seg(subject_id)}/attribute-history"))

    def record_mandated_reporter_notice(self, subject_id: str, body: wire.MandatedNoticeIn) -> wire.MandatedNoticeOut:
        """Person-bound: the person was told, before anything else, what your agency must report."""
        return cast(wire.MandatedNoticeOut,
                    self.request("POST", f"/v1/subjects/{_seg(subject_id)}/mandated-reporter-notices", json=body))

    # -- consents ---------------------------------------------------------------------------------
    def record_consent(self, body: wire.ConsentCreate) -> wire.ConsentCreated:
        """Person-bound, with the person present: the answer carries their portal access code once."""
        return cast(wire.ConsentCreated, self.request("POST", "/v1/consents", json=body))

    def consent(self, consent_id: str) -> wire.ConsentOut:
        return cast(wire.ConsentOut, self.request("GET", f"/v1/consents/{_seg(consent_id)}"))

    def consent_history(self, consent_id: str) -> wire.ConsentHistoryOut:
        return cast(wire.ConsentHistoryOut, self.request("GET", f"/v1/consents/{_seg(consent_id)}/history"))

    def withdraw_consent(self, consent_id: str, channel: wire.Channel) -> wire.WithdrawalOut:
        """Person-bound: the person withdrew (in person, by phone...); it takes effect at once."""
        return cast(wire.WithdrawalOut, self.request("POST", f"/v1/consents/{_seg(consent_id)}/withdraw",
                                                     json={"channel": channel}))

    def consents(self, subject_id: str, *, in_force: bool | None = None, purpose: str | None = None,
                 recipient: str | None = None) -> list[wire.ConsentOut]:
        params = {k: v for k, v in {"in_force": in_force, "purpose": purpose, "recipient": recipient}.items()
                  if v is not None}
        return cast(list[wire.ConsentOut],
                    self.request("GET", f"/v1/subjects/{_seg(subject_id)}/consents", params=params))

    def consent_card(self, consent_id: str, *, lang: str | None = None, layout: str | None = None,
                     access_code: str | None = None) -> str:
        """The printable consent card (HTML) in the person's language; with ``access_code`` (from
        :meth:`record_consent`) the card carries it, as handed to the person."""
        params = {k: v for k, v in {"lang": lang, "layout": layout}.items() if v is not None}
        headers = {"Portal-Access-Code": access_code} if access_code else None
        return str(self.request("GET", f"/v1/consents/{_seg(consent_id)}/card", params=params, headers=headers))

    # -- children ---------------------------------------------------------------------------------
    def record_best_interests(self, subject_id: str, body: wire.BestInterestsBody) -> wire.BestInterestsOut:
        return cast(wire.BestInterestsOut,
                    self.request("POST", f"/v1/children/{_seg(subject_id)}/best-interests", json=body))

    def review_child(self, subject_id: str) -> wire.ChildReviewOut:
        """Run the children's rules on the record again (after an age or guardian change)."""
        return cast(wire.ChildReviewOut, self.request("POST", f"/v1/children/{_seg(subject_id)}/review"))

    def schedule_interview(self, subject_id: str, body: wire.InterviewBody) -> wire.ScheduledInterviewOut:
        return cast(wire.ScheduledInterviewOut,
                    self.request("POST", f"/v1/children/{_seg(subject_id)}/interviews", json=body))

    def interviews(self, subject_id: str) -> list[wire.InterviewOut]:
        return cast(list[wire.InterviewOut], self.request("GET", f"/v1/children/{_seg(subject_id)}/interviews"))

    # -- the person's portal access ---------------------------------------------------------------
    def portal_access(self, subject_id: str) -> wire.PortalAccessOut:
        return cast(wire.PortalAccessOut, self.request("GET", f"/v1/subjects/{_seg(subject_id)}/portal-access"))

    def set_portal_pin(self, subject_id: str, pin: str, *, duress_pin: str | None = None) -> wire.PortalAccessOut:
        """Person-bound, with the person present: they choose the PIN (and, if they wish, a duress PIN)."""
        body: dict[str, Any] = {"pin": pin, **({"duress_pin": duress_pin} if duress_pin else {})}
        return cast(wire.PortalAccessOut,
                    self.request("POST", f"/v1/subjects/{_seg(subject_id)}/portal-access/pin", json=body))

    def unlock_portal(self, subject_id: str) -> wire.PortalAccessOut:
        return cast(wire.PortalAccessOut,
                    self.request("POST", f"/v1/subjects/{_seg(subject_id)}/portal-access/unlock"))

    # -- alerts and statistics --------------------------------------------------------------------
    def alerts(self, *, limit: int = 50) -> wire.AlertsOut:
        """NRM deadline alerts addressed to your agency."""
        return cast(wire.AlertsOut, self.request("GET", "/v1/alerts", params={"limit": limit}))

    def statistics_catalogue(self) -> wire.StatisticsCatalogueOut:
        return cast(wire.StatisticsCatalogueOut, self.request("GET", "/v1/statistics/catalogue"))

    def statistics_cost(self, body: wire.TableBody) -> wire.StatisticsCostOut:
        """The privacy budget a table would spend, before releasing it."""
        return cast(wire.StatisticsCostOut, self.request("POST", "/v1/statistics/cost", json=body))

    def release_statistics(self, body: wire.TableBody) -> wire.StatisticsReleaseOut:
        return cast(wire.StatisticsReleaseOut, self.request("POST", "/v1/statistics/releases", json=body))

    def statistics_release(self, release_id: str) -> wire.StatisticsReleaseOut:
        return cast(wire.StatisticsReleaseOut,
                    self.request("GET", f"/v1/statistics/releases/{_seg(release_id)}.json"))

    def statistics_release_csv(self, release_id: str) -> str:
        return str(self.request("GET", f"/v1/statistics/releases/{_seg(release_id)}.csv"))

    # -- record linkage (the key and query calls are in connectors.linkage) -----------------------
    def forget_linkage_key(self, subject_id: str) -> None:
        """Withdraw the person's linkage key: other agencies' queries no longer find them here."""
        self.request("DELETE", f"/v1/linkage/subjects/{_seg(subject_id)}/key")

    def linkage_match(self, match_id: str) -> wire.LinkageMatchOut:
        return cast(wire.LinkageMatchOut, self.request("GET", f"/v1/linkage/matches/{_seg(match_id)}"))

    def open_linkage_epoch(self, body: wire.EpochBody) -> wire.LinkageEpochOut:
        return cast(wire.LinkageEpochOut, self.request("POST", "/v1/linkage/epochs", json=body))

    # -- information requests (the others are on GatewayClient) -----------------------------------
    def information_request(self, request_id: str) -> wire.InformationRequestOut:
        return cast(wire.InformationRequestOut,
                    self.request("GET", f"/v1/information-requests/{_seg(request_id)}"))

    # -- retention: seals, erasure, orders, staleness (notices: GatewayClient.retention_notices) --
    def seal_records(self, subject_id: str, body: wire.SealBody) -> wire.SealOut:
        """Person-bound (the owner agency): seal, vacate or expunge classes; every past recipient is told."""
        return cast(wire.SealOut, self.request("POST", f"/v1/retention/subjects/{_seg(subject_id)}/seals", json=body))

    def erase(self, subject_id: str) -> wire.ErasureOut:
        """Person-bound (the owner agency): erase the person (refused under a legal hold or court order)."""
        return cast(wire.ErasureOut, self.request("POST", f"/v1/retention/subjects/{_seg(subject_id)}/erasure"))

    def record_order(self, subject_id: str, body: wire.OrderBody) -> wire.OrderOut:
        """A legal hold, court order or court access order on the person's records."""
        return cast(wire.OrderOut, self.request("POST", f"/v1/retention/subjects/{_seg(subject_id)}/orders",
                                                json=body))

    def lift_order(self, order_id: str) -> wire.OrderOut:
        return cast(wire.OrderOut, self.request("POST", f"/v1/retention/orders/{_seg(order_id)}/lift"))

    def record_key_details_review(self, subject_id: str) -> wire.ReviewOut:
        """The key details were checked with the person again (ends the staleness warning)."""
        return cast(wire.ReviewOut,
                    self.request("POST", f"/v1/retention/subjects/{_seg(subject_id)}/key-details-review"))

    def retention_warnings(self) -> list[wire.WarningOut]:
        """Data of your agency's people that is stale or about to be deleted."""
        return cast(list[wire.WarningOut], self.request("GET", "/v1/retention/warnings"))

    # -- staff administration ---------------------------------------------------------------------
    def staff_roles(self) -> wire.StaffRolesOut:
        return cast(wire.StaffRolesOut, self.request("GET", "/v1/staff/roles"))

    def staff_me(self) -> wire.WhoAmIOut:
        """Who the token acts for: the agency, and the signed-in person and roles if any."""
        return cast(wire.WhoAmIOut, self.request("GET", "/v1/staff/me"))

    def staff_accounts(self) -> list[wire.StaffAccountOut]:
        return cast(list[wire.StaffAccountOut], self.request("GET", "/v1/staff/accounts"))

    def create_staff_account(self, body: wire.AccountIn) -> wire.GatewayResponsesEnrolmentOut:
        """Person-bound (a staff administrator): the answer carries the one-time enrolment code."""
        return cast(wire.GatewayResponsesEnrolmentOut, self.request("POST", "/v1/staff/accounts", json=body))

    def recover_staff_account(self, account_id: str) -> wire.GatewayResponsesEnrolmentOut:
        return cast(wire.GatewayResponsesEnrolmentOut,
                    self.request("POST", f"/v1/staff/accounts/{_seg(account_id)}/recovery"))

    def revoke_staff_account(self, account_id: str) -> wire.StaffAccountOut:
        return cast(wire.StaffAccountOut, self.request("POST", f"/v1/staff/accounts/{_seg(account_id)}/revocation"))

    def set_plans_need_person(self, required: bool) -> wire.PlansNeedPersonOut:
        return cast(wire.PlansNeedPersonOut,
                    self.request("PUT", "/v1/staff/plans-need-person", json={"required": required}))

    def set_deferral_maximum(self, days: int | None) -> wire.DeferralMaximumOut:
        """Your agency's ceiling on deferring a person's notice (never above the legal maximum)."""
        return cast(wire.DeferralMaximumOut,
                    self.request("PUT", "/v1/staff/deferral-maximum", json={"deferral_max_days": days}))


SDK_OPERATIONS: dict[str, str] = {
    "POST /oauth/token": "connectors.client:GatewayClient.token",
    "GET /.well-known/jwks.json": "connectors.client:GatewayClient.gateway_public_key",
    "GET /.well-known/oauth-authorization-server": "connectors.operations:Operations.authorization_server",
    "GET /healthz": "connectors.operations:Operations.health",
    "GET /readyz": "connectors.operations:Operations.readiness",
    "POST /v1/plans": "connectors.client:GatewayClient.plan",
    "POST /v1/plans/{plan_id}/preview-approvals": "connectors.client:GatewayClient.approve_preview",
    "POST /v1/envelopes": "connectors.client:GatewayClient.submit_sealed",
    "GET /v1/inbox": "connectors.client:GatewayClient.inbox",
    "POST /v1/envelopes/{envelope_id}/ack": "connectors.client:GatewayClient.ack",
    "GET /v1/outbox/{outbox_envelope_id}": "connectors.client:GatewayClient.outbox",
    "POST /v1/agencies/{agency_id}/enrolment-secrets": "connectors.operations:Operations.enrolment_secret",
    "POST /v1/agencies/{agency_id}/enrol": "connectors.client:GatewayClient.enrol",
    "POST /v1/agencies/{agency_id}/keys/bindings": "connectors.client:GatewayClient.bind_key",
    "POST /v1/agencies/{agency_id}/keys/{key_id}/revocation": "connectors.client:GatewayClient.revoke_key",
    "GET /v1/agencies/{agency_id}/keys/{key_id}/proof": "connectors.operations:Operations.key_proof",
    "GET /v1/agencies/{agency_id}/key-events": "connectors.operations:Operations.key_events",
    "GET /v1/agencies": "connectors.client:GatewayClient.agencies",
    "POST /v1/agencies": "connectors.operations:Operations.register_agency",
    "GET /v1/agencies/me": "connectors.client:GatewayClient.me",
    "GET /v1/agencies/{agency_id}": "connectors.operations:Operations.agency",
    "POST /v1/agencies/{agency_id}/keys": "connectors.operations:Operations.add_key",
    "GET /v1/agencies/{agency_id}/keys/{key_id}": "connectors.operations:Operations.key",
    "POST /v1/agencies/{agency_id}/keys/{key_id}/verify": "connectors.operations:Operations.verify_key",
    "POST /v1/agencies/{agency_id}/keys/{key_id}/revoke": "connectors.operations:Operations.operator_revoke_key",
    "POST /v1/agencies/{agency_id}/endpoints": "connectors.operations:Operations.add_endpoint",
    "GET /v1/agencies/{agency_id}/endpoints/{endpoint_id}": "connectors.operations:Operations.endpoint",
    "POST /v1/agencies/{agency_id}/endpoints/{endpoint_id}/verify": "connectors.operations:Operations.verify_endpoint",
    "POST /v1/agencies/{agency_id}/endpoints/{endpoint_id}/revoke": "connectors.operations:Operations.revoke_endpoint",
    "GET /v1/agencies/{agency_id}/recipient-key": "connectors.client:GatewayClient.recipient_key",
    "GET /v1/audit/checkpoints/latest": "connectors.client:GatewayClient.check_audit_log",
    "GET /v1/audit/checkpoints/{tree_size}": "connectors.operations:Operations.checkpoint",
    "POST /v1/audit/checkpoints": "connectors.operations:Operations.cut_checkpoint",
    "GET /v1/audit/entries/{seq}/inclusion-proof": "connectors.client:GatewayClient.verify_audit_entry",
    "GET /v1/audit/consistency-proof": "connectors.client:GatewayClient.check_audit_log",
    "GET /v1/audit/entries": "connectors.client:GatewayClient.audit_entries",
    "GET /v1/audit/checkpoint": "connectors.witness:Witness.run_once",
    "GET /v1/audit/checkpoint/witnessed": "connectors.client:GatewayClient.check_log",
    "GET /v1/audit/checkpoint/key": "connectors.operations:Operations.checkpoint_key",
    "GET /v1/policy/bundle.tar.gz": "connectors.operations:Operations.policy_bundle",
    "GET /v1/audit/proof/consistency": "connectors.client:GatewayClient._consistency",
    "POST /v1/audit/checkpoint/cosignatures": "connectors.witness:Witness.run_once",
    "POST /v1/subjects": "connectors.operations:Operations.create_subject",
    "GET /v1/subjects": "connectors.operations:Operations.subjects",
    "GET /v1/subjects/{subject_id}": "connectors.operations:Operations.subject",
    "POST /v1/subjects/{subject_id}/attributes": "connectors.operations:Operations.change_subject",
    "GET /v1/subjects/{subject_id}/attribute-history": "connectors.operations:Operations.attribute_history",
    "POST /v1/subjects/{subject_id}/mandated-reporter-notices":
        "connectors.operations:Operations.record_mandated_reporter_notice",
    "POST /v1/consents": "connectors.operations:Operations.record_consent",
    "GET /v1/consents/{consent_id}": "connectors.operations:Operations.consent",
    "GET /v1/consents/{consent_id}/history": "connectors.operations:Operations.consent_history",
    "POST /v1/consents/{consent_id}/withdraw": "connectors.operations:Operations.withdraw_consent",
    "GET /v1/subjects/{subject_id}/consents": "connectors.operations:Operations.consents",
    "GET /v1/consents/{consent_id}/card": "connectors.operations:Operations.consent_card",
    "POST /v1/exceptions": "connectors.client:GatewayClient.request_exception",
    "GET /v1/exceptions": "connectors.client:GatewayClient.exceptions",
    "POST /v1/exceptions/explanations": "connectors.client:GatewayClient.record_exception_explanation",
    "POST /v1/exceptions/{grant_id}/approvals": "connectors.client:GatewayClient.approve_exception",
    "GET /v1/exceptions/notices": "connectors.client:GatewayClient.notices",
    "GET /v1/exceptions/{grant_id}": "connectors.client:GatewayClient.exception",
    "POST /v1/children/{subject_id}/best-interests": "connectors.operations:Operations.record_best_interests",
    "POST /v1/children/{subject_id}/review": "connectors.operations:Operations.review_child",
    "POST /v1/children/{subject_id}/interviews": "connectors.operations:Operations.schedule_interview",
    "GET /v1/children/{subject_id}/interviews": "connectors.operations:Operations.interviews",
    "POST /v1/information-requests": "connectors.client:GatewayClient.request_information",
    "GET /v1/information-requests": "connectors.client:GatewayClient.information_requests",
    "GET /v1/information-requests/{request_id}": "connectors.operations:Operations.information_request",
    "POST /v1/information-requests/{request_id}/decline": "connectors.client:GatewayClient.decline_information_request",
    "POST /v1/information-requests/{request_id}/answer": "connectors.client:GatewayClient.answer_information_request",
    "GET /v1/subjects/{subject_id}/portal-access": "connectors.operations:Operations.portal_access",
    "POST /v1/subjects/{subject_id}/portal-access/pin": "connectors.operations:Operations.set_portal_pin",
    "POST /v1/subjects/{subject_id}/portal-access/unlock": "connectors.operations:Operations.unlock_portal",
    "GET /v1/alerts": "connectors.operations:Operations.alerts",
    "GET /v1/statistics/catalogue": "connectors.operations:Operations.statistics_catalogue",
    "POST /v1/statistics/cost": "connectors.operations:Operations.statistics_cost",
    "POST /v1/statistics/releases": "connectors.operations:Operations.release_statistics",
    "GET /v1/statistics/releases/{release_id}.json": "connectors.operations:Operations.statistics_release",
    "GET /v1/statistics/releases/{release_id}.csv": "connectors.operations:Operations.statistics_release_csv",
    "PUT /v1/linkage/subjects/{subject_id}/key": "connectors.linkage:enrol",
    "DELETE /v1/linkage/subjects/{subject_id}/key": "connectors.operations:Operations.forget_linkage_key",
    "POST /v1/linkage/queries": "connectors.linkage:query",
    "GET /v1/linkage/matches/{match_id}": "connectors.operations:Operations.linkage_match",
    "POST /v1/linkage/epochs": "connectors.operations:Operations.open_linkage_epoch",
    "POST /v1/retention/subjects/{subject_id}/seals": "connectors.operations:Operations.seal_records",
    "POST /v1/retention/subjects/{subject_id}/erasure": "connectors.operations:Operations.erase",
    "POST /v1/retention/subjects/{subject_id}/orders": "connectors.operations:Operations.record_order",
    "POST /v1/retention/orders/{order_id}/lift": "connectors.operations:Operations.lift_order",
    "POST /v1/retention/subjects/{subject_id}/key-details-review":
        "connectors.operations:Operations.record_key_details_review",
    "GET /v1/retention/notices": "connectors.client:GatewayClient.retention_notices",
    "POST /v1/retention/notices/{notice_id}/ack": "connectors.client:GatewayClient.acknowledge_retention_notice",
    "GET /v1/retention/warnings": "connectors.operations:Operations.retention_warnings",
    "GET /v1/staff/roles": "connectors.operations:Operations.staff_roles",
    "GET /v1/staff/me": "connectors.operations:Operations.staff_me",
    "GET /v1/staff/accounts": "connectors.operations:Operations.staff_accounts",
    "POST /v1/staff/accounts": "connectors.operations:Operations.create_staff_account",
    "POST /v1/staff/accounts/{account_id}/recovery": "connectors.operations:Operations.recover_staff_account",
    "POST /v1/staff/accounts/{account_id}/revocation": "connectors.operations:Operations.revoke_staff_account",
    "PUT /v1/staff/plans-need-person": "connectors.operations:Operations.set_plans_need_person",
    "PUT /v1/staff/deferral-maximum": "connectors.operations:Operations.set_deferral_maximum",
}
"""``"METHOD /path"`` of each operation of the OpenAPI document -> the SDK call behind it
(``module:qualified name``)."""
