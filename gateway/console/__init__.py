"""The DPO and monitoring-body console: server-rendered pages under ``/console``.

Sign-in (argon2id password + TOTP) and sessions are in :mod:`gateway.console.auth`, pages
in :mod:`gateway.console.routes`, rendering in :mod:`gateway.console.views`; the generic
browser plumbing (sessions, CSRF, throttling, one-time codes) is :mod:`gateway.web`.
"""
