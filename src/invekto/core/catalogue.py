"""Keeping the translation catalogues in step with the code: ``make messages`` runs this.

It collects every translatable string (``_()`` in templates, ``i18n.text()`` and ``plural()``
in Python, and the English messages of the service errors, which the UI shows translated) into
``locale/messages.pot`` and merges that into each language's ``messages.po``: new strings are
added empty for a translator, strings no longer in the code are dropped.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from invekto.core.i18n import LANGUAGES, LOCALE_DIR

SOURCE_DIR = LOCALE_DIR.parent.parent  # src/
MAPPING_FILE = SOURCE_DIR.parent / "babel.cfg"
# Function name -> the (1-based) argument positions holding the message (None: the first).
KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "text": (2,),
    "N_": None, "flush_unique": (2,),
    **dict.fromkeys(("AppError", "NotFound", "ValidationFailed", "Conflict",
                     "PermissionDenied", "Unauthenticated", "TooManyRequests",
                     "UpstreamUnavailable")),
}


def extract() -> Catalog:
    """Every translatable string in the code and templates now."""
    with MAPPING_FILE.open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    catalog = Catalog(project="Invekto", charset="utf-8")
    for _filename, _lineno, message, comments, context in extract_from_dir(
            SOURCE_DIR, method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True):
        if isinstance(message, tuple) and not message[0]:
            continue
        if message:
            catalog.add(message, None, auto_comments=comments, context=context)
    return catalog


def is_translated(message) -> bool:
    """Every form (singular and plurals) has a text."""
    if not message.string:  # None for an entry added by this run
        return False
    parts = [message.string] if isinstance(message.string, str) else list(message.string)
    return all(parts)


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


def read(language: str) -> Catalog:
    with catalogue_path(language).open("rb") as po_file:
        return read_po(po_file, locale=language)


def update() -> dict[str, int]:
    """Merge the code's strings into every catalogue; returns how many are untranslated."""
    template = extract()
    with (LOCALE_DIR / "messages.pot").open("wb") as pot_file:
        write_po(pot_file, template, omit_header=True, no_location=True, sort_output=True)
    missing = {}
    for language in LANGUAGES:
        path = catalogue_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            catalog = read(language)
        else:
            catalog = Catalog(locale=language, project="Invekto", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if language == "en":
            # The source strings are English: the English catalogue is the identity.
            for message in catalog:
                if isinstance(message.id, tuple) and not any(message.string):
                    message.string = message.id  # singular and plural
                elif message.id and not message.string:
                    message.string = message.id
        with path.open("wb") as po_file:
            write_po(po_file, catalog, no_location=True, sort_output=True,
                     ignore_obsolete=True)
        missing[language] = sum(1 for m in catalog if m.id and not is_translated(m))
    return missing


if __name__ == "__main__":
    for language, count in update().items():
        print(f"{language}: {count} untranslated")
