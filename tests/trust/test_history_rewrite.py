"""Issue 15, attack 2: the operator rewrites history with database access and every gateway key.

Before witnesses, ``gateway audit verify`` printed OK after such a rewrite. Now the witness
refuses to cosign, every agency SDK refuses the log and names the checkpoint, and
``gateway audit verify --witnessed`` fails naming the first inconsistent checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from connectors.tree_head import LogNotTrusted
from connectors.witness import Witness, WitnessAlarm
from crypto.encoding import b64u_encode
from crypto.keys import signing_public_key
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditCheckpoint, AuditCosignature, AuditEntry
from gateway.audit.tags import AuditTag
from gateway.cli import app as cli
from gateway.context import GatewayContext
from tests.trust.attacks import rewrite_history
from tests.trust.conftest import WitnessedGateway


def activity(ctx: GatewayContext, n: int, agencies: tuple[str, ...] = ("ngo", "clinic")) -> None:
    with ctx.sessions() as session, session.begin():
        for i in range(n):
            record(session, AuditEvent(AuditTag.POLICY_DECISION, decision="allow", details={"i": i}),
                   actor=Actor(agency_id=agencies[i % len(agencies)]), at=ctx.clock.now())


def audit_verify(gw: WitnessedGateway, *extra: str) -> Result:
    env = {"GATEWAY_DATABASE_URL": str(gw.ctx.settings.database_url), "GATEWAY_ISSUER": gw.url}
    return CliRunner().invoke(cli, [
        "audit", "verify", "--data-dir", str(gw.ctx.settings.data_dir), "--no-record",
        "--public-key", b64u_encode(signing_public_key(gw.ctx.signing_seed)), *extra], env=env)


def witnessed(gw: WitnessedGateway, *extra: str) -> Result:
    return audit_verify(gw, "--witnessed", "--witness", gw.witness.verifier.vkey(), *extra)


@pytest.mark.rule("A6")
def test_a_rewritten_history_is_refused_by_the_witness_the_sdk_and_audit_verify(
    witnessed_gateway: WitnessedGateway,
) -> None:
    gw = witnessed_gateway
    activity(gw.ctx, 6)
    assert gw.checkpoint()
    first = gw.witness_round()
    ngo = gw.client("ngo", "ngo-head.json")
    assert first is not None and ngo.check_log().size == first
    activity(gw.ctx, 6)
    assert gw.checkpoint()
    second = gw.witness_round()
    assert second is not None and second > first
    assert ngo.check_log().size == second  # the consistency proof from the first head checked out
    assert ngo.me()["id"] == "ngo"  # every SDK call checks the witnessed head and gossips it
    before = witnessed(gw)
    assert before.exit_code == 0, before.output

    # The attack: delete the clinic's entries, renumber, rebuild, re-sign with the gateway's own keys.
    deleted = rewrite_history(gw.ctx, "clinic")
    assert deleted >= 6
    fooled = audit_verify(gw)
    assert fooled.exit_code == 0, fooled.output  # the operator-keyed check alone is fooled, as in the issue

    # Life goes on over the rewritten log, past the size the witness cosigned.
    activity(gw.ctx, deleted + 3, agencies=("ngo",))
    assert gw.checkpoint()
    # A witness restarted from its state file refuses, and raises the alarm.
    restarted = Witness(name=gw.witness.name, seed=gw.witness.seed, log_key=gw.log_key,
                        state_path=gw.witness.state_path)
    with pytest.raises(WitnessAlarm) as alarm, httpx.Client(base_url=gw.url) as http:
        restarted.run_once(http)
    assert alarm.value.reason == "inconsistent"
    assert f"cosigned checkpoint of size {second}" in alarm.value.detail
    alarms = [json.loads(line) for line in restarted.alarm_path.read_text().splitlines()]
    assert [a["reason"] for a in alarms] == ["inconsistent"]
    with gw.ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditCosignature)) == 2  # nothing new cosigned
        rewritten_second = session.scalars(select(AuditCheckpoint.tree_size).order_by(AuditCheckpoint.id)).all()[1]
        first_id = session.scalar(select(func.min(AuditCheckpoint.id)))

    # The agency's SDK refuses the log on its next call and names the checkpoint.
    with pytest.raises(LogNotTrusted) as refused:
        ngo.me()
    assert refused.value.reason == "no_quorum" and refused.value.rewritten
    assert f"checkpoint of size {rewritten_second}" in str(refused.value)
    # So does an agency that never saw the log before (first contact after the rewrite).
    with gw.client("shelter", "shelter-head.json") as shelter, pytest.raises(LogNotTrusted, match="no_quorum"):
        shelter.me()
    ngo.close()

    # `gateway audit verify --witnessed` fails and names the first inconsistent checkpoint.
    after = witnessed(gw, "--witness-state", str(gw.witness.state_path))
    assert after.exit_code == 1, after.output
    assert f"first inconsistent checkpoint: checkpoint #{first_id} of size" in after.output
    assert "cosignature_invalid" in after.output and "witness_head_missing" in after.output


def test_the_sdk_refuses_a_head_inconsistent_with_the_one_it_kept(witnessed_gateway: WitnessedGateway) -> None:
    """Even with valid cosignatures (a compromised witness), the SDK's own pinned head catches a fork."""
    gw = witnessed_gateway
    activity(gw.ctx, 5)
    gw.checkpoint()
    gw.witness_round()
    ngo = gw.client("ngo", "ngo-head.json")
    kept = ngo.check_log()
    rewrite_history(gw.ctx, "clinic")
    activity(gw.ctx, 9, agencies=("ngo",))
    gw.checkpoint()
    gw.witness.state_path.unlink()  # the witness is fooled (it lost its state): it cosigns the fork
    assert gw.witness_round() is not None
    with pytest.raises(LogNotTrusted) as refused:
        ngo.check_log()
    assert refused.value.reason == "inconsistent" and refused.value.rewritten
    assert f"head of size {kept.size}" in str(refused.value)
    # Its state survives a restart of the agency's software.
    with gw.client("ngo", "ngo-head.json") as again:
        assert again.log is not None and again.log.head == kept
    ngo.close()


