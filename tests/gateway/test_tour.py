"""The README's tour, as a newcomer follows it, on a port other than 8000: the demo prints what the
tour needs, and every step works with that output (registry, the clinic enrolling its own keys,
token, refusal, a referral end to end, the portal with the printed code and PIN, the console with
the printed DPO credentials, the API docs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from tests.support.browser import screenshot
from tests.support.live_server import reserve_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_ARGON2_MEMORY_KIB="8", GATEWAY_ARGON2_TIME_COST="1")
    return env


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=180, check=False)


def _value(label: str, text: str) -> str:
    found = re.search(rf"{label}:\s+(\S+)", text)
    assert found, f"the demo did not print {label!r}:\n{text}"
    return found.group(1)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """`./dev demo --port N` (here: python -m gateway demo), its printed output, and the server it starts."""
    port = reserve_port()
    data = tmp_path / "var" / "demo"
    log = (tmp_path / "demo.out").open("w+")
    process = subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--data-dir", str(data), "--port", str(port)],
                               cwd=tmp_path, env=_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "demo.out").read_text()
            time.sleep(0.2)  # polling a starting process for readiness, not synchronising work
        log.flush()
        yield url, data, (tmp_path / "demo.out").read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_the_readme_tour_on_another_port(demo: tuple[str, Path, str], browser: Any, tmp_path: Path) -> None:
    url, data, printed = demo
    assert f"serving on {url}" in printed
    code, pin = _value("access code", printed), _value("PIN", printed)
    username, password, secret = _value("username", printed), _value("password", printed), _value(
        "TOTP secret", printed)
    assert re.fullmatch(r"\d{6,}", pin)
    assert "█" in printed  # the QR code for an authenticator app

    # 0. Start in the workspace: the advocacy caseworker enrols a passkey with the link the demo kept,
    # imports the agency's key file behind a passphrase, and refers the demo person to the shelter.
    # (Step 4's SDK example then signs in as another caseworker: this one's password has changed.)
    _workspace_referral(browser, data, tmp_path)

    # 1. The registry: the clinic has no keys until it enrols them itself, with a one-time secret.
    listed = _run("-m", "gateway", "agency", "list", "--data-dir", str(data), cwd=tmp_path)
    assert "shelter-demo" in listed.stdout
    assert "key " not in _run("-m", "gateway", "agency", "show", "clinic-demo", "--data-dir", str(data),
                               cwd=tmp_path).stdout
    assert "gateway agency enrolment-secret clinic-demo" in printed
    enrolment_secret = _run("-m", "gateway", "agency", "enrolment-secret", "clinic-demo", "--data-dir", str(data),
                  cwd=tmp_path).stdout.strip()
    enrolled = _run("-m", "connectors.cli", "enrol", "clinic-demo", "--secret", enrolment_secret, "--key-file",
                    str(data / "agency-keys" / "clinic-demo.json"), "--url", url, cwd=tmp_path)
    assert enrolled.returncode == 0, enrolled.stderr
    assert enrolled.stdout.count("fingerprint:") == 2
    shown = _run("-m", "gateway", "agency", "show", "clinic-demo", "--data-dir", str(data), cwd=tmp_path).stdout
    assert shown.count("verified") == 2

    # 2. A token with the SDK's helper, on this port.
    token = _run("-m", "connectors.cli", "token", "iom-demo", "--data-dir", str(data), "--url", url, cwd=tmp_path)
    assert token.returncode == 0, token.stderr
    bearer = {"Authorization": f"Bearer {token.stdout.strip()}"}
    assert httpx.get(f"{url}/v1/agencies", headers=bearer).status_code == 200

    # 3. The precise refusal.
    refused = httpx.get(f"{url}/v1/agencies/nobody/recipient-key", headers=bearer)
    assert (refused.status_code, refused.json()["reason"]) == (422, "unknown_recipient")

    # 4. A referral end to end.
    sent = _run("-m", "connectors.examples.first_referral", "--data-dir", str(data), "--url", url,
                "--inbox", str(tmp_path / "inbox"), cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert "access code for the portal:" in sent.stdout and "acknowledged" in sent.stdout

    # 5. The portal with the printed access code and PIN, and the console with the DPO's credentials.
    page = browser.new_page()
    page.goto(f"{url}/p/")
    page.fill("#code", code)
    page.fill("#pin", pin)
    page.click("#sign-in")
    page.wait_for_selector("#sign-out")
    assert "Safe House NGO" in page.inner_text("body") or "shelter" in page.inner_text("body").lower()
    screenshot(page, "tour-portal")
    console = browser.new_page(viewport={"width": 1280, "height": 900})
    console.goto(f"{url}/console")
    console.fill("#username", username)  # random, never "dpo"
    console.fill("#password", password)
    console.fill("#code", pyotp.TOTP(secret).now())
    console.click("button:has-text('Sign in')")
    console.wait_for_selector("text=Sign out")
    screenshot(console, "tour-console")

    # 6. The API docs.
    docs = browser.new_page()
    docs.goto(f"{url}/docs")
    docs.wait_for_selector(".opblock-summary-path", timeout=30_000)


def _workspace_referral(browser: Any, data: Path, cwd: Path) -> None:
    """The README's "Start in the workspace", word for word, with what the demo printed and kept: the
    caseworker opens their passkey enrolment link (choosing a new password there), signs in with the
    passkey, and refers the demo person to the shelter."""
    kept = (data / "demo-credentials.txt").read_text()
    caseworker = kept.split("\nadvocacy caseworker (", 1)[1].split("\n\n", 1)[0]
    link = re.search(r"passkey: open (\S+)", caseworker)
    assert link, caseworker
    enrolment_link = link.group(1)
    assert enrolment_link.startswith("http://localhost:")  # WebAuthn needs a domain, not 127.0.0.1
    origin = enrolment_link.split("/staff/", 1)[0]
    shown = _run("-m", "gateway", "agency", "show", "shelter-demo", "--data-dir", str(data), cwd=cwd).stdout
    found = re.search(r"x25519.*\n\s+fingerprint: (\S+)", shown)
    assert found, shown
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    page.goto(enrolment_link)
    page.fill("#new-password", "a new password only this caseworker knows")
    page.click("#create-passkey")
    page.wait_for_selector("#enrolled", state="visible")
    page.goto(f"{origin}/staff/sign-in")
    page.wait_for_load_state("load")
    page.click("#passkey-sign-in")
    page.wait_for_url(f"{origin}/staff")
    page.goto(f"{origin}/w/")
    page.wait_for_selector("html[data-ready='true']")
    page.set_input_files("#key-file", str(data / "agency-keys" / "advocate-demo.json"))
    page.fill("#new-passphrase", "a passphrase only this caseworker knows")
    page.click("#import-key")
    page.wait_for_selector("#key-status[data-state='unlocked']")
    assert "This device holds your agency's key" in str(page.text_content("#key-status"))
    page.locator("#people-list li .refer").first.click()
    page.select_option("#recipient", "shelter-demo")
    page.select_option("#purpose", "shelter")
    page.click("#field-choice summary")
    for name in ("subject.preferred_name", "risk.known_risks", "location.shelter_address"):
        page.check(f"#plan-form input[value='{name}']")
    page.click("#plan")
    page.wait_for_selector("#plan-result", state="visible")
    assert sorted(page.locator("#permitted-list li").all_text_contents()) == ["risk.known_risks",
                                                                               "subject.preferred_name"]
    # Refused in plain words (the policy's reason is shelter_location_accommodation_only).
    assert page.locator("#denied-list li").all_text_contents() == [
        "location.shelter_address: Where the person stays goes only to the service that houses them. "
        "Leave it out, or send it to the accommodation provider."]
    for name in ("subject.preferred_name", "risk.known_risks"):
        page.fill(f"#fill-fields textarea[data-field='{name}']", "A.")
    page.click("#show-preview")
    page.wait_for_selector("#preview", state="visible")
    page.click("#approve-send")
    page.wait_for_selector("#pin", state="visible")
    page.fill("#pin-fingerprint", found.group(1))
    page.click("#pin-key")
    page.wait_for_selector("#sent", state="visible")
    assert str(page.text_content("#sent-id")).startswith("env_")
    screenshot(page, "tour-workspace-sent")
    context.close()
