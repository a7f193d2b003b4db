"""Keywords in customers' messages: a withdrawal (İPTAL, STOP, DUR, RET) on any channel when it
is the whole message (on SMS also as İYS's "RET BRAND"), a sign-up (KATIL, EVET ONAY) only where
the network proves the number; matched the Turkish way; each kept with the message as evidence."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from invekto.consent import keywords
from invekto.contacts.models import SmsOptOut
from tests.consent.support import consent_of, events_of, new_channel, rows


@pytest.mark.parametrize(("body", "kind", "expected"), [
    ("İPTAL", "webchat", "İPTAL"),
    ("iptal.", "whatsapp_cloud", "İPTAL"),
    ("Iptal", "telegram", "İPTAL"),  # a dotless capital from a keyboard without Turkish letters
    ("  DUR! ", "instagram", "DUR"),
    ("stop", "messenger", "STOP"),
    ("Ret", "webchat", "RET"),
    ("İptal etmek istiyorum randevumu", "webchat", None),  # about an appointment
    ("Dur bir dakika", "whatsapp_cloud", None),
    ("Kampanyayı iptal ettiniz mi?", "whatsapp_cloud", None),
    ("RET ACME", "sms_netgsm", "RET"),  # İYS's form, on SMS only
    ("RET ACME", "whatsapp_cloud", None),
    ("Stop sending", "sms_twilio", "STOP"),
])
def test_withdrawal_words(body, kind, expected):
    assert keywords.withdrawal(body, kind) == expected


@pytest.mark.parametrize(("body", "kind", "expected"), [
    ("KATIL", "sms_netgsm", "KATIL"),
    ("katıl", "whatsapp_cloud", "KATIL"),
    ("Evet, onay", "whatsapp_bsp", "EVET ONAY"),
    ("KATIL", "webchat", None),  # the visitor typed the number: no proof it is theirs
    ("KATIL", "telegram", None),
    ("EVET", "sms_netgsm", None),  # answers appointment reminders too
    ("ONAY", "whatsapp_cloud", None),
    ("Katılmak istiyorum ama", "sms_netgsm", None),
])
def test_sign_up_phrases(body, kind, expected):
    assert keywords.consent_given(body, kind) == expected


async def test_iptal_in_a_web_chat_withdraws_message_consent_with_the_message_as_evidence(world):
    home = world.home
    greeting = await home.inbound("Merhaba, kampanyalarınız var mı?", handle="ziyaretci-1",
                                  name="Ziya")
    assert await consent_of(home, greeting.contact_id) is None
    message = await home.inbound("İptal", handle="ziyaretci-1", name="Ziya")
    consent = await consent_of(home, message.contact_id)
    assert (consent.granted, consent.source) == (False, "keyword")
    (event,) = await events_of(home, message.contact_id)
    assert (event.source, event.actor_kind, event.granted) == ("keyword", "system", False)
    assert event.evidence == {"message_id": str(message.id), "channel_id": str(home.channel_id),
                              "word": "İPTAL"}
    # Saying it again is no change; a question about an appointment is none either.
    await home.inbound("iptal", handle="ziyaretci-1", name="Ziya")
    await home.inbound("Randevumu iptal edebilir miyim?", handle="ziyaretci-1", name="Ziya")
    assert len(await events_of(home, message.contact_id)) == 1


async def test_on_sms_ret_with_a_brand_withdraws_and_katil_signs_up_again(world):
    home = world.home
    sms = await new_channel(home, "sms_netgsm")
    phone = "+905447778899"
    ret = await home.inbound("RET ORNEKKLNK", channel_id=sms, handle=phone, phone=phone)
    assert (await consent_of(home, ret.contact_id)).granted is False
    assert [o.keyword for o in await rows(home, select(SmsOptOut).where(
        SmsOptOut.phone == phone))] == ["RET"]
    joined = await home.inbound("Katıl", channel_id=sms, handle=phone, phone=phone)
    consent = await consent_of(home, joined.contact_id)
    assert (consent.granted, consent.source) == (True, "keyword")
    events = await events_of(home, ret.contact_id)
    assert [(e.granted, e.evidence["word"], e.iys_source, e.recipient) for e in events] == [
        (False, "RET", "HS_MESAJ", phone), (True, "KATIL", "HS_MESAJ", phone)]


async def test_katil_in_a_web_chat_gives_no_consent(world):
    home = world.home
    message = await home.inbound("KATIL", handle="ziyaretci-2", phone="+905441112233")
    assert await consent_of(home, message.contact_id) is None
