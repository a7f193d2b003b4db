"""What an uploaded file really is, whatever its name and declared type say.

Each upload site keeps its own list of allowed types (a message's media kinds, a knowledge
document's formats, a recipient list's CSV/XLSX) and checks it first; this refuses, on top, a
file whose content is active code in disguise: an executable (PE, ELF, Mach-O, a ``#!``
script), or HTML, SVG or XML markup that a browser would run if it ever rendered the file (an
"image" that is a page with a script, a "PDF" that is an SVG). Files we serve back are sent with
``nosniff`` and a sandbox besides; this keeps such files out of storage in the first place.

Content is identified by its magic numbers (``puremagic``), and markup by the patterns with which
browsers themselves sniff HTML (WHATWG MIME Sniffing, "identifying a resource with an unknown
MIME type"), which puremagic alone does not all know.
"""

from __future__ import annotations

import re

import puremagic

from invekto.core.errors import ValidationFailed

# Enough of the file for every signature below (puremagic reads its own offsets from it).
_HEAD_BYTES = 8192
# WHATWG MIME Sniffing §7.1: a tag or comment that starts an HTML document, after any
# whitespace and byte order mark, followed by a space or '>'; case-insensitive.
_HTML_START = re.compile(
    rb"^(?:\xef\xbb\xbf|\xfe\xff|\xff\xfe)?[\t\n\x0c\r ]*"
    rb"(?:<!doctype html|<html|<head|<script|<iframe|<h1|<div|<font|<table|<a|<style|<title"
    rb"|<b|<body|<br|<p|<!--)[ >]",
    re.IGNORECASE)
_SVG_OR_SCRIPTED_XML = re.compile(rb"<svg[\s>/]|<html[\s>]|<script[\s>]|xhtml", re.IGNORECASE)
_MARKUP_TYPES = frozenset({"text/html", "image/svg+xml", "application/xhtml+xml",
                           "application/xml", "text/xml"})
_EXECUTABLE_TYPES = frozenset({"application/vnd.microsoft.portable-executable",
                               "application/x-msdownload", "application/x-executable",
                               "application/x-mach-binary", "application/x-sharedlib",
                               "application/java", "application/x-msi"})
_EXECUTABLE_NAMES = ("executable", "mach-o", "elf ", "dynamic link library", "java bytecode")
# puremagic also reads "MZ" at the start of any text as a weak guess of an .exe.
_MIN_CONFIDENCE = 0.4


def sniff(data: bytes) -> str | None:
    """``"executable"``, ``"markup"`` or None (nothing that could run)."""
    head = data[:_HEAD_BYTES]
    if not head.strip():
        return None  # empty: each site refuses that in its own words
    if head.startswith(b"#!"):
        return "executable"
    if _HTML_START.match(head):
        return "markup"
    text_start = head.lstrip(b"\xef\xbb\xbf\t\n\x0c\r ")[:5].lower()
    if text_start.startswith(b"<svg") or (text_start == b"<?xml" and
                                          _SVG_OR_SCRIPTED_XML.search(head)):
        return "markup"
    try:
        matches = puremagic.magic_string(head)
    except puremagic.PureError:  # plain text, CSV, or a format it does not know
        return None
    for match in matches:
        if match.confidence < _MIN_CONFIDENCE:
            continue
        name = match.name.lower()
        if match.mime_type in _EXECUTABLE_TYPES or any(word in name for word in _EXECUTABLE_NAMES):
            return "executable"
        if match.mime_type in _MARKUP_TYPES:
            # Plain XML is data (a spreadsheet's part, a feed); only XML a browser would draw
            # as a page or a picture, with scripts of its own, counts.
            if match.mime_type in ("application/xml", "text/xml") and \
                    not _SVG_OR_SCRIPTED_XML.search(head):
                continue
            return "markup"
    return None


def check(filename: str, content_type: str, data: bytes, *, field: str = "file") -> None:
    """Refuse (422, naming ``field``) a file that is an executable or a page in disguise."""
    found = sniff(data)
    if found == "executable":
        raise ValidationFailed("this file is a program, not the %(type)s its name says; it "
                               "cannot be uploaded", field=field, code="file_content_refused",
                               params={"type": _declared(filename, content_type)})
    if found == "markup":
        raise ValidationFailed("this file is a web page or a drawing with code in it, not the "
                               "%(type)s its name says; it cannot be uploaded", field=field,
                               code="file_content_refused",
                               params={"type": _declared(filename, content_type)})


def _declared(filename: str, content_type: str) -> str:
    extension = filename.rpartition(".")[2] if "." in filename else ""
    return extension.upper() if 0 < len(extension) <= 5 else \
        (content_type.split(";")[0].strip() or "file")
