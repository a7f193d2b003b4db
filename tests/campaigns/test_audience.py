"""Who a campaign is for: uploaded lists with their bad rows reported (not a failed upload),
segments, de-duplication, and everyone who must not get it left out with a count per reason."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import Workbook
from sqlalchemy import insert, select, update

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.consent import service as consent
from invekto.contacts.models import Contact, ContactConsent, ContactIdentity, SmsOptOut
from invekto.db.base import new_id

CSV = ("Ad Soyad;Telefon;Sipariş No\n"
       "Ayşe Yılmaz;0532 000 00 01;A-1\n"
       "Işıl Şahin;+90 (532) 000-0002;A-2\n"
       "Boş Satır;;A-3\n"
       "Hatalı;12345;A-4\n"
       "Tekrar;905320000001;A-5\n"
       "\n"
       "Yeni Kişi;05429998877;A-6\n")


async def upload(wa, data: bytes, filename: str, **form):
    return await wa.home.sevgi.client.post("/api/v1/recipient-lists", data=form,
                                           files={"file": (filename, data)})


async def test_a_csv_with_bad_rows_is_kept_and_each_bad_row_reported(wa):
    # Excel saves Turkish CSV as Windows-1254 with semicolons.
    response = await upload(wa, CSV.encode("cp1254"), "müşteriler.csv", name="Aralık listesi")
    assert response.status_code == 201, response.text
    uploaded = response.json()
    assert (uploaded["phone_column"], uploaded["name_column"]) == ("Telefon", "Ad Soyad")
    assert (uploaded["row_count"], uploaded["error_count"]) == (6, 3)
    detail = (await wa.home.sevgi.client.get(
        f"/api/v1/recipient-lists/{uploaded['id']}")).json()
    assert [(e["row_number"], e["value"], e["code"]) for e in detail["errors"]] == [
        (4, "", "missing_phone"), (5, "12345", "invalid_phone"),
        (6, "905320000001", "duplicate")]


async def test_an_xlsx_with_its_columns_named_by_the_user(wa):
    book = Workbook()
    sheet = book.active
    sheet.append(["Müşteri", "GSM numarası", "Şehir"])
    sheet.append(["İpek Öztürk", 5320000007, "İzmir"])  # a phone typed as a number
    sheet.append(["Ümit Çelik", "0532 000 00 08", "Muğla"])
    data = io.BytesIO()
    book.save(data)
    response = await upload(wa, data.getvalue(), "liste.xlsx", phone_column="GSM numarası",
                            name_column="Müşteri")
    assert response.status_code == 201, response.text
    assert (response.json()["row_count"], response.json()["error_count"]) == (2, 0)


async def test_a_file_that_is_no_table_is_refused_naming_the_field(wa):
    response = await upload(wa, b"", "empty.csv")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "file"
    no_phone = await upload(wa, "Ad;Şehir\nAyşe;İzmir\n".encode(), "x.csv")
    assert no_phone.status_code == 422
    assert no_phone.json()["error"]["field"] == "phone_column"


async def test_list_and_segment_together_count_each_person_once_with_the_rows_values(wa):
    await wa.contacts(3, tags=["vip"])  # +905320000000..2; 1 and 2 are also on the list
    uploaded = (await upload(wa, CSV.encode(), "liste.csv")).json()
    campaign = await wa.create(list_id=uploaded["id"], template_parameters={
        "1": "{{ contact.first_name }}", "2": "{{ row['Sipariş No'] }}"})
    plan = (await wa.post(f"/api/v1/campaigns/{campaign['id']}/plan")).json()
    # 3 from the segment + 3 good rows, 2 of them the same people: 4; the list's repeat
    # and those two are the duplicates; 2 rows had no usable number.
    assert plan == {"recipients": 4, "excluded": {}, "duplicates": 3, "invalid_rows": 2}
    new = await wa.scalar(select(Contact).where(Contact.tenant_id == wa.home.tenant_id,
                                                Contact.phone == "+905429998877"))
    assert new.name == "Yeni Kişi"  # the list made a contact for a number we did not know
    await wa.post(f"/api/v1/campaigns/{campaign['id']}/send")
    await wa.dispatch(campaign["id"])
    to_ayse = next(s for s in wa.simulator.state.sent if s.body["to"] == "905320000001")
    assert [p["text"] for p in to_ayse.body["template"]["components"][0]["parameters"]] == [
        "Müşteri", "A-1"]  # the contact's own name is kept; the row gives the order number


async def test_those_who_must_not_get_it_are_counted_by_reason(wa):
    ids = await wa.contacts(6, tags=["vip"])
    tenant = wa.home.tenant_id
    async with wa.home.rt.db.tenant_session(tenant) as session:
        await session.execute(update(Contact).where(Contact.id == ids[0]).values(
            blocked_at=datetime.now(UTC)))
        await session.execute(insert(SmsOptOut).values(tenant_id=tenant, id=new_id(),
                                                       phone="+905320000001", keyword="RET"))
        await session.execute(insert(ContactConsent), [
            {"id": new_id(), "tenant_id": tenant, "contact_id": ids[2],
             "consent_type": "message", "granted": False, "source": "keyword"},
            {"id": new_id(), "tenant_id": tenant, "contact_id": ids[3],
             "consent_type": "message", "granted": True, "source": "widget"}])
        await session.execute(update(Contact).where(Contact.id == ids[5]).values(phone=None))
    campaign = await wa.create(segment={"tags_any": ["vip"], "consent_required": True})
    plan = (await wa.post(f"/api/v1/campaigns/{campaign['id']}/plan")).json()
    assert plan["recipients"] == 1  # ids[3]: consent given
    assert plan["excluded"] == {"blocked": 1, "opted_out": 2, "no_consent": 1,
                                "unreachable": 1}


async def test_commercial_sms_needs_the_numbers_iys_consent(wa):
    home = wa.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        sms = await channels.create_channel(session, home.system, ChannelCreate(
            kind="sms_netgsm", name="SMS", external_id="8505551234",
            settings={"header": "ORNEKMGZ"}, credentials={"usercode": "u", "password": "p"}))
    ids = await wa.contacts(3, tags=["vip"])
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await session.execute(insert(ContactConsent).values(
            id=new_id(), tenant_id=home.tenant_id, contact_id=ids[0], consent_type="message",
            granted=True, source="iys", iys_status="ONAY"))
    body = {"channel_id": str(sms.id), "content_kind": "text",
            "body": "Merhaba {{ contact.first_name }}, kışa özel %20 indirim!"}
    commercial = await wa.create(**body)
    plan = (await wa.post(f"/api/v1/campaigns/{commercial['id']}/plan")).json()
    assert (plan["recipients"], plan["excluded"]) == (1, {"no_iys_consent": 2})
    informational = await wa.create(**body, commercial=False, name="Bilgilendirme")
    plan = (await wa.post(f"/api/v1/campaigns/{informational['id']}/plan")).json()
    assert (plan["recipients"], plan["excluded"]) == (3, {})


async def test_telegram_reaches_only_the_chats_it_knows(wa):
    home = wa.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        bot = await channels.create_channel(session, home.system, ChannelCreate(
            kind="telegram", name="Telegram", credentials={"bot_token": "123:abc"}))
    ids = await wa.contacts(3, tags=["vip"])
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        for contact_id, handle in ((ids[0], "777001"), (ids[2], "777003")):
            await session.execute(insert(ContactIdentity).values(
                id=new_id(), tenant_id=home.tenant_id, contact_id=contact_id,
                channel_id=bot.id, handle=handle))
        # A commercial message on Telegram needs the recorded opt-in (law 6563): 777003 has none.
        await consent.apply_changes(session, home.tenant_id, "manual", consent.SYSTEM, [
            consent.Change(ids[0], "message", True, datetime.now(UTC))])
    campaign = await wa.create(channel_id=str(bot.id), content_kind="text",
                               body="Yeni ürünler geldi")
    plan = (await wa.post(f"/api/v1/campaigns/{campaign['id']}/plan")).json()
    assert (plan["recipients"], plan["excluded"]) == (1, {"unreachable": 1, "no_consent": 1})
    recipients = await wa.recipients(campaign["id"])
    assert {r.handle for r in recipients if r.state == "queued"} == {"777001"}


async def test_content_is_checked_when_saved(wa):
    client = wa.home.sevgi.client
    base = {"name": "x", "channel_id": str(wa.channel_id), "segment": {}}
    cases = [
        ({"content_kind": "text", "body": "Merhaba"}, "content_kind"),
        ({"content_kind": "template", "template_name": "yok", "template_language": "tr"},
         "template_name"),
        ({"content_kind": "template", "template_name": "randevu_hatirlatma",
          "template_language": "tr", "template_parameters": {"1": "{{ contact.first_name }}"}},
         "template_parameters.2"),
        ({"content_kind": "template", "template_name": "randevu_hatirlatma",
          "template_language": "tr", "template_parameters": {
              "1": "{{ contact.__class__ }}", "2": "x"}}, "template_parameters.1"),
        ({"content_kind": "template", "template_name": "randevu_hatirlatma",
          "template_language": "tr", "template_parameters": {"1": "{{ row.x }}", "2": "x"}},
         "template_parameters.1"),  # no list: no row variables
    ]
    for spec, field in cases:
        response = await client.post("/api/v1/campaigns", json={**base, **spec})
        assert response.status_code == 422, (spec, response.text)
        assert response.json()["error"]["field"] == field, spec
    no_audience = await client.post("/api/v1/campaigns", json={
        "name": "x", "channel_id": str(wa.channel_id), "content_kind": "template",
        "template_name": "randevu_hatirlatma", "template_language": "tr",
        "template_parameters": {"1": "a", "2": "b"}})
    assert no_audience.json()["error"]["field"] == "segment"


async def test_another_companys_campaigns_and_lists_are_not_found(wa, world):
    campaign = await wa.create()
    uploaded = (await upload(wa, CSV.encode(), "liste.csv")).json()
    charlie = world.charlie.ayla.client  # the admin of the company next door
    for path in (f"/api/v1/campaigns/{campaign['id']}",
                 f"/api/v1/campaigns/{campaign['id']}/report",
                 f"/api/v1/recipient-lists/{uploaded['id']}"):
        assert (await charlie.get(path)).status_code == 404
    assert (await charlie.post(f"/api/v1/campaigns/{campaign['id']}/send")).status_code == 404
    agent = await wa.home.bora.client.get("/api/v1/campaigns")
    assert agent.status_code == 403


async def test_consent_recorded_on_the_contact_decides_who_a_consent_only_campaign_reaches(wa):
    ids = await wa.contacts(3, tags=["vip"])
    client = wa.home.bora.client  # an agent records what the customer said in the chat
    # A consent given, which lets marketing reach them, is recorded by who manages contacts.
    given = await wa.home.sevgi.client.put(f"/api/v1/contacts/{ids[0]}/consents/message",
                                           json={"granted": True, "source": "manual"})
    assert given.status_code == 200, given.text
    withdrawn = await client.put(f"/api/v1/contacts/{ids[1]}/consents/message",
                                 json={"granted": False, "source": "keyword"})
    assert withdrawn.json()["granted"] is False
    assert [c["consent_type"] for c in (await client.get(
        f"/api/v1/contacts/{ids[0]}/consents")).json()] == ["message"]
    campaign = await wa.create(segment={"tags_any": ["vip"], "consent_required": True})
    plan = (await wa.post(f"/api/v1/campaigns/{campaign['id']}/plan")).json()
    assert (plan["recipients"], plan["excluded"]) == (1, {"opted_out": 1, "no_consent": 1})
    bad = await client.put(f"/api/v1/contacts/{ids[0]}/consents/message",
                           json={"granted": True, "iys_status": "EVET"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "iys_status")
