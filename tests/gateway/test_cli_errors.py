"""Every command, given bad input, prints one line and exits non-zero: no traceback, no stray database.

The commands run as a person runs them (a subprocess, ``python -m gateway`` and
``python -m connectors.cli``), so nothing the test runner catches can hide a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.keys import generate_agency_keys, save_key_file


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if env is None:
        # `serve` needs an explicit issuer before anything else (tests/gateway/test_cli.py shows that refusal).
        env = _env(GATEWAY_ISSUER="http://127.0.0.1:8000") if "serve" in args else _env()
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    return lines[0]


GATEWAY = ["-m", "gateway"]
CONNECTORS = ["-m", "connectors.cli"]

STORE_COMMANDS = [
    ["agency", "list"],
    ["agency", "show", "shelter-demo"],
    ["agency", "register", "--id", "x", "--name", "X", "--kind", "shelter", "--jurisdiction", "NL"],
    ["agency", "add-key", "x", "--kind", "x25519", "--public-key", "AAAA"],
    ["agency", "verify-key", "x", "key_1", "--fingerprint", "AAAA"],
    ["agency", "revoke-key", "x", "key_1", "--reason", "lost"],
    ["nrm-timers"],
    ["audit", "verify"],
    ["audit", "checkpoint"],
    ["audit", "latest"],
    ["serve", "--port", "1"],
]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_without_data_dir_one_line_and_no_database_left_behind(tmp_path: Path, command: list[str]) -> None:
    line = _one_line_error(_run([*GATEWAY, *command], cwd=tmp_path))
    assert "no gateway database" in line
    assert list(tmp_path.iterdir()) == []  # neither ./var nor an empty gateway.db


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_nonexistent_data_dir_one_line(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "nonexistent"
    line = _one_line_error(_run([*GATEWAY, *command, "--data-dir", str(missing)], cwd=tmp_path))
    assert "does not exist" in line
    assert not missing.exists()


def test_unmigrated_database_is_named_not_queried(tmp_path: Path) -> None:
    (tmp_path / "gateway.db").write_bytes(b"")
    line = _one_line_error(_run([*GATEWAY, "agency", "list", "--data-dir", str(tmp_path)], cwd=tmp_path))
    assert "gateway db upgrade" in line


def test_unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    env = _env(GATEWAY_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    line = _one_line_error(_run([*GATEWAY, "agency", "list"], cwd=tmp_path, env=env))
    assert "cannot open the database" in line


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli-demo") / "demo"
    env = _env(GATEWAY_ARGON2_MEMORY_KIB="8", GATEWAY_ARGON2_TIME_COST="1")
    done = _run([*GATEWAY, "demo", "--data-dir", str(data), "--no-serve"], cwd=data.parent, env=env)
    assert done.returncode == 0, done.stderr
    return data


def test_jurisdiction_must_be_iso_3166_alpha_2(demo_dir: Path) -> None:
    base = [*GATEWAY, "agency", "register", "--name", "N", "--kind", "shelter", "--data-dir", str(demo_dir)]
    line = _one_line_error(_run([*base, "--id", "nl-shelter", "--jurisdiction", "Netherlands"], cwd=demo_dir))
    assert "ISO 3166" in line and "use NL" in line
    _one_line_error(_run([*base, "--id", "xx-shelter", "--jurisdiction", "XX"], cwd=demo_dir))
    ok = _run([*base, "--id", "nl-shelter", "--jurisdiction", "nl"], cwd=demo_dir)
    assert ok.returncode == 0, ok.stderr
    shown = _run([*GATEWAY, "agency", "show", "nl-shelter", "--data-dir", str(demo_dir)], cwd=demo_dir)
    assert "jurisdiction=NL" in shown.stdout


def test_agency_show_prints_whole_fingerprints_in_a_narrow_pipe(demo_dir: Path) -> None:
    from crypto.keys import load_key_file

    public = load_key_file(demo_dir / "agency-keys" / "shelter-demo.json").public()
    shown = _run([*GATEWAY, "agency", "show", "shelter-demo", "--data-dir", str(demo_dir)], cwd=demo_dir,
                 env=_env(COLUMNS="40"))
    assert shown.returncode == 0, shown.stderr
    for fingerprint in public.fingerprints().values():
        assert f"fingerprint: {fingerprint}" in shown.stdout


def test_unknown_agency_is_one_line(demo_dir: Path) -> None:
    line = _one_line_error(_run([*GATEWAY, "agency", "show", "nobody", "--data-dir", str(demo_dir)], cwd=demo_dir))
    assert "No such object" in line


def test_serve_on_a_busy_port_refuses_before_saying_serving(demo_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run([*GATEWAY, "serve", "--port", str(port), "--data-dir", str(demo_dir)], cwd=demo_dir)
    line = _one_line_error(result)
    assert f"cannot listen on 127.0.0.1:{port}" in line
    assert "serving on" not in result.stderr + result.stdout


def test_token_on_a_wrong_port_is_one_line(demo_dir: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens once the socket is closed
    line = _one_line_error(_run([*CONNECTORS, "token", "iom-demo", "--data-dir", str(demo_dir),
                                 "--url", f"http://127.0.0.1:{port}"], cwd=demo_dir))
    assert f"cannot reach the gateway at http://127.0.0.1:{port}" in line


def test_token_without_key_file_and_with_bad_url_are_one_line(demo_dir: Path, tmp_path: Path) -> None:
    line = _one_line_error(_run([*CONNECTORS, "token", "nobody-demo", "--data-dir", str(demo_dir)], cwd=tmp_path))
    assert "cannot read the key file" in line
    _one_line_error(_run([*CONNECTORS, "token", "iom-demo", "--data-dir", str(demo_dir), "--url", "ftp://x"],
                         cwd=tmp_path))
    _one_line_error(_run([*CONNECTORS, "token", "iom-demo", "--data-dir", str(demo_dir), "--url", "http://[::1"],
                         cwd=tmp_path))


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    save_key_file(path, generate_agency_keys())
    before = path.read_bytes()
    _one_line_error(_run([*CONNECTORS, "keygen", str(path)], cwd=tmp_path))
    assert path.read_bytes() == before
    _one_line_error(_run([*CONNECTORS, "keygen", str(tmp_path / "no" / "such" / "dir" / "k.json")], cwd=tmp_path))


def test_audit_checkpoint_signs_with_the_servers_origin(tmp_path: Path) -> None:
    """A server on port 8123 names its log http://127.0.0.1:8123; the CLI's checkpoint must too, or
    ``audit verify --origin`` fails on it."""
    import json
    from datetime import UTC, datetime

    from crypto.keys import load_signing_seed
    from gateway import db
    from gateway.audit import checkpoints
    from gateway.settings import Settings
    from gateway.setup import init_data_dir

    settings = Settings(data_dir=tmp_path, database_url="")
    init_data_dir(settings)
    engine = db.make_engine(settings.resolved_database_url)
    with db.make_sessionmaker(engine)() as session, session.begin():
        checkpoints.create_checkpoint(session, load_signing_seed(settings.signing_key_path),
                                      origin="http://127.0.0.1:8123", at=datetime.now(UTC))
    engine.dispose()
    made = _run([*GATEWAY, "audit", "checkpoint", "--data-dir", str(tmp_path)], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["origin"] == "http://127.0.0.1:8123"
    verified = _run([*GATEWAY, "audit", "verify", "--origin", "http://127.0.0.1:8123", "--data-dir", str(tmp_path)],
                    cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    named = _run([*GATEWAY, "audit", "checkpoint", "--origin", "https://gw.example.org", "--data-dir", str(tmp_path)],
                 cwd=tmp_path)
    assert json.loads(named.stdout)["origin"] == "https://gw.example.org"
