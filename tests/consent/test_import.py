"""Consents from a file (``/api/v1/consents/import`` and the settings page): a phone and a
yes/no column guessed from Turkish or English headers, the date each was given, new numbers
made contacts, each change with the file and row as evidence, bad rows reported, a row older
than what is known changing nothing, and İYS told when it is on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from invekto.contacts.models import Contact
from tests.consent.support import (
    consent_of,
    enable_iys,
    events_of,
    new_contact,
    push,
    pushes_of,
    rows,
    set_consent,
)

ISTANBUL = ZoneInfo("Europe/Istanbul")  # the company's zone: dates in files are its clock's
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).astimezone(ISTANBUL).strftime(
    "%d.%m.%Y %H:%M")


def csv_file(lines: list[str]) -> bytes:
    return ("\n".join(["Ad Soyad;Telefon;İzin;İzin Tarihi", *lines]) + "\n").encode("cp1254")


async def upload(company, data: bytes, filename: str = "izinler.csv", person: str = "sevgi",
                 **form):
    return await company.people[person].client.post(
        "/api/v1/consents/import", data=form, files={"file": (filename, data)})


async def test_a_file_records_each_change_with_its_row(world):
    home = world.home
    known = await new_contact(home, "+905321112233", name="Ayşe Yılmaz")
    data = csv_file([
        f"Ayşe Yılmaz;0532 111 22 33;Evet;{YESTERDAY}",
        "Işıl Şahin;+90 (544) 777-8899;hayır;",
        "Ümit Çelik;05051234567;;",  # no answer: nothing to record
        "Hatalı;12345;evet;",
        "Belirsiz;05061234567;belki;",
        "Gelecek;05071234567;evet;01.01.2999",
    ])
    response = await upload(home, data)
    assert response.status_code == 201, response.text
    result = response.json()
    assert {k: result[k] for k in ("rows", "changed", "unchanged", "contacts_created", "blank",
                                   "error_count", "phone_column", "consent_column")} == {
        "rows": 6, "changed": 2, "unchanged": 0, "contacts_created": 1, "blank": 1,
        "error_count": 3, "phone_column": "Telefon", "consent_column": "İzin"}
    assert [(e["row_number"], e["code"]) for e in result["errors"]] == [
        (5, "invalid_phone"), (6, "invalid_consent"), (7, "invalid_date")]

    (event,) = await events_of(home, known)
    assert (event.granted, event.source, event.actor_kind, event.iys_source) == (
        True, "import", "user", "HS_FIZIKSEL_ORTAM")
    assert event.evidence == {"file": "izinler.csv", "row": 2, "column": "İzin"}
    assert event.occurred_at.astimezone(ISTANBUL).strftime("%d.%m.%Y %H:%M") == YESTERDAY
    (isil,) = await rows(home, select(Contact).where(Contact.phone == "+905447778899"))
    assert isil.name == "Işıl Şahin"
    assert (await consent_of(home, isil.id)).granted is False
    assert await rows(home, select(Contact).where(Contact.phone == "+905051234567")) == []


async def test_a_row_older_than_what_is_known_changes_nothing(world):
    home = world.home
    contact_id = await new_contact(home, "+905321112233")
    await set_consent(home, contact_id, False, person="bora")  # withdrawn today
    result = (await upload(home, csv_file([f"Ayşe;05321112233;evet;{YESTERDAY}"]))).json()
    assert (result["changed"], result["unchanged"]) == (0, 1)
    assert (await consent_of(home, contact_id)).granted is False


async def test_columns_can_be_named_and_call_consents_go_to_iys(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    data = b"GSM,Calls OK\n05321112233,yes\n"
    guessed = await upload(home, data, "calls.csv", consent_type="call")
    assert guessed.status_code == 422 and guessed.json()["error"]["field"] == "consent_column"
    response = await upload(home, data, "calls.csv", consent_type="call",
                            consent_column="Calls OK", iys_source="HS_ISLAK_IMZA")
    assert response.status_code == 201, response.text
    (queued,) = await pushes_of(home)
    assert (queued.payload["type"], queued.payload["source"]) == ("ARAMA", "HS_ISLAK_IMZA")
    assert await push(home) == 1
    assert iys_stub.simulator.current("+905321112233", "ARAMA")["status"] == "ONAY"


async def test_only_those_who_manage_contacts_import(world):
    home = world.home
    response = await upload(home, csv_file(["Ayşe;05321112233;evet;"]), person="bora")
    assert response.status_code == 403
    assert await rows(home, select(Contact).where(Contact.phone == "+905321112233")) == []
    bad = await upload(home, csv_file(["Ayşe;05321112233;evet;"]), consent_type="email")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "consent_type"
