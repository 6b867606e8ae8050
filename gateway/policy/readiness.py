"""Whether the policy engine can decide now, answered cheaply on every probe.

A proxy or an orchestrator probes ``/readyz`` every second or so, on every replica. The probe
must stay cheap however slow the policy server is, and probes must never pile up behind one
another. So:

* A probe asks the engine one cheap question: which bundle (version and digest) the server
  says it holds (:meth:`~gateway.policy._remote.RemotePolicyEngine.published_marker`: one small
  ``GET /v1/data``). Only one probe at a time asks; a probe that finds another one asking
  answers with the last known state instead of waiting.
* Re-publication (a policy server that restarted has lost the bundle) and the full comparison of
  what the server holds with this replica's bundle (:meth:`RemotePolicyEngine.ready`: every
  module and the data, the defence against a module swapped under a kept label) run in the
  background, one at a time (single flight), never inside a probe. The full comparison runs
  after each publication and then at most once per ``verify_every_s``; a mismatch re-publishes.
* An engine whose OPA pulls the signed bundle itself (``pulls_bundle``) is ready exactly when OPA says
  it activated this replica's revision: nothing is published or compared in the background (OPA
  verified the bundle's signature against the policy owner's key before activating it).
* An engine without a marker (the embedded one) is simply asked ``ready()``: it holds the bundle
  in process, and the answer costs nothing.

The work is counted (``checks``, ``publishes``, ``verifications``) so tests prove the bound
without timing anything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["Marker", "PolicyReadiness"]

Marker = Literal["current", "other", "unreachable"]
"""What the policy server says it holds: this replica's bundle, something else (nothing, after a
restart; another version; a half-finished upload), or no answer at all."""

log = logging.getLogger("gateway.policy")


class PolicyReadiness:
    """Readiness of the engine ``engine_of()`` returns, with background re-publication."""

    def __init__(
        self,
        engine_of: Callable[[], Any],
        *,
        verify_every_s: float = 60.0,
        now: Callable[[], float] = time.monotonic,
        background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._engine_of = engine_of
        self._verify_every_s = verify_every_s
        self._now = now
        self._background = background or _thread
        self._probe = threading.Lock()
        self._state = threading.Lock()
        self._ready = False
        self._content_ok: bool | None = None
        """The last full comparison's result (None: not compared since the last publication)."""
        self._verified_at: float | None = None
        self._reconciling = False
        self._idle = threading.Event()
        self._idle.set()
        self.checks = 0
        self.publishes = 0
        self.verifications = 0

    def ready(self) -> bool:
        """The engine's readiness; never waits for another probe, never publishes in the caller."""
        engine = self._engine_of()
        if engine is None:
            return False
        if not self._probe.acquire(blocking=False):
            return self._ready  # another probe is asking right now: its answer is as good as ours
        try:
            self.checks += 1
            marker_of = getattr(engine, "published_marker", None)
            if marker_of is None:
                self._ready = self._verify(engine, counted=False)
                return self._ready
            try:
                marker: Marker = marker_of()
            except Exception:
                marker = "unreachable"
            if getattr(engine, "pulls_bundle", False):
                self._ready = marker == "current"
                return self._ready
            with self._state:
                if marker == "other":
                    self._content_ok = None
                    self._start_locked(engine, publish_first=True)
                elif marker == "current" and (self._verified_at is None
                                              or self._now() - self._verified_at >= self._verify_every_s):
                    self._start_locked(engine, publish_first=False)
                self._ready = marker == "current" and self._content_ok is not False
            return self._ready
        finally:
            self._probe.release()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no background publication or comparison runs (tests; shutdown)."""
        return self._idle.wait(timeout_s)

    def _start_locked(self, engine: Any, *, publish_first: bool) -> None:
        if self._reconciling:
            return  # single flight: the running one will leave the state right
        self._reconciling = True
        self._idle.clear()
        self._background(lambda: self._reconcile(engine, publish_first=publish_first))

    def _reconcile(self, engine: Any, *, publish_first: bool) -> None:
        """Publish if asked or if the server's content differs, then compare once more."""
        try:
            ok = False
            if not publish_first:
                ok = self._verify(engine)
            if not ok:
                try:
                    self.publishes += 1
                    engine.publish()
                except Exception as exc:
                    log.warning("policy bundle not published", extra={"error_type": type(exc).__name__})
                    return
                ok = self._verify(engine)
            with self._state:
                self._content_ok = ok
                self._verified_at = self._now()
        finally:
            with self._state:
                self._reconciling = False
                self._idle.set()

    def _verify(self, engine: Any, *, counted: bool = True) -> bool:
        if counted:
            self.verifications += 1
        try:
            return bool(engine.ready())
        except Exception:
            return False


def _thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="policy-readiness", daemon=True).start()
