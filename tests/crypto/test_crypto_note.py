"""C2SP signed notes, checkpoints and cosignatures: interoperable test vectors, strict parsing, properties."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import note as notes
from crypto.keys import generate_signing_seed

# golang.org/x/mod/sumdb/note's published example (note.go, note_test.go): another implementation's bytes.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_NOTE = (PETER_TEXT + "\n\u2014 PeterNeumann "
              "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


def test_go_sumdb_vector_signs_and_verifies_byte_for_byte() -> None:
    verifier = notes.Verifier.parse(PETER_VKEY)
    assert notes.signer_verifier("PeterNeumann", PETER_SEED).vkey() == PETER_VKEY
    signed = notes.Note(PETER_TEXT, (notes.sign_note(PETER_TEXT, "PeterNeumann", PETER_SEED),)).render()
    assert signed == PETER_NOTE
    assert notes.verifies(notes.parse_note(PETER_NOTE), verifier)
    altered = PETER_NOTE.replace("cryptography", "cryptographY")
    assert not notes.verifies(notes.parse_note(altered), verifier)


def test_a_vkey_whose_id_does_not_match_its_key_is_refused() -> None:
    with pytest.raises(ValueError, match="key id"):
        notes.Verifier.parse(PETER_VKEY.replace("c74f20a3", "c74f20a4"))


def test_checkpoint_cosignature_round_trip_and_tampering() -> None:
    log_seed, witness_seed = generate_signing_seed(), generate_signing_seed()
    head = notes.Checkpoint(origin="gw.example/audit", size=42, root=bytes(range(32)))
    text = head.text()
    assert text == "gw.example/audit\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    log = notes.signer_verifier("gw.example/audit", log_seed)
    witness = notes.signer_verifier("monitor.example/w", witness_seed, notes.COSIGNATURE)
    cosig = notes.cosign(text, "monitor.example/w", witness_seed, timestamp=1_700_000_000)
    note = notes.parse_note(notes.Note(text, (notes.sign_note(text, log.name, log_seed), cosig)).render())
    assert notes.verifies(note, log)
    assert notes.cosignature_timestamp(note, witness) == 1_700_000_000
    assert notes.verified_cosigners(note, [witness]) == [witness]
    assert notes.parse_checkpoint(note.text) == head
    # The same cosignature over another root (a rewritten log) does not verify.
    other = notes.Checkpoint(origin=head.origin, size=42, root=bytes(32)).text()
    moved = notes.Note(other, (notes.sign_note(other, log.name, log_seed), cosig))
    assert notes.verified_cosigners(moved, [witness]) == []
    # A cosignature key is not a log key, and vice versa (signature type in the key id).
    assert not notes.verifies(note, notes.Verifier(witness.name, notes.ED25519, witness.public_key))


@pytest.mark.parametrize("text", [
    "no blank line\n\u2014 k AAAAAAA=\n", "body\n\n\u2014 k\n", "body\n\n- k AAAAAAAA\n", "body\n\n",
    "body\x01\n\n\u2014 k AAAAAAAA\n", "body\n\n\u2014 k AAAAAAAA", "body\n\n\u2014 k+x AAAAAAAA\n",
])
def test_malformed_notes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        notes.parse_note(text)


@pytest.mark.parametrize("text", [
    "o\n01\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "o\n1\nAAEC\n",
    "\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    "o\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "o\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
])
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        notes.parse_checkpoint(text)


@given(origin=st.from_regex(r"[a-z0-9.]{1,20}/[a-z]{1,10}", fullmatch=True), size=st.integers(0, 2**62),
       root=st.binary(min_size=32, max_size=32), data=st.text(max_size=200))
def test_parsers_round_trip_and_never_crash(origin: str, size: int, root: bytes, data: str) -> None:
    head = notes.Checkpoint(origin=origin, size=size, root=root)
    assert notes.parse_checkpoint(head.text()) == head
    for parse in (notes.parse_note, notes.parse_checkpoint):
        with contextlib.suppress(ValueError):
            parse(data)


def test_a_vkey_whose_base64_holds_a_plus_parses() -> None:
    # transparency-dev/formats note_cosigv1_test.go: a type 0x01 key whose base64 contains '+'.
    assert notes.Verifier.parse("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6").name == "TEST"
