"""Plain words for what is addressed to the agency: notices (``/v1/exceptions/notices``) and silent
alerts (``/v1/alerts``), by their kind or code, with what to do next.

The sentences are gettext msgids rendered into the workspace page (``#notice-kinds``); a kind with no
sentence shows :data:`UNKNOWN_NOTICE` and the kind itself. Pure data: nothing here reads a notice.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["NOTICE_KINDS", "UNKNOWN_NOTICE", "sentences"]

UNKNOWN_NOTICE = ("A notice your agency must read. Note the code shown here and ask your administrator what it "
                  "means.")

NOTICE_KINDS: dict[str, str] = {
    "exception_used": ("This person's information was shared without their consent, under a lawful exception "
                       "approved by two staff members. Check the case, and be ready to explain it to the person."),
    "guardian_suspected": ("The child's guardian is suspected of harming them, so the guardian's consent no longer "
                           "counts. Act for the child as their guardian advocate."),
    "age_corrected_to_child": ("This person was found to be a child. What you received about them as an adult must "
                               "now be handled under the child rules: review what you hold."),
    "guardian_advocate_task": "A child needs their guardian advocate. Review the case and act for the child.",
    "stage1_decision_overdue": ("The first identification decision for this person is overdue. Contact the competent "
                                "authority."),
    "child_entitlements_overdue": ("A child's entitlements are overdue. Check today that support and a guardian "
                                   "are in place."),
    "recovery_period_extension_due": ("The person's recovery period ends soon. Ask for an extension if they still "
                                      "need it."),
    "interim_permit_reminder": ("The person may need an interim residence permit while their recovery period is "
                                "extended. Check that it is asked for in time."),
    "portal_code_being_guessed": ("Someone holding this person's card keeps typing wrong PINs. Contact the person "
                                  "safely: they may have lost the card, or be under pressure."),
    "duress_sign_in": ("The person signed in with their safety PIN: they may be in danger. Follow your safety plan, "
                       "and do not contact them in a way that could expose them."),
}
"""Notice kind or alert code -> the msgid of its sentence."""


def sentences() -> Iterator[str]:
    yield UNKNOWN_NOTICE
    yield from dict.fromkeys(NOTICE_KINDS.values())
