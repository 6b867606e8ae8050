"""Translations for what the person reads: gettext catalogues compiled in memory at start-up.

The catalogues are plain ``.po`` files in ``gateway/locale/<lang>/LC_MESSAGES/messages.po``.
They are compiled with Babel when the gateway starts (no build step, no ``.mo`` files in
the repository), and each language gets its own Jinja2 environment with the i18n
extension installed, so rendering never switches a shared global language.
"""

from __future__ import annotations

import gettext
import hashlib
from base64 import b64encode
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path

import jinja2
from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
DOMAIN = "messages"

LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "ru", "ar")
DEFAULT_LANGUAGE = "en"
RTL_LANGUAGES = frozenset({"ar"})


def read_catalogue(lang: str, locale_dir: Path = LOCALE_DIR) -> Catalog:
    """The Babel catalogue of ``lang`` as written in its ``.po`` file."""
    with (locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        return read_po(handle, locale=lang, domain=DOMAIN)


def compile_catalogue(catalogue: Catalog) -> gettext.GNUTranslations:
    """Compile a catalogue to a gettext translation object in memory (fuzzy entries are left out)."""
    buffer = BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def text_direction(lang: str) -> str:
    return "rtl" if lang in RTL_LANGUAGES else "ltr"


def negotiate(requested: str | None, preferred: str | None) -> str:
    """The card language: ``requested`` if supported, else the person's preferred language,
    else English. Tags are matched on their primary language subtag (``fr-CA`` -> ``fr``)."""
    for tag in (requested, preferred):
        if tag:
            primary = tag.split("-")[0].lower()
            if primary in LANGUAGES:
                return primary
    return DEFAULT_LANGUAGE


def format_day(moment: datetime, lang: str) -> str:
    """A date written out in ``lang`` (e.g. "24 novembre 2026")."""
    return format_date(moment.date(), format="long", locale=lang)


@dataclass(frozen=True)
class Translations:
    """Compiled catalogues and one Jinja2 environment per language."""

    catalogues: dict[str, Catalog]
    environments: dict[str, jinja2.Environment]

    def template(self, lang: str, name: str) -> jinja2.Template:
        return self.environments[lang].get_template(name)


def load(locale_dir: Path = LOCALE_DIR, template_dir: Path = TEMPLATE_DIR) -> Translations:
    catalogues: dict[str, Catalog] = {}
    environments: dict[str, jinja2.Environment] = {}
    for lang in LANGUAGES:
        catalogue = read_catalogue(lang, locale_dir)
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(template_dir),
            autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(compile_catalogue(catalogue), newstyle=True)  # type: ignore[attr-defined]
        catalogues[lang] = catalogue
        environments[lang] = env
    return Translations(catalogues=catalogues, environments=environments)


@cache
def translations() -> Translations:
    """The process's translations, compiled once (the consent routes call it at import)."""
    return load()


def csp_hash(text: str) -> str:
    """A CSP source expression allowing exactly this inline ``<style>`` or ``<script>`` text."""
    return "'sha256-" + b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
