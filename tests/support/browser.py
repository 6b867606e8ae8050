"""Shared plumbing for tests in real headless Chromium (Debian's, driven by Playwright).

Loaded as a pytest plugin by ``tests/conftest.py`` (fixtures ``browser`` and ``server``). Each
browser test module overrides ``db_url`` with the SQLite-only database.

Browser tests run on SQLite only: what the browser sees does not depend on the database, and
the same flows run on both databases through HTTP tests. They never skip when Chromium is
missing: ./dev test and .ci/run install it, and a silently skipped browser test proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_sync
import pytest
from fastapi import FastAPI

from tests.support.live_server import serve

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out, and this machine refuses.
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn on 127.0.0.1 and an ephemeral port, with its lifespan."""
    with serve(app, lifespan="on") as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


def screenshot(page: Any, name: str) -> None:
    """Save a full-page screenshot under test-artifacts/screenshots/ (gitignored)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def serious_axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical WCAG violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations if v["impact"] in ("serious", "critical")]
