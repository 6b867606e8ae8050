"""The ``gateway`` command: demo set-up, registry lifecycle, one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crypto.keys import generate_agency_keys
from gateway.cli import app

runner = CliRunner(env={"COLUMNS": "250"})


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"GATEWAY_DATABASE_URL": db_url, "GATEWAY_DATA_DIR": str(tmp_path)}


def _run(env: dict[str, str], *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env, input=input)


def test_register_add_verify_revoke_key_from_the_cli(cli_env: dict[str, str]) -> None:
    result = _run(cli_env, "agency", "register", "--id", "shelter-north", "--name", "Shelter North",
                  "--kind", "shelter", "--jurisdiction", "NL", "--vetted",
                  "--confidentiality-policy", "conf-2026-1")
    assert result.exit_code == 0, result.output
    public = generate_agency_keys().public()
    added = _run(cli_env, "agency", "add-key", "shelter-north", "--kind", "x25519",
                 "--public-key", public.encryption_b64)
    assert added.exit_code == 0, added.output
    key_id = re.search(r"added (key_\S+)", added.output).group(1)  # type: ignore[union-attr]
    fingerprint = public.fingerprints()["encryption"]

    wrong = _run(cli_env, "agency", "verify-key", "shelter-north", key_id, "--fingerprint", "AAAA-BBBB")
    assert wrong.exit_code == 1
    assert "does not match" in wrong.output

    verified = _run(cli_env, "agency", "verify-key", "shelter-north", key_id, input=fingerprint + "\n")
    assert verified.exit_code == 0, verified.output
    shown = _run(cli_env, "agency", "show", "shelter-north")
    assert "unbound" in shown.output  # checked by a person, but not bound by the agency: never used

    revoked = _run(cli_env, "agency", "revoke-key", "shelter-north", key_id, "--reason", "laptop stolen")
    assert revoked.exit_code == 0
    listed = _run(cli_env, "agency", "list")
    assert "x25519:revoked" in listed.output


def test_errors_exit_non_zero_with_one_line(cli_env: dict[str, str]) -> None:
    result = _run(cli_env, "agency", "show", "nobody")
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert result.output.startswith("error:")


def test_demo_sets_up_registry_keys_and_dpo_account(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--data-dir", str(data), "--no-serve"],
                           env={"GATEWAY_DATABASE_URL": "", "GATEWAY_ARGON2_MEMORY_KIB": "8",
                                "GATEWAY_ARGON2_TIME_COST": "1"})
    assert result.exit_code == 0, result.output
    for agency in ("iom-demo", "unhcr-demo", "police-demo", "shelter-demo", "clinic-demo"):
        key_file = data / "agency-keys" / f"{agency}.json"
        assert key_file.exists()
        assert key_file.stat().st_mode & 0o077 == 0
    assert (data / "keys" / "gateway-signing.json").stat().st_mode & 0o077 == 0
    creds = (data / "demo-credentials.txt").read_text()
    assert "DPO console (dpo)" in creds
    assert "username: dpo" not in creds and "username: gateway-" in creds  # not guessable
    listed = runner.invoke(app, ["agency", "list", "--data-dir", str(data)], env={"GATEWAY_DATABASE_URL": ""})
    assert "shelter-demo" in listed.output
    assert "x25519:verified" in listed.output
    again = runner.invoke(app, ["demo", "--data-dir", str(data), "--no-serve"], env={"GATEWAY_DATABASE_URL": ""})
    assert again.exit_code == 0, again.output  # idempotent


def test_db_upgrade_reports_head(tmp_path: Path) -> None:
    from gateway.migrate import head_revision

    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)], env={"GATEWAY_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output


def test_serve_refuses_to_start_without_an_explicit_issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica that named itself by host and port would refuse the others' tokens and sign checkpoints
    under an origin nobody verifies against: ``serve`` needs GATEWAY_ISSUER (only the demo has a default)."""
    from gateway.cli import serve_settings

    monkeypatch.delenv("GATEWAY_ISSUER", raising=False)
    result = runner.invoke(app, ["serve", "--port", "8765", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "GATEWAY_ISSUER" in result.output
    monkeypatch.setenv("GATEWAY_ISSUER", "https://gateway.example.org")
    assert serve_settings("0.0.0.0", 8000, tmp_path).issuer == "https://gateway.example.org"


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    from pydantic import ValidationError

    from gateway.settings import Settings

    assert Settings(trusted_proxies=["127.0.0.2", "10.0.0.0/8"]).trusted_proxy_list == ["127.0.0.2", "10.0.0.0/8"]
    assert Settings().trusted_proxy_list == []
    with pytest.raises(ValidationError):
        Settings(trusted_proxies=["caddy"])
