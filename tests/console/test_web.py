"""gateway.web: sessions, CSRF tokens, throttling and one-time codes, without a browser."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from consent.clock import FixedClock
from gateway.context import GatewayContext
from gateway.web.csrf import csrf_token_matches, new_csrf_token
from gateway.web.sessions import SessionPolicy, SessionStore
from gateway.web.throttle import Throttle, ThrottleKey
from gateway.web.totp import matching_step, spend_code, verify_code

POLICY = SessionPolicy(realm="portal", cookie_name="__Host-test", idle_s=60, absolute_s=600)


class TestSessions:
    def test_cookies_must_be_host_prefixed(self) -> None:
        with pytest.raises(ValueError):
            SessionPolicy(realm="x", cookie_name="session", idle_s=1, absolute_s=2)

    def test_ids_are_random_stored_hashed_and_realm_bound(self, ctx: GatewayContext, clock: FixedClock) -> None:
        store = SessionStore(POLICY, clock)
        with ctx.sessions() as session, session.begin():
            token, row = store.start(session, "person-1")
            other, _ = store.start(session, "person-1")
        assert token != other and len(token) >= 43 and row.id_hash != token
        with ctx.sessions() as session, session.begin():
            assert store.load(session, token) is not None
            assert store.load(session, "x" * 500) is None
            elsewhere = SessionStore(SessionPolicy("console", "__Host-c", 60, 600), clock)
            assert elsewhere.load(session, token) is None

    def test_idle_and_absolute_limits_follow_the_clock(self, ctx: GatewayContext, clock: FixedClock) -> None:
        store = SessionStore(POLICY, clock)
        with ctx.sessions() as session, session.begin():
            token, _ = store.start(session, "person-1")
        for _ in range(9):
            clock.advance(timedelta(seconds=59))
            with ctx.sessions() as session, session.begin():
                assert store.load(session, token) is not None
        clock.advance(timedelta(seconds=59))  # 590 s old: still inside both limits
        with ctx.sessions() as session, session.begin():
            assert store.load(session, token) is not None
        clock.advance(timedelta(seconds=20))  # 610 s: past the absolute limit
        with ctx.sessions() as session, session.begin():
            assert store.load(session, token) is None
            token, _ = store.start(session, "person-1")
        clock.advance(timedelta(seconds=61))
        with ctx.sessions() as session, session.begin():
            assert store.load(session, token) is None


def test_csrf_tokens() -> None:
    token = new_csrf_token()
    assert csrf_token_matches(token, token)
    assert not csrf_token_matches(token, token[:-1] + "x")
    for bad in (None, "", 5):
        assert not csrf_token_matches(token, bad)
    assert not csrf_token_matches(None, token)


def test_back_off_doubles_and_success_resets(ctx: GatewayContext, clock: FixedClock) -> None:
    throttle = Throttle("portal", clock)
    keys = [ThrottleKey("user", "someone", free=2, max_delay_s=8)]
    waits = []
    with ctx.sessions() as session, session.begin():
        for _ in range(7):
            throttle.failure(session, keys)
            waits.append(throttle.retry_after(session, keys))
        throttle.success(session, keys)
        assert throttle.retry_after(session, keys) == 0
    assert waits == [0, 0, 2, 3, 5, 9, 9]  # 1, 2, 4, 8, 8 (capped) seconds, rounded up


@pytest.mark.rule("NIST-800-63B-5.2.2")
def test_counts_decay_so_nobody_is_shut_out_for_good(ctx: GatewayContext, clock: FixedClock) -> None:
    """One unit leaks out per ``decay_s``, the remainder keeps leaking, and an idle key is purged."""
    throttle = Throttle("portal", clock)
    key = ThrottleKey("code", "subj_1", free=3, decay_s=100, max_delay_s=50)
    with ctx.sessions() as session, session.begin():
        assert throttle.failure(session, [key] * 6) == [1, 2, 3, 4, 5, 6]
        assert throttle.retry_after(session, [key]) == 5  # 4 s after the sixth, rounded up
        clock.advance(timedelta(seconds=250))  # two units leaked, half of the third is on its way
        assert throttle.count(session, key) == 4 and throttle.retry_after(session, [key]) == 0
        clock.advance(timedelta(seconds=50))
        assert throttle.count(session, key) == 3
        assert throttle.failure(session, [key]) == [4]  # the next failure counts from what is left
        clock.advance(timedelta(seconds=400))
        assert throttle.count(session, key) == 0
        assert Throttle.purge(session, clock.now(), older_than_s=300) == 1
        assert throttle.count(session, key) == 0
    refill = ThrottleKey("work", "10.0.0.1", free=2, decay_s=5, backoff="refill")
    with ctx.sessions() as session, session.begin():
        throttle.failure(session, [refill] * 3)
        assert throttle.retry_after(session, [refill]) == 6  # until one unit came back, never longer


class TestOneTimeCodes:
    def test_window_is_one_step_either_side(self, clock: FixedClock) -> None:
        secret = pyotp.random_base32()
        totp = pyotp.TOTP(secret)
        now = clock.now()
        step = int(now.timestamp()) // 30
        for offset in (-1, 0, 1):
            assert matching_step(secret, totp.at(now + timedelta(seconds=30 * offset)), now) == step + offset
        assert matching_step(secret, totp.at(now + timedelta(seconds=90)), now) is None
        assert matching_step(None, totp.at(now), now) is None

    def test_a_spent_step_and_earlier_ones_are_refused(self, ctx: GatewayContext, clock: FixedClock) -> None:
        secret = pyotp.random_base32()
        totp = pyotp.TOTP(secret)
        now = clock.now()
        with ctx.sessions() as session, session.begin():
            assert verify_code(session, "p-1", secret, totp.at(now), now)
            assert not verify_code(session, "p-1", secret, totp.at(now), now)
            assert not verify_code(session, "p-1", secret, totp.at(now - timedelta(seconds=30)), now)
            assert verify_code(session, "p-2", secret, totp.at(now), now)  # per principal
            step = int(now.timestamp()) // 30
            assert spend_code(session, "p-1", step + 1, now)
