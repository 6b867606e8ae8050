"""The README's tour works: the demo registry plus the SDK example exchange a referral end to end."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from connectors.examples.first_referral import run
from gateway.app import create_app
from gateway.cli import app as cli
from gateway.settings import Settings
from tests.support.live_server import reserve_port, serve


def test_demo_registry_and_the_sdk_example(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    port = reserve_port()
    env = {"GATEWAY_DATABASE_URL": "", "GATEWAY_ARGON2_MEMORY_KIB": "8", "GATEWAY_ARGON2_TIME_COST": "1"}
    result = CliRunner().invoke(cli, ["demo", "--data-dir", str(data), "--port", str(port), "--no-serve"], env=env)
    assert result.exit_code == 0, result.output
    settings = Settings(data_dir=data, issuer=f"http://127.0.0.1:{port}", background_worker=False,
                        log_level="WARNING")
    with serve(create_app(settings), port=port) as url:
        received = run(url, data, tmp_path / "inbox")
    document = json.loads(received.read_text())
    assert document["data"]["risk"]["level"] == "high"
    assert document["data"]["subject"]["preferred_name"] == "A."
    assert "location" not in document["data"]  # withheld by policy, never sealed
