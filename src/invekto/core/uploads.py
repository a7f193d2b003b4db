"""What an uploaded file really is, checked against what its name and declared type say.

Each upload site keeps its own list of allowed types (a message's media kinds, a knowledge
document's formats, a recipient list's CSV/XLSX) and checks it as before; this refuses, on top,
active code in disguise: an executable (PE, ELF, Mach-O, a ``#!`` script) or HTML, SVG or
scripted XML markup whose name and type claim something else (an "image" that is a page with a
script, a "PDF" that is an SVG, a "CSV" that is a program). A file that says what it is (an
.html as text/html) is left to the site's list. Files we serve back go out with ``nosniff``,
as downloads or sandboxed besides; this keeps disguised ones out of storage in the first place.

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


# What a file honestly of each kind may be called.
_CLAIMS = {
    "markup": ({"text/html", "image/svg+xml", "application/xhtml+xml", "application/xml",
                "text/xml"}, {"html", "htm", "xhtml", "svg", "xml"}),
    "executable": (_EXECUTABLE_TYPES | {"application/x-sh", "text/x-shellscript",
                                        "application/x-elf"},
                   {"exe", "dll", "msi", "com", "scr", "bin", "elf", "so", "dylib", "sh",
                    "class"}),
}


def check(filename: str, content_type: str, data: bytes, *, field: str = "file") -> None:
    """Refuse (422, naming ``field``) an executable or a page disguised as something else."""
    found = sniff(data)
    if found is None:
        return
    types, extensions = _CLAIMS[found]
    declared_type = content_type.split(";")[0].strip().lower()
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    type_agrees = declared_type in types or declared_type in ("", "application/octet-stream")
    name_agrees = extension in extensions or not extension
    if type_agrees and name_agrees:
        return  # it says what it is: the site's list of allowed types decides
    claimed = _declared(filename, content_type)
    if found == "executable":
        raise ValidationFailed("this file is a program, not the %(type)s its name says; it "
                               "cannot be uploaded", field=field, code="file_content_refused",
                               params={"type": claimed})
    raise ValidationFailed("this file is a web page or a drawing with code in it, not the "
                           "%(type)s its name says; it cannot be uploaded", field=field,
                           code="file_content_refused", params={"type": claimed})


def _declared(filename: str, content_type: str) -> str:
    extension = filename.rpartition(".")[2] if "." in filename else ""
    return extension.upper() if 0 < len(extension) <= 5 else \
        (content_type.split(";")[0].strip() or "file")
