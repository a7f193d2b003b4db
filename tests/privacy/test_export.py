"""The data subject export: a ZIP of everything kept about one person (opened and read here),
recorded as a request and audited, and after an erasure only the anonymised state."""

from __future__ import annotations

import io
import json
import zipfile

from invekto.core import i18n
from invekto.privacy import archive
from invekto.privacy.anonymise import CONTENT_ERASED, ERASED_CONTACT
from tests.privacy.support import (
    CAMPAIGN_TEXT,
    EMAIL,
    NAME,
    NATIONAL_ID,
    PHONE,
    PICTURE,
    SECRET,
    customer_with_history,
    sql,
)
from tests.reports.support import post


async def export(person, contact_id) -> zipfile.ZipFile:
    response = await person.client.post(f"/api/v1/privacy/contacts/{contact_id}/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="personal-data-{contact_id}.zip"')
    return zipfile.ZipFile(io.BytesIO(response.content))


async def test_the_archive_holds_everything_about_the_person(world):
    home = world.home
    history = await customer_with_history(home)
    with await export(home.ayla, history.contact_id) as archive_file:
        assert archive_file.testzip() is None  # every entry's checksum holds
        names = archive_file.namelist()
        picture_path = f"attachments/{history.attachment_id}-röntgen_ağız.png"
        assert names == ["README.txt", "contact.json", "conversations.json", "attachments.json",
                         picture_path]
        assert archive_file.read(picture_path) == PICTURE
        readme = archive_file.read("README.txt").decode()
        contact = json.loads(archive_file.read("contact.json"))
        conversations = json.loads(archive_file.read("conversations.json"))
        attachments = json.loads(archive_file.read("attachments.json"))

    for name in ("contact.json", "conversations.json", "attachments.json", "attachments/"):
        assert name in readme
    assert "Test Kliniği" in readme
    assert i18n.text("tr", "Times are in UTC (ISO 8601).") in readme

    profile = contact["contact"]
    assert (profile["name"], profile["phone"], profile["email"], profile["language"]) == (
        NAME, PHONE, EMAIL, "tr")
    assert profile["tags"] == ["implant"]
    assert profile["custom_fields"] == [{"key": "tc_no", "label": "TC kimlik no",
                                         "value": NATIONAL_ID}]
    assert profile["erased_at"] is None
    assert [i["handle"] for i in contact["identities"]] == [history.handle]
    assert contact["identities"][0]["channel"]["kind"] == "webchat"
    assert [(c["type"], c["granted"]) for c in contact["consents"]] == [("message", True)]
    # How the consent came to be is part of what is held about the person.
    assert [(e["type"], e["granted"], e["for"]) for e in contact["consent_history"]] == [
        ("message", True, PHONE)]
    assert [n["text"] for n in contact["notes"]] == [f"{NAME} ödemeyi taksitle yapacak"]
    [campaign] = contact["campaign_messages"]
    assert (campaign["campaign"], campaign["text"], campaign["state"], campaign["to"]) == (
        "Kontrol hatırlatması", CAMPAIGN_TEXT, "read", history.handle)
    [survey] = contact["satisfaction_answers"]
    assert survey["score"] == 4 and "memnun" in survey["comment"]

    [conversation] = conversations["conversations"]
    assert conversation["id"] == str(history.conversation_id)
    assert conversation["contact"]["phone"] == PHONE
    texts = [m["text"] for m in conversation["messages"]]
    assert texts[0] == f"Merhaba, {SECRET} için randevu istiyorum"
    assert texts[-1] == "Ayşe Hanım, yarın 10:00 uygun mu?"
    picture = next(m for m in conversation["messages"] if m["kind"] == "image")
    assert picture["attachment"]["file"] == picture_path
    location = next(m for m in conversation["messages"] if m["kind"] == "location")
    assert location["details"]["latitude"] == 41.0151
    assert [n["text"] for n in conversation["notes"]] == [f"Hasta {SECRET} şikayetiyle geldi"]
    assert [e["kind"] for e in conversation["events"]][-1] == "closed"
    assert attachments == [{
        "id": str(history.attachment_id), "file": picture_path, "filename": "röntgen ağız.png",
        "content_type": "image/png", "size_bytes": len(PICTURE),
        "sha256": attachments[0]["sha256"], "received_at": attachments[0]["received_at"],
        "messages": [picture["id"]], "conversations": [str(history.conversation_id)]}]


async def test_an_export_is_recorded_and_audited_without_personal_data(world):
    home = world.home
    history = await customer_with_history(home)
    await export(home.ayla, history.contact_id)
    requests = (await home.ayla.client.get("/api/v1/privacy/requests")).json()
    [request] = requests
    assert (request["kind"], request["status"], request["contact_id"]) == (
        "export", "fulfilled", str(history.contact_id))
    assert request["requested_by"] == str(home.ayla.user_id)
    assert request["summary"] == {"conversations": 1, "messages": 4, "notes": 2,
                                  "attachments": 1, "bytes": len(PICTURE)}
    [(data,)] = await sql(home, "SELECT data::text FROM audit_events "
                                "WHERE action = 'privacy.export'")
    assert json.loads(data)["request_id"] == request["id"]
    assert NAME.split()[0] not in data and PHONE[1:] not in data


async def test_after_erasure_the_export_shows_the_anonymised_state(world):
    home = world.home
    history = await customer_with_history(home)
    await post(home.ayla, f"/privacy/contacts/{history.contact_id}/erase",
               {"confirm": str(history.contact_id)})
    with await export(home.ayla, history.contact_id) as archive_file:
        names = archive_file.namelist()
        contact = json.loads(archive_file.read("contact.json"))
        # Kept on purpose: the withdrawal of consent with the number it was for, the proof the
        # İYS rules ask for (and what stops the number being messaged again).
        evidence = contact.pop("consent_history")
        content = " ".join([json.dumps(contact, ensure_ascii=False)] + [
            archive_file.read(name).decode() for name in names if name != "contact.json"])
    assert names == ["README.txt", "contact.json", "conversations.json", "attachments.json"]
    assert [(e["granted"], e["for"]) for e in evidence] == [(True, PHONE), (False, PHONE)]
    for word in (NAME.split()[0], PHONE[1:], EMAIL, SECRET, NATIONAL_ID, "41.0151"):
        assert word not in content, word
    assert contact["contact"]["name"] == i18n.text("tr", ERASED_CONTACT)
    assert contact["contact"]["erased_at"] is not None
    assert contact["identities"] == [] and contact["notes"][0]["text"] == i18n.text(
        "tr", CONTENT_ERASED)


async def test_a_file_gone_from_storage_is_listed_as_missing(world):
    home = world.home
    history = await customer_with_history(home)
    await home.rt.storage.delete(history.storage_key)
    with await export(home.ayla, history.contact_id) as archive_file:
        assert archive_file.namelist()[-1] == archive.MISSING
        assert archive_file.read(archive.MISSING).decode().strip() == (
            f"attachments/{history.attachment_id}-röntgen_ağız.png")


async def test_only_security_managers_export_and_another_company_gets_404(world):
    home, charlie = world.home, world.charlie
    history = await customer_with_history(home)
    for person in (home.bora, home.sevgi):
        response = await person.client.post(
            f"/api/v1/privacy/contacts/{history.contact_id}/export")
        assert response.status_code == 403
    response = await charlie.ayla.client.post(
        f"/api/v1/privacy/contacts/{history.contact_id}/export")
    assert response.status_code == 404
    assert await sql(home, "SELECT count(*) FROM privacy_requests") == [(0,)]


def test_file_names_inside_the_archive_are_safe():
    assert archive.safe_filename("../../etc/passwd") == "etc_passwd"
    assert archive.safe_filename(".gizli dosya.pdf") == "gizli_dosya.pdf"
    assert archive.safe_filename("rapor (son) şükrü.docx") == "rapor_son_şükrü.docx"
    assert archive.safe_filename("...") == "file"
    assert len(archive.safe_filename("a" * 300 + ".png")) == 100
