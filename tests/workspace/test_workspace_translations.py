"""Every string of the workspace's pages, and every message its script shows (rendered into the
page), is a msgid translated in all five languages; the templates hold no text outside gettext."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file

from gateway import i18n

SAME_IN_TRANSLATION = {("es", "no"), ("es", "No")}
TEMPLATES = sorted((i18n.TEMPLATE_DIR / "workspace").glob("*.html"))


def workspace_msgids() -> list[str]:
    found: list[str] = []
    for path in TEMPLATES:
        for _, message, _, _ in extract_from_file("jinja2", str(path), options={"extensions": "jinja2.ext.i18n"}):
            if str(message) not in found:
                found.append(str(message))
    return found


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_workspace_string_is_translated(lang: str) -> None:
    catalogue = i18n.read_catalogue(lang)
    msgids = workspace_msgids()
    assert len(msgids) > 60
    missing = [m for m in msgids if m not in catalogue or not catalogue[m].string or catalogue[m].fuzzy]
    assert missing == [], f"{lang}: untranslated {missing}"
    if lang != "en":
        copied = [m for m in msgids if catalogue[m].string == m and (lang, m) not in SAME_IN_TRANSLATION]
        assert copied == [], f"{lang}: copied, not translated: {copied}"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: Path(p).name)
def test_workspace_templates_have_no_text_outside_gettext(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"{#.*?#}", "", text, flags=re.S)
    text = re.sub(r"{%.*?%}|{{.*?}}", "", text, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text)
    words = set(re.findall(r"[A-Za-z]{2,}", text))
    assert words <= {"DOCTYPE", "html"}, words


def test_the_script_carries_no_text_of_its_own() -> None:
    """The script shows only messages the page rendered (``msg(key)``), never an English literal."""
    script = (i18n.PACKAGE_DIR / "static" / "workspace" / "workspace.js").read_text(encoding="utf-8")
    shown = re.findall(r"textContent\s*=\s*([^;]+);", script)
    literals = [s for s in shown if re.search(r"[\"'`][A-Z][a-z]+ [a-z]+", s)]
    assert literals == []
    keys = set(re.findall(r"msg\(\"([a-z-]+)\"\)", script))
    page = (i18n.TEMPLATE_DIR / "workspace" / "home.html").read_text(encoding="utf-8")
    assert keys and keys <= set(re.findall(r'data-msg="([a-z-]+)"', page))
