"""The person's portal: see and withdraw consents, see who received what, ask for a correction,
complain; safely, in their language, with or without JavaScript.

- :mod:`gateway.portal.routes`: the pages under ``/p/`` (and ``/portal``, the card's address);
- :mod:`gateway.portal.auth`: access code + PIN sign-in, throttling, lockout, duress PIN;
- :mod:`gateway.portal.content`: what the pages show, read fresh on every request;
- :mod:`gateway.portal.api`: ``/v1`` routes for the advocate's agency (PINs, unlock, alerts);
- :mod:`gateway.portal.staff`: ``/console/requests``, where the DPO and the monitoring body
  handle corrections and complaints;
- :mod:`gateway.portal.models`: its tables.
"""
