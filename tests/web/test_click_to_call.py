"""Click-to-call on the contact card, over HTTP as the HTMX page sends it: the button shows only
when a voice channel can place calls (and the contact has a number); pressing it makes the Twilio
simulator (a real server) ring the agent, and the card says so; a refusal comes back as the usual
error. A Twilio call's entry shows in the thread with its recording player, and a phone line
offers no composer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from invekto.channels import intake
from invekto.channels import service as channels
from invekto.channels.adapters.twilio_voice import client_identity
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.twilio_voice import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER_PHONE,
    NUMBER,
    TwilioVoiceSimulator,
    callbacks_in,
    create_simulator,
)
from invekto.inbox.models import Message
from tests.processes import serving

HX = {"hx-request": "true"}


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[TwilioVoiceSimulator]:
    simulator = create_simulator()
    async with serving(simulator) as base_url:
        simulator.base_url = base_url
        yield simulator


@pytest.fixture
def simulator(served, app) -> TwilioVoiceSimulator:
    served.reset()
    served.webhook_transport = httpx.ASGITransport(app=app)
    return served


async def add_voice_channel(company, simulator, **settings):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        channel = await channels.create_channel(session, company.system, ChannelCreate(
            kind="voice_twilio", name="Telefon", external_id=NUMBER,
            settings={"api_base_url": simulator.base_url, **settings},
            credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}))
    simulator.webhook_url = f"http://testserver/webhooks/voice_twilio/{channel.id}"
    return channel


async def card(person, message) -> str:
    response = await person.client.get(f"/inbox/contacts/{message.contact_id}/card",
                                       params={"c": str(message.conversation_id)}, headers=HX)
    assert response.status_code == 200, response.text
    return response.text


async def test_the_card_offers_a_call_and_pressing_it_rings_the_agent_through_twilio(
        world, simulator):
    home = world.home
    message = await home.inbound("Beni arayın", phone=CUSTOMER_PHONE, name="Ayşe")
    assert 'id="call-button"' not in await card(home.bora, message)  # no voice channel yet
    channel = await add_voice_channel(home, simulator)
    html = await card(home.bora, message)
    assert re.search(rf'id="call-button" hx-post="/inbox/contacts/{message.contact_id}/call"',
                     html)
    assert CUSTOMER_PHONE in html[html.index('id="call-button"'):]
    # The full page draws the same card.
    page = await home.bora.client.get("/inbox", params={"c": str(message.conversation_id)})
    assert 'id="call-button"' in page.text

    response = await home.bora.client.post(f"/inbox/contacts/{message.contact_id}/call",
                                           headers=HX)
    assert response.status_code == 200, response.text
    (sent,) = simulator.state.calls
    assert f'id="call-placed" data-call-id="{sent.sid}"' in response.text
    assert CUSTOMER_PHONE in response.text
    assert (sent.params["To"], sent.params["From"]) == (
        f"client:{client_identity(home.bora.user_id)}", NUMBER)
    assert sent.params["Url"].startswith(
        f"http://testserver/webhooks/voice_twilio/{channel.id}?event=bridge&")


async def test_a_refusal_comes_back_as_the_usual_error(world, simulator):
    home = world.home
    message = await home.inbound("Beni arayın", phone=CUSTOMER_PHONE)
    await add_voice_channel(home, simulator)
    simulator.fail_next(code=20429)
    response = await home.bora.client.post(f"/inbox/contacts/{message.contact_id}/call",
                                           headers=HX)
    assert response.status_code == 502
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("provider_unavailable", "channel_id")
    assert error["message"]


async def test_no_button_without_a_number_or_a_channel_that_can_call(world, simulator):
    home = world.home
    without_phone = await home.inbound("Merhaba")
    await add_voice_channel(home, simulator)
    assert 'id="call-button"' not in await card(home.bora, without_phone)
    # A PBX line places calls only with a click-to-call address; a switched-off channel none.
    charlie = world.charlie
    async with charlie.rt.db.tenant_session(charlie.tenant_id) as session:
        pbx = await channels.create_channel(session, charlie.system, ChannelCreate(
            kind="voice", name="Santral"))
    await charlie.add_person("can", "agent")
    message = await charlie.inbound("Merhaba", phone=CUSTOMER_PHONE)
    assert 'id="call-button"' not in await card(charlie.can, message)
    async with charlie.rt.db.tenant_session(charlie.tenant_id) as session:
        found = await channels.get_channel(session, charlie.system, pbx.id)
        found.settings = {"originate_url": "http://127.0.0.1:9/originate"}
    assert 'id="call-button"' in await card(charlie.can, message)
    async with charlie.rt.db.tenant_session(charlie.tenant_id) as session:
        (await channels.get_channel(session, charlie.system, pbx.id)).is_active = False
    assert 'id="call-button"' not in await card(charlie.can, message)


async def test_a_twilio_call_shows_in_the_thread_with_its_recording_and_no_composer(
        world, simulator):
    home = world.home
    channel = await add_voice_channel(home, simulator)
    request = simulator.incoming_call()
    answer = await simulator.deliver(request)
    urls = callbacks_in(answer.text)  # a voicemail: nobody is online
    call_sid = request.params["CallSid"]
    for posted in (simulator.record_action(urls["action"], call_sid),
                   simulator.recording_status(urls["recordingStatusCallback"], call_sid,
                                              source="RecordVerb"),
                   simulator.status(None, call_sid, "completed", duration=20)):
        assert (await simulator.deliver(posted)).status_code == 200
    await intake.ingest_pending(home.rt.db, home.rt.storage, home.tenant_id, channel.id,
                                max_attachment_bytes=home.rt.settings.max_attachment_bytes)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        entry = await session.scalar(select(Message).where(Message.channel_id == channel.id))
    page = await home.bora.client.get("/inbox", params={"c": str(entry.conversation_id)})
    assert page.status_code == 200
    item = page.text[page.text.index(f'id="message-{entry.id}"'):]
    assert 'class="msg-call" data-outcome="missed" data-direction="inbound"' in item
    assert 'class="call-voicemail"' in item
    assert (f'<audio class="media-audio call-recording-player" controls preload="none" '
            f'src="/inbox/media/{entry.attachment_id}"') in item
    assert 'id="phone-line-notice"' in page.text and 'id="composer"' not in page.text
    media = await home.bora.client.get(f"/inbox/media/{entry.attachment_id}")
    assert (media.status_code, media.headers["content-type"]) == (200, "audio/mpeg")
