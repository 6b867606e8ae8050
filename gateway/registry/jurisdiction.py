"""An agency's jurisdiction: an ISO 3166-1 alpha-2 country code, checked against the standard's list.

Firewalls and cross-border rules (CR25) compare jurisdictions as codes, so ``Netherlands`` or
``XX`` must be refused at registration rather than stored as a code no rule will ever match.
"""

from __future__ import annotations

import iso3166

from ..errors import Unprocessable


def alpha2(value: str) -> str:
    """The upper-case alpha-2 code for ``value``; 422 ``invalid_jurisdiction`` with a hint otherwise."""
    text = value.strip()
    if len(text) == 2 and text.isascii() and text.isalpha():
        code = text.upper()
        if code in iso3166.countries_by_alpha2:
            return code
    hint = ""
    try:
        country = iso3166.countries.get(text)
        hint = f" (for {country.name}, use {country.alpha2})"
    except (KeyError, ValueError):
        pass
    raise Unprocessable("invalid_jurisdiction",
                        f"The jurisdiction must be an ISO 3166-1 alpha-2 country code such as NL{hint}.")
