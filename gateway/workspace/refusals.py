"""Plain words for a refusal: what a reason code means to a caseworker, and what to do next.

Every reason the policy can give (``policies/data/reasons.json``) and every ``reason`` of a problem
document the workspace's requests can meet (plan, preview approval, send, consent, PIN, exception
approval) maps to one sentence; several codes may share one. The sentences are gettext msgids,
translated in the five catalogues and rendered into the page (``#reasons``), so the script looks a
code up and shows the sentence in the caseworker's language. A code with no sentence (a newer
gateway, a bug) gets :data:`UNKNOWN`, a safe generic sentence, and the code itself.

Pure data: nothing here reads a request or a value.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["REFUSALS", "UNKNOWN", "plain_words", "sentences"]

UNKNOWN = ("This was refused, and nothing was sent or changed. Note the code shown here and ask your "
           "administrator what it means.")

_ENGINE = ("The sharing rules could not be checked just now, so nothing was sent. Try again in a few minutes; "
           "if it keeps happening, tell your administrator.")
_RECIPIENT = ("This agency has no confirmed key on the gateway, so nothing can be sent to it. Call the agency, "
              "or choose another recipient.")
_OWN_KEY = ("The key on this device is not your agency's confirmed key. Import your agency's current key file, "
            "or ask your administrator.")
_ROLE = "Your role does not allow this. Ask a colleague with the right role, or your administrator."
_NOT_NAMED = ("The person's consent does not name this agency. Record a consent with the person that names it "
              "(for another country, with its country), or choose another recipient.")
_NOT_CONSENTED = ("The person has not consented to this purpose, and consent to one purpose never covers another. "
                  "Record a consent for this purpose with the person, or choose another purpose.")
_SECOND_APPROVAL = ("Sharing without consent needs a second approval by another staff member entitled to approve, "
                    "never the one who asked. Ask a supervisor to approve it under Exceptions, then plan again.")
_GRANT_USED = ("The approval to share without consent has expired or was already used. Ask for a new one if it is "
               "still needed.")
_GRANT_SCOPE = ("The approval to share without consent does not cover this person, recipient, purpose or field. "
                "Ask for an approval that covers exactly what must go.")
_BASIS = ("This legal basis for sharing without consent cannot be used here. Ask your supervisor which basis "
          "applies, or ask the person for consent.")
_NOT_PUBLISHED = ("Your agency has not published this kind of exception in advance, so it cannot be used. Ask your "
                  "administrator or your data protection officer.")
_DEFERRAL = ("Telling the person may be delayed only for a covert investigation, and only up to your agency's "
             "published limit. Choose an earlier date, or leave the delay out.")
_FILM = ("A filmed interview goes only to the police and the courts, and only while the person's consent to "
         "filming is in force. Leave it out, or record that consent with the person.")
_THERAPY = ("What is said in therapy stays with the therapy service; it is shared only with the person's consent "
            "or by court order. Leave it out.")
_CHILD_CONSENT = ("For a child, this needs the guardian's consent and the child's own views, both recorded. Record "
                  "them with the guardian and the child, then try again.")
_GUARDIAN_SUSPECTED = ("The guardian is suspected of harming the child, so their consent no longer counts. Talk to "
                       "the child's guardian advocate.")
_CHANGED = ("What would be sent differs from what was planned and shown to the person. Ask again what may go, "
            "and show the person the new preview.")
_PLAN_GONE = "This plan has expired or was already used. Ask again what may go."
_INTERPRETER = ("Only a vetted professional interpreter may help with a consent; never a relative, a friend or "
                "anyone connected to the exploitation. Arrange a professional interpreter.")
_CJ_OPTION = ("For working with the police and the courts, record the person's choice (report and be a witness, "
              "give information without their name, or none), and share only what that choice allows.")
_RECIPIENT_UNKNOWN = "No agency with this name is registered. Choose the recipient from the list."
_PIN = ("This PIN is too easy to guess or has the wrong length. Ask the person to choose six to twelve digits "
        "that are not all the same or in a row.")
_DATE = "A date or time is in the future or impossible. Check the dates, then try again."

REFUSALS: dict[str, str] = {
    # --- the policy engine (policies/data/reasons.json, scope "engine")
    **dict.fromkeys(["policy_undefined", "policy_engine_error", "policy_engine_unreachable", "policy_timeout",
                     "policy_malformed_result", "policy_version_mismatch", "database_unavailable"], _ENGINE),
    # --- the whole request
    "input_invalid": ("The request was incomplete, so nothing was decided. Check the person, the recipient and the "
                      "fields, then ask again."),
    "unknown_purpose": "The sharing rules do not know this purpose. Choose one of the purposes in the list.",
    "unknown_recipient_role": ("The sharing rules do not know what kind of service this agency is. Ask your "
                               "administrator to check the agency's registration."),
    **dict.fromkeys(["recipient_unverified", "recipient_not_vetted", "recipient_not_addressable",
                     "recipient_key_unknown", "recipient_key_pending", "recipient_key_revoked", "no_verified_key",
                     "recipient_key_not_bound_by_agency"], _RECIPIENT),
    "country_of_origin_asylum_block": ("The person has claimed asylum or may be a refugee, so their country of "
                                       "origin is never contacted. Choose another recipient."),
    "country_of_origin_requires_return_consent": (
        "The authorities of the person's country of origin receive information only for a return, with the "
        "person's consent to it. Record that consent with the person first, or choose another recipient."),
    "immigration_firewall": ("Information about the help the person receives never goes to immigration "
                             "enforcement or the police; immigration receives only permit and return details. "
                             "Choose another recipient or purpose."),
    **dict.fromkeys(["exception_unknown_basis", "exception_basis_not_enabled"], _BASIS),
    **dict.fromkeys(["exception_not_approved", "exception_second_approver_missing", "exception_grant_required"],
                    _SECOND_APPROVAL),
    **dict.fromkeys(["exception_expired", "exception_grant_used", "exception_not_pending"], _GRANT_USED),
    **dict.fromkeys(["exception_recipient_mismatch", "exception_recipient_role_not_allowed",
                     "exception_purpose_not_allowed", "exception_scope", "exception_grant_subject_mismatch"],
                    _GRANT_SCOPE),
    **dict.fromkeys(["exception_not_in_agency_policy", "deferral_not_published"], _NOT_PUBLISHED),
    "exception_policy_not_explained": ("The person was not told at the start when your agency may share without "
                                       "asking. Tell them, record that you did, then ask again."),
    "exception_requires_child": "This legal basis applies to children only. Ask the person for consent instead.",
    "exception_self_approval": ("You asked for this exception, so you cannot approve it yourself. Another "
                                "supervisor must approve it."),
    "court_order_invalid": "The court order has no reference. Record the court order's reference, then ask again.",
    **dict.fromkeys(["exception_deferral_not_allowed", "deferral_too_long", "defer_reason_not_allowed",
                     "deferral_in_past", "defer_rule_incomplete"], _DEFERRAL),
    "guardian_advocate_required": ("A child's case needs a guardian advocate before anything is sent, except to "
                                   "child protection. Ask for a guardian advocate to be allocated first."),
    "guardian_advocate_service_not_allocated": ("This guardian advocate service is not the one allocated to the "
                                                "child. Send to the allocated service."),
    **dict.fromkeys(["child_guardian_consent_and_views_required", "child_views_required",
                     "guardian_consent_required"], _CHILD_CONSENT),
    "child_return_requires_best_interests": ("A child's return needs a recorded best-interests decision first. "
                                             "Record the decision, then plan again."),
    **dict.fromkeys(["guardian_suspected_consent_void", "guardian_suspended"], _GUARDIAN_SUSPECTED),
    **dict.fromkeys(["iom_unhcr_consent_must_name_agency", "cross_border_consent_must_name_recipient",
                     "recipient_not_named", "cross_border_recipient_unnamed"], _NOT_NAMED),
    **dict.fromkeys(["purpose_not_consented", "no_consent"], _NOT_CONSENTED),
    "no_fields_requested": "No field was chosen. Choose what you would like to send.",
    "no_permitted_fields": ("Nothing you chose may go to this agency for this purpose. Choose other fields, another "
                            "recipient or another purpose."),
    # --- one field (the reason shown next to the field)
    "unknown_field": "This field is not in the list of fields the gateway knows. Leave it out.",
    "child_identity_public": "A child's identity never goes to the media or the public. Leave it out.",
    "shelter_location_accommodation_only": ("Where the person stays goes only to the service that houses them. "
                                            "Leave it out, or send it to the accommodation provider."),
    "volunteer_sensitive_class": ("Volunteers and interpreters cannot send the most sensitive information. Ask a "
                                  "caseworker to do this."),
    **dict.fromkeys(["film_criminal_justice_only", "film_requires_filming_consent"], _FILM),
    **dict.fromkeys(["therapy_content_confined", "therapy_requires_consent_or_court_order"], _THERAPY),
    "forensic_requires_consent": ("Forensic findings are shared only while the person's consent to the examination "
                                  "is in force. Leave them out, or record that consent with the person."),
    "health_requires_healthcare_consent": ("Health information goes only to health services, with the person's "
                                           "consent to health care. Leave it out, or send it to a health service."),
    "police_tier": ("The person's choice about working with the police does not allow this information. Leave it "
                    "out, or talk to the person about their choice."),
    "risk_summary_narrative_excluded": ("The risk summary carries only the risks: never the story, health, therapy, "
                                        "location or the full assessment. Leave this field out."),
    "not_in_profile": "This recipient does not need this information for this purpose. Leave it out.",
    "scope_excludes_identifying": ("The person agreed to share facts about the case only, without their personal "
                                   "details. Leave out what identifies them."),
    "class_not_consented": ("The person's consent does not include this kind of information. Leave it out, or ask "
                            "the person whether they agree to add it."),
    "not_permitted": "No rule allows this field to go. Leave it out.",
    # --- plan, preview approval and send (problem documents)
    **dict.fromkeys(["person_token_required", "role_not_entitled", "insufficient_scope"], _ROLE),
    "preview_not_approved": ("The person has not approved the preview yet. Show them the preview and record their "
                             "agreement."),
    **dict.fromkeys(["preview_hash_mismatch", "preview_already_approved", "manifest_mismatch", "field_outside_plan",
                     "ciphertexts_mismatch"], _CHANGED),
    "risk_summary_missing": ("A referral to this service must carry the risk summary. Fill at least one risk summary "
                             "field, then show the person the preview again."),
    **dict.fromkeys(["plan_expired", "plan_already_used", "unknown_plan", "policy_denied"], _PLAN_GONE),
    "consent_withdrawn": ("The person withdrew their consent after you planned this, so nothing was sent. Talk to "
                          "the person before anything else."),
    "consent_expired": "The person's consent has expired. Record a new consent with the person if they still agree.",
    "consent_superseded": "The person's consent was changed after you planned this. Ask again what may go.",
    **dict.fromkeys(["sender_key_unknown", "sender_key_pending", "sender_key_revoked", "sender_key_not_bound_by_agency",
                     "signature_invalid"], _OWN_KEY),
    "unknown_subject": ("No person with this pseudonym is known to your agency. Check the pseudonym in the list of "
                        "people."),
    # --- recording a consent with the person
    "bundled_purposes": ("One consent covers one purpose. Go through each purpose with the person and record each "
                         "one on its own."),
    "explained_item_missing": ("Before the person agrees, explain every item on the list and tick it: why, where it "
                               "is kept, who can see it, each recipient, what is shared and any duty to share."),
    "notice_version_missing": "Name the version of the information notice you gave the person.",
    "interpreter_required": ("The consent was explained in a language other than the person's own. Record the "
                             "professional interpreter who helped."),
    **dict.fromkeys(["interpreter_not_independent", "interpreter_not_vetted"], _INTERPRETER),
    "capacity_lacking": ("The person cannot make this decision right now. Do not record a consent; come back when "
                         "they can, or follow your capacity procedure."),
    "duty_to_share_not_acknowledged": ("A recipient has a legal duty to pass some information on. Explain that duty "
                                       "to the person and tick it."),
    "expiry_invalid": "Choose an expiry date in the future, within the longest period allowed.",
    **dict.fromkeys(["cj_option_required", "cj_option_not_applicable", "scope_conflicts_with_cj_option"], _CJ_OPTION),
    "mandated_reporter_notice_missing": (
        "Your agency must report certain matters by law. Tell the person at the start and record that you did, "
        "then record the consent."),
    **dict.fromkeys(["recipient_unknown", "unknown_recipient", "unknown_agency"], _RECIPIENT_UNKNOWN),
    "purpose_missing": "Choose the purpose the person is agreeing to.",
    **dict.fromkeys(["obtained_at_in_future", "notice_in_future", "explanation_in_future"], _DATE),
    "staff_field_from_person_token": _ROLE,
    # --- the person's portal PIN
    **dict.fromkeys(["pin_digits_only", "pin_length", "pin_too_simple"], _PIN),
    "duress_pin_same_as_pin": "The safety PIN must differ from the PIN. Ask the person to choose another one.",
    "no_access_code": ("The person has no portal access code yet: it comes with their first consent. Record the "
                       "consent first."),
}
"""Reason code -> the msgid of its plain-words sentence (what it means, what to do next)."""


def plain_words(code: str) -> str:
    """The msgid for ``code``: its sentence, or :data:`UNKNOWN` for a code without one."""
    return REFUSALS.get(code, UNKNOWN)


def sentences() -> Iterator[str]:
    """Every distinct msgid, :data:`UNKNOWN` first (for the catalogue test)."""
    yield UNKNOWN
    yield from dict.fromkeys(REFUSALS.values())
