"""The widget's marketing box: its own optional checkbox with its own text (never the privacy
notice), which records the visitor's message consent with the text they were shown."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from invekto.channels import service as channels
from invekto.contacts.models import Contact
from tests.consent.support import consent_of, events_of, rows
from tests.widget.visitor import SITE, Widget

MARKETING = "Kampanya ve duyurulardan SMS ve WhatsApp ile haberdar olmak istiyorum."


@pytest.fixture
async def widget(world, client, webchat_channel_id) -> Widget:
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.get_channel(session, home.system, webchat_channel_id)
        channel.settings = {**channel.settings, "marketing_consent_text": MARKETING}
    return Widget(client, webchat_channel_id)


async def visitor_contact(home, name: str) -> Contact:
    (contact,) = await rows(home, select(Contact).where(Contact.name == name))
    return contact


async def test_the_box_is_offered_with_its_text(widget):
    config = (await widget.get("/config")).json()
    assert config["marketing_consent_text"] == MARKETING
    assert config["consent_text"] != MARKETING


async def test_ticking_it_records_message_consent_with_what_was_shown(world, widget,
                                                                      webchat_channel_id):
    await widget.start(name="Elif Yıldız", marketing_consent=True)
    contact = await visitor_contact(world.home, "Elif Yıldız")
    consent = await consent_of(world.home, contact.id)
    assert (consent.granted, consent.source) == (True, "widget")
    (event,) = await events_of(world.home, contact.id)
    assert (event.iys_source, event.recipient, event.actor_kind) == (
        "HS_WEB", "+905321112233", "system")
    assert event.evidence["consent_text"] == MARKETING
    assert event.evidence["page"] == f"{SITE}/iletisim"
    assert event.evidence["origin"] == SITE
    assert event.evidence["channel_id"] == str(webchat_channel_id)


async def test_the_privacy_notice_alone_is_no_marketing_consent(world, widget):
    await widget.start(name="Deniz Kaya")
    contact = await visitor_contact(world.home, "Deniz Kaya")
    assert await consent_of(world.home, contact.id) is None
    assert await events_of(world.home, contact.id) == []


async def test_without_a_marketing_text_a_ticked_box_counts_for_nothing(world, client,
                                                                        webchat_channel_id):
    plain = Widget(client, webchat_channel_id)
    await plain.start(name="Can Demir", marketing_consent=True)
    contact = await visitor_contact(world.home, "Can Demir")
    assert isinstance(contact.id, uuid.UUID)
    assert await consent_of(world.home, contact.id) is None
