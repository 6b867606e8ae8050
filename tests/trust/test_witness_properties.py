"""The witness and the SDK's head check as state machines: an honest, growing log is always accepted;
any rewrite of a head already accepted is always refused (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.tree_head import LogNotTrusted, WitnessedLog
from connectors.witness import Witness, WitnessAlarm
from crypto import merkle
from crypto import note as notes
from crypto.keys import generate_signing_seed

LOG_SEED, WITNESS_SEED = generate_signing_seed(), generate_signing_seed()
ORIGIN = "gw.example/audit"
LOG_KEY = notes.signer_verifier(ORIGIN, LOG_SEED)


def signed(leaves: list[bytes], size: int) -> str:
    text = notes.Checkpoint(ORIGIN, size, merkle.root(leaves[:size])).text()
    return notes.Note(text, (notes.sign_note(text, ORIGIN, LOG_SEED),)).render()


def prover(leaves: list[bytes]):  # type: ignore[no-untyped-def]
    return lambda first, second: merkle.consistency_proof(leaves[:second], first)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(2, 40))
def test_an_honest_log_is_always_cosigned_and_any_rewrite_is_refused(tmp_path: Path, data: st.DataObject,
                                                                     n: int) -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(n)]
    sizes = sorted(set(data.draw(st.lists(st.integers(1, n), min_size=1, max_size=6))))
    state = Path(tempfile.mkdtemp(dir=tmp_path)) / "witness.json"  # a fresh witness for every example
    witness = Witness(name="w.example/w", seed=WITNESS_SEED, log_key=LOG_KEY, state_path=state, now=lambda: 1.0)
    log = WitnessedLog(log_key=LOG_KEY, witnesses=[witness.verifier], quorum=1)
    for size in sizes:
        cosigned = witness.check(signed(leaves, size), prover(leaves))
        assert cosigned is not None
        assert log.accept(cosigned.render(), prover(leaves)).size == size
    last = sizes[-1]
    # Rewrite one entry the witness has already seen, and grow the log past it.
    victim = data.draw(st.integers(0, last - 1))
    forged = [*leaves[:victim], merkle.leaf_hash(b"rewritten"), *leaves[victim + 1:], merkle.leaf_hash(b"x")]
    bigger = data.draw(st.integers(last, len(forged)))
    with pytest.raises(WitnessAlarm) as alarm:
        witness.check(signed(forged, bigger), prover(forged))
    assert alarm.value.reason == ("split_view" if bigger == last else "inconsistent")
    # Even a note cosigned by a fooled witness (fresh state) is refused by the SDK that kept its head.
    fooled = Witness(name="w.example/w", seed=WITNESS_SEED, log_key=LOG_KEY, state_path=state.with_suffix(".new"))
    forged_note = fooled.check(signed(forged, bigger), prover(forged))
    assert forged_note is not None
    with pytest.raises(LogNotTrusted) as refused:
        log.accept(forged_note.render(), prover(forged))
    assert refused.value.rewritten and refused.value.reason in {"split_view", "inconsistent"}
