"""SMS opt-out: a customer who writes STOP, İPTAL or RET is left out of marketing SMS."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.sms import opt_out_word
from invekto.contacts.models import SmsOptOut


@pytest.mark.parametrize(("text", "word"), [
    ("STOP", "STOP"), ("stop", "STOP"), ("iptal", "İPTAL"), ("İptal.", "İPTAL"),
    ("IPTAL", "IPTAL"), ("Ret ACME", "RET"), ("ret", "RET"),
    ("İptal etmek istemiyorum ama bir sorum var", "İPTAL"),  # the first word decides
    ("Siparişimi iptal edin", None), ("Merhaba", None), ("", None), ("STOPPED", None),
])
def test_opt_out_words_in_any_case_the_turkish_way(text, word):
    assert opt_out_word(text) == word


async def _sms_channel(home, kind: str = "sms_netgsm"):
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return await channels.create_channel(session, home.system, ChannelCreate(
            kind=kind, name=f"SMS {kind}", external_id="8503000000"))


async def _opt_outs(home) -> list[tuple[str, str]]:
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return [(o.phone, o.keyword) for o in (await session.scalars(
            select(SmsOptOut).order_by(SmsOptOut.phone))).all()]


async def test_an_sms_saying_iptal_puts_the_number_on_the_opt_out_list_once(world):
    home = world.home
    sms = await _sms_channel(home)
    await home.inbound("Kampanya mesajlarınızı almak istemiyorum", phone="+905321112233",
                       handle="905321112233", channel_id=sms.id)
    assert await _opt_outs(home) == []
    await home.inbound("İPTAL", phone="+905321112233", handle="905321112233", channel_id=sms.id)
    await home.inbound("ret", phone="+905321112233", handle="905321112233", channel_id=sms.id)
    await home.inbound("STOP", phone="+905339998877", handle="905339998877", channel_id=sms.id)
    assert await _opt_outs(home) == [("+905321112233", "İPTAL"), ("+905339998877", "STOP")]


async def test_the_same_words_on_other_channels_are_just_messages(world):
    home = world.home
    await home.inbound("STOP", phone="+905321112233")  # the web chat
    assert await _opt_outs(home) == []
    # And another company's list is its own.
    sms = await _sms_channel(world.charlie, "sms_twilio")
    await world.charlie.inbound("RET", phone="+905321112233", handle="905321112233",
                                channel_id=sms.id)
    assert await _opt_outs(home) == []
    assert await _opt_outs(world.charlie) == [("+905321112233", "RET")]
