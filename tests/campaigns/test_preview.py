"""The preview before sending: the campaign's message as its first queued recipient will read
it, filled the way the dispatcher fills it."""

from __future__ import annotations

import uuid

from invekto.campaigns import service
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate


async def preview(wa, campaign_id) -> service.Preview | None:
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        return await service.preview(session, wa.home.system, uuid.UUID(str(campaign_id)))


async def test_a_template_is_previewed_with_the_first_recipients_values(wa):
    await wa.contacts(2, start=7, tags=["vip"])
    campaign = await wa.create()
    assert await preview(wa, campaign["id"]) is None  # not planned: nobody queued yet

    await wa.post(f"/api/v1/campaigns/{campaign['id']}/plan")
    shown = await preview(wa, campaign["id"])
    first = min(await wa.recipients(campaign["id"]), key=lambda r: r.id)
    assert shown.phone == first.phone
    assert shown.contact_name == f"Müşteri {int(first.phone[-7:])}"
    # The approved template's body, its {{1}} the contact's first name, {{2}} as written.
    assert shown.text == ("Merhaba Müşteri, 1 Aralık tarihindeki randevunuzu hatırlatırız. "
                          "Gelebilecek misiniz?")


async def test_a_text_is_previewed_with_the_list_rows_values(wa):
    home = wa.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        sms = await channels.create_channel(session, home.system, ChannelCreate(
            kind="sms_netgsm", name="SMS", external_id="8505551234",
            settings={"header": "ORNEKMGZ"}, credentials={"usercode": "u", "password": "p"}))
    uploaded = (await home.sevgi.client.post(
        "/api/v1/recipient-lists", files={"file": ("liste.csv", "Ad Soyad,Telefon,Kod\n"
                                                   "Ayşe Yılmaz,05320000001,KIS20\n".encode())}
    )).json()
    campaign = await wa.create(channel_id=str(sms.id), content_kind="text", commercial=False,
                               segment=None, list_id=uploaded["id"],
                               body="{{ contact.first_name }}, kodunuz: {{ row.Kod }}")
    await wa.post(f"/api/v1/campaigns/{campaign['id']}/plan")
    shown = await preview(wa, campaign["id"])
    assert (shown.contact_name, shown.phone, shown.text) == (
        "Ayşe Yılmaz", "+905320000001", "Ayşe, kodunuz: KIS20")