def test_gossip_shows_a_split_view(witnessed_gateway: WitnessedGateway) -> None:
    gw = witnessed_gateway
    activity(gw.ctx, 4)
    gw.checkpoint()
    gw.witness_round()
    ngo = gw.client("ngo", "ngo-head.json")
    head = ngo.check_log()
    auth = {"Authorization": f"Bearer {ngo.token()}"}
    assert httpx.get(gw.url + "/v1/agencies/me", headers={**auth, "Tree-Head": head.header()}).status_code == 200
    other = httpx.get(gw.url + "/v1/agencies/me", headers={**auth, "Tree-Head": f"{head.size} {'ab' * 32}"})
    assert other.status_code == 409 and other.json()["reason"] == "split_view"
    future = httpx.get(gw.url + "/v1/agencies/me", headers={**auth, "Tree-Head": f"{head.size + 99} {'ab' * 32}"})
    assert future.status_code == 409
    ngo.close()
    with gw.ctx.sessions() as session:
        refusals = session.scalars(select(AuditEntry).where(AuditEntry.action == str(AuditTag.AUDIT_SPLIT_VIEW)))
        assert [(e.decision, e.reason) for e in refusals] == [("deny", "split_view")] * 2


def test_checkpoints_are_public_cacheable_and_only_configured_witnesses_count(
    witnessed_gateway: WitnessedGateway, tmp_path: Path,
) -> None:
    gw = witnessed_gateway
    assert httpx.get(gw.url + "/v1/audit/checkpoint/witnessed").json()["reason"] == "no_witnessed_checkpoint"
    activity(gw.ctx, 3)
    gw.checkpoint()
    response = httpx.get(gw.url + "/v1/audit/checkpoint")  # no token
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "public, max-age=1"
    assert httpx.get(gw.url + "/v1/audit/checkpoint/key").text.strip() == gw.log_key.vkey()
    # A witness the gateway was not configured with: its cosignature is refused, and the refusal audited.
    from crypto.keys import generate_signing_seed

    stranger = Witness(name="stranger.example/w", seed=generate_signing_seed(), log_key=gw.log_key,
                       state_path=tmp_path / "stranger.json")
    with pytest.raises(httpx.HTTPStatusError) as refused, httpx.Client(base_url=gw.url) as http:
        stranger.run_once(http)
    assert refused.value.response.json()["reason"] == "no_valid_cosignature"
    forged = httpx.post(gw.url + "/v1/audit/checkpoint/cosignatures",
                        content=b"x\n1\nAAAA\n\n\xe2\x80\x94 k AAAAAAAA\n")
    assert forged.status_code == 422 and forged.json()["reason"] == "malformed_note"
    assert gw.witness_round() is not None
    assert gw.witness.verifier.name in httpx.get(gw.url + "/v1/audit/checkpoint/witnessed").text
    with gw.ctx.sessions() as session:
        refusals = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == str(AuditTag.AUDIT_COSIGNATURE_REFUSE)))
    assert refusals == 2


def test_the_witness_command_cosigns_then_exits_3_on_a_rewrite(
    witnessed_gateway: WitnessedGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from connectors.witness import main
    from crypto.keys import save_signing_seed

    gw = witnessed_gateway
    key = tmp_path / "witness.key"
    save_signing_seed(key, gw.witness.seed)
    args = ["run", "--url", gw.url, "--log-key", gw.log_key.vkey(), "--key", str(key),
            "--name", gw.witness.name, "--state", str(tmp_path / "cli-state.json")]
    activity(gw.ctx, 4)
    gw.checkpoint()
    assert main(args) == 0
    assert "cosigned size" in capsys.readouterr().out
    rewrite_history(gw.ctx, "clinic")
    activity(gw.ctx, 9, agencies=("ngo",))
    gw.checkpoint()
    assert main(args) == 3
    assert "ALARM inconsistent" in capsys.readouterr().out
