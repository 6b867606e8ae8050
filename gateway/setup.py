"""First-run set-up: data directory, the gateway's signing key, migrations, the demo registry.

The demo creates real keys for each demonstration agency (their private halves go to
``<data_dir>/agency-keys/``, as an agency would keep them on its own machine) and marks
them verified itself. In production an administrator verifies each fingerprint read back
over a separate channel; the demo skips only that phone call.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from consent.clock import Clock, SystemClock
from crypto.binding import make_binding
from crypto.keys import (
    AgencyKeyPair,
    generate_agency_keys,
    generate_signing_seed,
    load_key_file,
    save_key_file,
    save_signing_seed,
)
from crypto.passwords import SecretHasher

from . import db, migrate
from .accounts import StaffAccount
from .audit.log import Actor
from .keyring import KeyRing
from .registry import bindings, service
from .registry.models import Agency, AgencyKey, AgencyKind
from .settings import Settings
from .staff import service as staff_service
from .staff.passkeys import passkey_origin

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
    checkpoint_path = settings.checkpoint_key_path
    if not checkpoint_path.exists():
        checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        progress(f"generating the checkpoint key (signs audit checkpoints only) in {checkpoint_path}")
        save_signing_seed(checkpoint_path, generate_signing_seed())
    if not settings.keyring_path.exists():
        progress(f"generating the receipts and webhook keys in {settings.keyring_path}")
        KeyRing.load_or_create(settings.keyring_path, create=True)
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
#: Demo staff (key, agency, roles, what): two people of the advocacy service for the four-eyes tour,
#: its administrator, and the console users. Usernames are random (``<agency>-<8 letters>``). The SDK
#: examples sign in as a caseworker of their own: the tour's caseworker may have chosen a new password
#: at passkey enrolment, or just used the current one-time code (a code works once).
DEMO_STAFF: tuple[tuple[str, str | None, tuple[str, ...], str], ...] = (
    ("caseworker", "advocate-demo", ("caseworker", "advocate"), "advocacy caseworker"),
    ("sdk_caseworker", "advocate-demo", ("caseworker", "advocate"), "advocacy caseworker at the SDK desk"),
    ("supervisor", "advocate-demo", ("supervisor",), "advocacy supervisor"),
    ("administrator", "advocate-demo", ("administrator",), "advocacy staff administrator"),
    ("dpo", None, ("dpo",), "DPO console"),
    ("monitor", None, ("monitoring_body",), "monitoring body console"),
    ("rapporteur", None, ("rapporteur",), "national rapporteur console"),
)


PENDING_DEMO = "clinic-demo"
"""Left without keys, so the tour's enrolment step (a secret handed over, the agency binding its keys) is real."""


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
            staff: dict[str, dict[str, str]] = {}
            seeded = (settings.data_dir / "demo-staff.json").exists()
            for key, agency_id, roles, what in () if seeded else DEMO_STAFF:
                progress(f"creating the {what} account")
                password = secrets.token_urlsafe(12)
                enrolment = staff_service.create_account(session, agency_id=agency_id, roles=list(roles),
                                                         hasher=hasher, actor=actor, now=clock.now())
                account = session.get(StaffAccount, enrolment.account_id)
                assert account is not None
                account.password_hash = hasher.hash(password)
                staff[key] = {"username": account.username, "password": password,
                              "totp_secret": account.totp_secret, "agency_id": agency_id or "",
                              "enrolment_code": enrolment.code}
                lines.append(f"{what} ({', '.join(roles)}{', ' + agency_id if agency_id else ''})\n"
                             f"username: {account.username}\npassword: {password}\n"
                             f"totp secret: {account.totp_secret}\n"
                             f"passkey: open {passkey_origin(settings.issuer)}/staff/enrol?code={enrolment.code}\n")
            if lines:
                creds.write_text("Demo staff accounts (shown once; demo only). Sign in at /staff (the DPO and the "
                                 "monitoring body also at /console)\n\n" + "\n".join(lines))
                os.chmod(creds, 0o600)
                staff_file = settings.data_dir / "demo-staff.json"
                staff_file.write_text(json.dumps(staff, indent=2))
                os.chmod(staff_file, 0o600)
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
            name = line.split(" console account")[0].split(" (")[0].strip().removesuffix(" console")
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
    if demo.id == PENDING_DEMO:
        return  # the tour's first step: the clinic enrols its keys itself
    enrol_demo_keys(session, demo.id, keypair, actor=actor, now=now)


def enrol_demo_keys(session: Session, agency_id: str, keypair: AgencyKeyPair, *, actor: Actor,
                    now: datetime) -> list[AgencyKey]:
    """Demo, tests and benchmarks only (they hold the agencies' private keys): the agency's first
    enrolment, with the secret the operator would hand it out of band. Its signing key binds both
    keys; the gateway uses no key the agency did not bind."""
    _, secret = bindings.issue_enrolment_secret(session, agency_id, actor=actor, now=now)
    public = keypair.public()
    signed = [make_binding(agency_id=agency_id, kind=kind, public_key_b64=b64, signing_seed=keypair.signing_seed,
                           at=now.isoformat())
              for kind, b64 in (("ed25519", public.signing_b64), ("x25519", public.encryption_b64))]
    return bindings.enrol(session, agency_id, secret, signed, now=now)
