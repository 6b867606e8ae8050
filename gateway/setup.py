"""First-run set-up: data directory, the gateway's signing key, migrations, the demo registry.

The demo creates real keys for each demonstration agency (their private halves go to
``<data_dir>/agency-keys/``, as an agency would keep them on its own machine) and marks
them verified itself. In production an administrator verifies each fingerprint read back
over a separate channel; the demo skips only that phone call.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyotp
from sqlalchemy.orm import Session

from consent.clock import Clock, SystemClock
from crypto.keys import (
    generate_agency_keys,
    generate_signing_seed,
    load_key_file,
    save_key_file,
    save_signing_seed,
)
from crypto.passwords import SecretHasher

from . import db, migrate
from .accounts import StaffAccount, StaffRole
from .audit.log import Actor
from .registry import service
from .registry.models import Agency, AgencyKind, KeyKind
from .settings import Settings

Progress = Callable[[str], None]


def init_data_dir(settings: Settings, progress: Progress = lambda _m: None) -> None:
    """Create the data directory and the gateway signing key (once), then migrate the database."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    key_path = settings.signing_key_path
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        progress(f"generating the gateway signing key in {key_path}")
        save_signing_seed(key_path, generate_signing_seed())
    progress("applying database migrations")
    migrate.upgrade(settings.resolved_database_url)


@dataclass(frozen=True)
class DemoAgency:
    id: str
    name: str
    kind: AgencyKind
    mandated_reporter: bool = False
    duties: tuple[str, ...] = ()


DEMO_AGENCIES = (
    DemoAgency("iom-demo", "IOM country office (demo)", AgencyKind.IOM),
    DemoAgency("unhcr-demo", "UNHCR field office (demo)", AgencyKind.UNHCR),
    DemoAgency("police-demo", "Anti-trafficking police unit (demo)", AgencyKind.POLICE, mandated_reporter=True),
    DemoAgency("shelter-demo", "Safe House NGO (demo)", AgencyKind.SHELTER),
    DemoAgency("clinic-demo", "Community health clinic (demo)", AgencyKind.HEALTHCARE),
    DemoAgency("advocate-demo", "Independent advocacy service (demo)", AgencyKind.INDEPENDENT_ADVOCATE),
    DemoAgency("nrm-demo", "NRM competent authority (demo): receives the NRM deadline alerts",
               AgencyKind.COMPETENT_AUTHORITY),
    DemoAgency("operator", "Gateway operator", AgencyKind.GATEWAY_OPERATOR),
)
DEMO_JURISDICTION = "NL"
PENDING_DEMO = "clinic-demo"
"""Left with pending keys, so the tour's verify step (the phone call) is real."""


def agency_key_path(settings: Settings, agency_id: str) -> Path:
    return settings.data_dir / "agency-keys" / f"{agency_id}.json"


def seed_demo(settings: Settings, *, clock: Clock | None = None, progress: Progress = lambda _m: None) -> Path:
    """Create the demonstration registry and a DPO account (idempotent). Returns the credentials file."""
    clock = clock or SystemClock()
    engine = db.make_engine(settings.resolved_database_url)
    sessions = db.make_sessionmaker(engine)
    creds = settings.data_dir / "demo-credentials.txt"
    actor = Actor(role="operator", user="demo-setup")
    try:
        with sessions() as session, session.begin():
            for demo in DEMO_AGENCIES:
                if session.get(Agency, demo.id) is not None:
                    continue
                progress(f"registering {demo.name} and generating its keys")
                _register_demo_agency(session, settings, demo, actor=actor, clock=clock)
            hasher = SecretHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)
            lines: list[str] = []
            for username, role, what in (("dpo", StaffRole.DPO, "DPO"),
                                         ("monitor", StaffRole.MONITORING_BODY, "monitoring body")):
                if session.query(StaffAccount).filter_by(username=username).first() is not None:
                    continue
                progress(f"creating the {what} account")
                password = secrets.token_urlsafe(12)
                totp_secret = pyotp.random_base32()
                session.add(
                    StaffAccount(
                        id=service.new_id("staff"), username=username, role=role, agency_id=None,
                        password_hash=hasher.hash(password), totp_secret=totp_secret, created_at=clock.now(),
                    )
                )
                lines.append(f"{what} console account\nusername: {username}\npassword: {password}\n"
                             f"totp secret: {totp_secret}\n")
            if lines:
                creds.write_text("Demo credentials (demo only). Console accounts sign in at /console\n\n"
                                 + "\n".join(lines))
                os.chmod(creds, 0o600)
    finally:
        engine.dispose()
    if not creds.exists():
        creds.touch(mode=0o600)
    if "access code:" not in creds.read_text():
        from .demo_person import create_demo_person

        progress("recording a demo person's consent and portal PIN (as the advocacy service)")
        person = create_demo_person(settings, str(settings.data_dir / "agency-keys"))
        with creds.open("a") as handle:
            handle.write(f"\nperson (portal at /p/)\nsubject: {person.subject_id}\n"
                         f"access code: {person.access_code}\npin: {person.pin}\n")
    return creds


def read_credentials(path: Path) -> dict[str, dict[str, str]]:
    """The demo credentials file as {section: {key: value}} (sections: DPO, monitoring body, person)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in path.read_text().splitlines():
        if not line.strip():
            current = None
        elif ":" in line and current is not None:
            key, value = line.split(":", 1)
            current[key.strip()] = value.strip()
        elif current is None:
            name = line.split(" console account")[0].split(" (")[0].strip()
            current = sections.setdefault(name, {})
    return sections


def _register_demo_agency(
    session: Session, settings: Settings, demo: DemoAgency, *, actor: Actor, clock: Clock
) -> None:
    now = clock.now()
    service.register_agency(
        session,
        service.AgencySpec(
            id=demo.id, name=demo.name, kind=demo.kind, jurisdiction=DEMO_JURISDICTION,
            mandated_reporter=demo.mandated_reporter, statutory_duties=demo.duties,
            confidentiality_policy_version="demo-2026-1", vetted=True,
        ),
        actor=actor,
        now=now,
    )
    path = agency_key_path(settings, demo.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    keypair = load_key_file(path) if path.exists() else generate_agency_keys()
    if not path.exists():
        save_key_file(path, keypair)
    public = keypair.public()
    for kind, raw_b64 in ((KeyKind.ENCRYPTION, public.encryption_b64), (KeyKind.SIGNING, public.signing_b64)):
        key = service.add_key(session, demo.id, kind, raw_b64, actor=actor, now=now)
        if demo.id != PENDING_DEMO:
            # Demo only: the administrator's read-back is the fingerprint itself.
            service.verify_key(session, demo.id, key.id, key.fingerprint, actor=actor, now=now)
