"""The demo's witness: the monitoring body's, run in a thread next to the demo server.

In a real deployment the witness runs on the monitoring body's own machine with its own key
(``python -m connectors.witness run ...``); the demo keeps its key in the demo data
directory and runs it in process, so that checkpoints are cosigned within seconds.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx

from connectors.witness import Witness, WitnessAlarm
from crypto import note as notes
from crypto.keys import generate_signing_seed, load_signing_seed, save_signing_seed

from .settings import Settings

log = logging.getLogger("gateway.demo.witness")
WITNESS_NAME = "monitoring-body.demo/witness"


def witness_key_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "witness-monitoring-body.json"


def set_up_demo_witness(settings: Settings) -> notes.Verifier:
    """Create the monitoring body's witness key (once) and list it in ``witnesses.txt``."""
    path = witness_key_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_signing_seed(path, generate_signing_seed())
    verifier = notes.signer_verifier(WITNESS_NAME, load_signing_seed(path), notes.COSIGNATURE)
    listed = settings.witnesses_path.read_text().split() if settings.witnesses_path.exists() else []
    if verifier.vkey() not in listed:
        with settings.witnesses_path.open("a") as handle:
            handle.write(verifier.vkey() + "\n")
    return verifier


class DemoWitness(threading.Thread):
    """Polls the demo gateway every ``interval_s`` and cosigns; stops for good on an alarm."""

    def __init__(self, settings: Settings, url: str, log_key: notes.Verifier, interval_s: float = 2.0) -> None:
        super().__init__(name="demo-witness", daemon=True)
        self.witness = Witness(name=WITNESS_NAME, seed=load_signing_seed(witness_key_path(settings)),
                               log_key=log_key, state_path=settings.data_dir / "witness-state.json")
        self.url = url
        self.interval_s = interval_s
        self._stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5.0) as http:
            while not self._stop_event.wait(self.interval_s):
                try:
                    self.witness.run_once(http)
                except WitnessAlarm as alarm:
                    log.error("WITNESS ALARM %s: %s (cosigning stopped)", alarm.reason, alarm.detail)
                    return
                except httpx.HTTPError:
                    continue  # the server is starting or restarting

    def stop(self) -> None:
        self._stop_event.set()
