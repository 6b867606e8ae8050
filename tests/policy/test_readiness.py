"""Readiness stays cheap and never piles up (gateway/policy/readiness.py), against the OPA-compatible
server: a probe asks one small question; after OPA restarts, many concurrent probes publish the bundle
once, in the background; a module swapped under a kept label is found by the periodic full comparison
and re-published. Work is counted (publications, comparisons, the server's compilations), never timed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from gateway.policy import PolicyBundle, decide
from gateway.policy._remote import RemotePolicyEngine
from gateway.policy.readiness import PolicyReadiness
from tests.policy import inputs as i
from tests.support.opa_server import OpaServer


class Later:
    """Background work, held until the test runs it (so the test sees exactly what was started)."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.jobs.append(work)

    def run(self) -> int:
        ran = 0
        while self.jobs:
            self.jobs.pop(0)()
            ran += 1
        return ran


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def server() -> Iterator[OpaServer]:
    with OpaServer() as opa:
        yield opa


def _restart(server: OpaServer) -> OpaServer:
    """Stop the server and start an empty one on the same port (OPA keeps nothing across a restart)."""
    server.stop()
    return OpaServer(port=server.port).start()


def _probe_all(readiness: PolicyReadiness, n: int) -> list[bool]:
    barrier = threading.Barrier(n)
    answers: list[bool] = []
    lock = threading.Lock()

    def probe() -> None:
        barrier.wait()
        answer = readiness.ready()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=probe) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_after_an_opa_restart_many_concurrent_probes_publish_once(server: OpaServer, bundle: PolicyBundle) -> None:
    engine = RemotePolicyEngine(server.url, bundle, timeout_s=10.0)
    engine.publish()
    later, clock = Later(), Clock()
    readiness = PolicyReadiness(lambda: engine, now=clock, background=later)
    assert readiness.ready()
    assert later.run() == 1 and readiness.publishes == 0 and readiness.verifications == 1  # the first full check
    for _ in range(20):  # steady state: one small question per probe, nothing else
        assert readiness.ready()
    assert later.jobs == [] and readiness.publishes == 0 and readiness.verifications == 1

    restarted = _restart(server)
    try:
        builds_before = restarted.store.builds
        answers = _probe_all(readiness, 16)
        # OPA lost the bundle: the probes that asked say not ready (one that found another asking answers with
        # the last state), and no probe waited for a publication.
        assert False in answers
        assert len(later.jobs) == 1, "concurrent probes must start one publication, not one each"
        assert restarted.store.policies == {}  # nothing published inside a probe
        assert restarted.store.builds - builds_before <= 1  # the probes only read
        assert not readiness.ready()  # still one job pending: a probe does not start another
        assert len(later.jobs) == 1
        later.run()
        assert readiness.publishes == 1
        assert readiness.ready()
        assert decide(engine, i.ngo_referral()).allow
        for _ in range(10):
            assert readiness.ready()
        assert later.jobs == [] and readiness.publishes == 1
    finally:
        restarted.stop()
        engine.close()


def test_a_swapped_module_is_found_by_the_periodic_comparison_and_republished(
    server: OpaServer, bundle: PolicyBundle
) -> None:
    engine = RemotePolicyEngine(server.url, bundle, timeout_s=10.0)
    engine.publish()
    later, clock = Later(), Clock()
    readiness = PolicyReadiness(lambda: engine, now=clock, background=later, verify_every_s=60)
    assert readiness.ready()
    later.run()
    module_id = sorted(server.store.policies)[0]
    original = server.store.policies[module_id]
    server.store.put_policy(module_id, original + "\n# swapped\n")  # the label (version, digest) is kept
    clock.t += 59
    assert readiness.ready() and later.jobs == []  # between comparisons a probe only reads the label
    clock.t += 1
    readiness.ready()
    assert len(later.jobs) == 1
    later.run()
    assert readiness.verifications == 3 and readiness.publishes == 1  # found, re-published, checked again
    assert server.store.policies[module_id] == original
    assert readiness.ready()


def test_an_unreachable_opa_is_not_ready_and_nothing_is_published(bundle: PolicyBundle) -> None:
    server = OpaServer().start()
    engine = RemotePolicyEngine(server.url, bundle, timeout_s=2.0)
    engine.publish()
    later = Later()
    readiness = PolicyReadiness(lambda: engine, background=later)
    assert readiness.ready()
    later.run()
    server.stop()
    try:
        assert not any(readiness.ready() for _ in range(5))
        assert later.jobs == [] and readiness.publishes == 0
    finally:
        engine.close()


def test_in_a_thread_the_publication_runs_once_and_the_probe_becomes_ready(server: OpaServer,
                                                                          bundle: PolicyBundle) -> None:
    """The default background runner (a thread): probes before it finishes do not start another."""
    engine = RemotePolicyEngine(server.url, bundle, timeout_s=10.0)
    readiness = PolicyReadiness(lambda: engine)
    try:
        assert not readiness.ready()  # nothing published yet
        for _ in range(5):
            readiness.ready()
        assert readiness.wait_idle(60)
        assert readiness.ready()
        assert readiness.publishes == 1
    finally:
        engine.close()
