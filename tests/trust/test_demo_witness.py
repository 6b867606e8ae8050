"""The demo starts a witness for the monitoring body; what the demo writes lets an SDK check the log."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from connectors.tree_head import WitnessedLog
from crypto import note as notes
from gateway.app import create_app
from gateway.cli import app as cli
from gateway.demo_witness import DemoWitness
from gateway.settings import Settings
from tests.support.live_server import reserve_port, serve


def test_the_demo_witness_cosigns_and_an_sdk_accepts_the_witnessed_head(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    port = reserve_port()
    env = {"GATEWAY_DATABASE_URL": "", "GATEWAY_ARGON2_MEMORY_KIB": "8", "GATEWAY_ARGON2_TIME_COST": "1"}
    made = CliRunner().invoke(cli, ["demo", "--data-dir", str(data), "--port", str(port), "--no-serve"], env=env)
    assert made.exit_code == 0, made.output
    log_key = notes.Verifier.parse((data / "checkpoint-key.txt").read_text())
    witness_key = notes.Verifier.parse((data / "witnesses.txt").read_text().splitlines()[0])
    assert f"witness (monitoring body): {witness_key.vkey()}" in made.output
    settings = Settings(data_dir=data, issuer=f"http://127.0.0.1:{port}", background_worker=False,
                        log_level="WARNING", audit_checkpoint_interval_s=86_400)
    signed = CliRunner().invoke(cli, ["audit", "checkpoint", "--data-dir", str(data)], env={
        **env, "GATEWAY_ISSUER": settings.issuer})
    assert signed.exit_code == 0, signed.output
    with serve(create_app(settings), port=port) as url, httpx.Client(base_url=url) as http:
        witness = DemoWitness(settings, url, log_key)
        cosigned = witness.witness.run_once(http)  # one round of the thread's loop, run here
        assert cosigned is not None and cosigned > 0
        note = http.get("/v1/audit/checkpoint/witnessed").text
    log = WitnessedLog(log_key=log_key, witnesses=[witness_key], quorum=1)
    assert log.accept(note, lambda a, b: []).size == cosigned
