"""Browser-facing plumbing shared by the server-rendered consoles (DPO console, person's portal).

* :mod:`gateway.web.sessions`: server-side sessions behind a ``__Host-`` cookie, with idle
  and absolute timeouts driven by the injected clock;
* :mod:`gateway.web.csrf`: synchroniser tokens bound to the session;
* :mod:`gateway.web.throttle`: exponential back-off after failed sign-ins;
* :mod:`gateway.web.totp`: RFC 6238 codes with a ±1 step window and no replay;
* :mod:`gateway.web.headers`: the security headers of every HTML page.

Nothing here knows about the console or the portal: each passes its own realm and policy.
"""
