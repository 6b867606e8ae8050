"""A witness: co-signs the gateway's checkpoints only while the log stays append-only.

Run by an agency or the monitoring body, on its own machine, with its own key::

    python -m connectors.witness keygen witness.key --name monitoring.example/witness
    python -m connectors.witness run --url https://gateway.example --log-key '<checkpoint vkey>' \\
        --key witness.key --name monitoring.example/witness --state witness-state.json [--interval 2]

Each round it fetches the newest checkpoint note (``GET /v1/audit/checkpoint``), checks
the gateway's checkpoint-key signature, and then:

* same size and root as the head it cosigned last: nothing to do;
* a larger tree: fetches the consistency proof from its last head and checks it; if it
  holds, it *first* records the new head in its state file (fsync'd, atomically replaced),
  then cosigns (c2sp.org/tlog-cosignature, Ed25519) and sends the cosigned note back;
* anything else (a smaller tree, another root for the same size, a proof that fails,
  another origin, a bad signature): refuses, appends an alarm (JSON line) to
  ``<state>.alarms`` and raises :class:`WitnessAlarm`; the command exits with status 3.

The witness never cosigns a head it cannot prove consistent with the last one it
cosigned, so a log rewritten even with the gateway's own keys is refused for good.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from crypto import note as notes
from crypto.merkle import verify_consistency

from .state_file import write_atomically

__all__ = ["Witness", "WitnessAlarm", "WitnessState", "fetch_consistency_proof"]


class WitnessAlarm(Exception):
    """The log is not append-only (or not signed by its key). ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class WitnessState:
    origin: str
    size: int
    root: bytes

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.origin, "size": self.size, "root": self.root.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WitnessState:
        return cls(origin=str(data["origin"]), size=int(data["size"]), root=bytes.fromhex(str(data["root"])))


def fetch_consistency_proof(http: httpx.Client, first: int, second: int) -> list[bytes]:
    response = http.get("/v1/audit/proof/consistency", params={"first": first, "second": second})
    response.raise_for_status()
    return [bytes.fromhex(h) for h in response.json()["proof"]]


class Witness:
    """One witness of one log. ``state_path`` keeps the last cosigned head across restarts."""

    def __init__(self, *, name: str, seed: bytes, log_key: notes.Verifier, state_path: Path,
                 now: Callable[[], float] = time.time) -> None:
        self.name = name
        self.seed = seed
        self.log_key = log_key
        self.state_path = Path(state_path)
        self.alarm_path = self.state_path.with_name(self.state_path.name + ".alarms")
        self._now = now

    @property
    def verifier(self) -> notes.Verifier:
        """This witness's public key, to give to the gateway and to agencies."""
        return notes.signer_verifier(self.name, self.seed, notes.COSIGNATURE)

    def state(self) -> WitnessState | None:
        if not self.state_path.exists():
            return None
        return WitnessState.from_json(json.loads(self.state_path.read_text()))

    def _alarm(self, reason: str, detail: str, head: notes.Checkpoint | None) -> WitnessAlarm:
        record = {"at": int(self._now()), "reason": reason, "detail": detail,
                  "head": None if head is None else {"size": head.size, "root": head.root_hex}}
        with self.alarm_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        return WitnessAlarm(reason, detail)

    def check(self, signed_note: str, proof: Callable[[int, int], list[bytes]]) -> notes.Note | None:
        """Decide on one checkpoint note; return it cosigned, None if already cosigned, or raise the alarm."""
        try:
            note = notes.parse_note(signed_note)
            head = notes.parse_checkpoint(note.text)
        except ValueError as exc:
            raise self._alarm("malformed_checkpoint", str(exc), None) from None
        if head.origin != self.log_key.name:
            raise self._alarm("wrong_origin", f"checkpoint of {head.origin!r}, not {self.log_key.name!r}", head)
        if not notes.verifies(note, self.log_key):
            raise self._alarm("bad_log_signature", f"checkpoint of size {head.size} is not signed by the log key",
                              head)
        last = self.state()
        if last is not None:
            if head.size < last.size:
                raise self._alarm("rollback", f"checkpoint of size {head.size} is smaller than the size "
                                              f"{last.size} already cosigned", head)
            if head.size == last.size:
                if head.root != last.root:
                    raise self._alarm("split_view", f"two roots for size {head.size}: {last.root.hex()} cosigned, "
                                                    f"{head.root_hex} now", head)
                return None
            if not verify_consistency(last.size, head.size, last.root, head.root, proof(last.size, head.size)):
                raise self._alarm("inconsistent", f"checkpoint of size {head.size} (root {head.root_hex}) does not "
                                                  f"extend the cosigned checkpoint of size {last.size} "
                                                  f"(root {last.root.hex()})", head)
        # Remember first, sign second: a crash in between never leaves a cosigned head unrecorded.
        write_atomically(self.state_path,
                          json.dumps(WitnessState(head.origin, head.size, head.root).to_json()))
        cosignature = notes.cosign(note.text, self.name, self.seed, timestamp=int(self._now()))
        return notes.Note(note.text, (*note.signatures, cosignature))

    def run_once(self, http: httpx.Client) -> int | None:
        """Fetch, check, cosign and submit; return the size cosigned (None when nothing new)."""
        response = http.get("/v1/audit/checkpoint")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        cosigned = self.check(response.text, lambda a, b: fetch_consistency_proof(http, a, b))
        if cosigned is None:
            return None
        submitted = http.post("/v1/audit/checkpoint/cosignatures", content=cosigned.render().encode(),
                              headers={"Content-Type": "text/plain; charset=utf-8"})
        submitted.raise_for_status()
        return notes.parse_checkpoint(cosigned.text).size


def _say(message: str, flush: bool = True) -> None:
    sys.stdout.write(message + "\n")
    if flush:
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.witness``: ``keygen`` or ``run`` (see the module docstring)."""
    import argparse

    from crypto.keys import generate_signing_seed, load_signing_seed, save_signing_seed

    parser = argparse.ArgumentParser(prog="python -m connectors.witness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="Make a witness key and print its verifier key.")
    keygen.add_argument("key", type=Path)
    keygen.add_argument("--name", required=True)
    run = sub.add_parser("run", help="Witness a gateway's log.")
    run.add_argument("--url", required=True)
    run.add_argument("--log-key", required=True, help="The gateway's checkpoint verifier key (compared out of band).")
    run.add_argument("--key", type=Path, required=True)
    run.add_argument("--name", required=True)
    run.add_argument("--state", type=Path, required=True)
    run.add_argument("--interval", type=float, default=0.0, help="Seconds between rounds; 0: one round only.")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        seed = generate_signing_seed()
        save_signing_seed(args.key, seed)
        _say(notes.signer_verifier(args.name, seed, notes.COSIGNATURE).vkey())
        return 0
    witness = Witness(name=args.name, seed=load_signing_seed(args.key), log_key=notes.Verifier.parse(args.log_key),
                      state_path=args.state)
    with httpx.Client(base_url=args.url.rstrip("/"), timeout=10.0) as http:
        while True:
            try:
                size = witness.run_once(http)
            except WitnessAlarm as alarm:
                _say(f"ALARM {alarm.reason}: {alarm.detail}", flush=True)
                return 3
            except httpx.HTTPError as exc:
                _say(f"warning: {type(exc).__name__}: {exc}", flush=True)
                size = None
            if size is not None:
                _say(f"cosigned size {size}", flush=True)
            if args.interval <= 0:
                return 0
            time.sleep(args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
