"""Satisfaction surveys after a close: the thank-you text and the question after the channel's
delay (WhatsApp: a list of the five scores, SMS: asking for a number), the answer kept for
reports, a message that is only the score leaving the conversation closed, and any other message
opening a conversation as usual."""

from __future__ import annotations

import uuid

from invekto.channels import service as channels
from invekto.channels.adapters import telegram
from invekto.channels.adapters.base import OutboundMessage
from invekto.channels.schemas import ChannelCreate
from invekto.follow_ups import service as follow_ups
from invekto.inbox import service as inbox
from tests.follow_ups.conftest import (
    close,
    conversations,
    later,
    outbound,
    responses,
    scan,
    set_survey,
)

QUESTION = "Hizmetimizi 1'den 5'e kadar puanlar mısınız?"


async def test_whatsapp_asks_with_a_list_and_a_tapped_row_is_the_score(wa):
    home = wa.home
    await set_survey(home, wa.channel_id, enabled=True, delay_minutes=5, question_text=QUESTION,
                     thank_you_text="Teşekkürler {{ contact.first_name }}")
    message = await wa.customer_writes("Siparişim geldi, teşekkürler")
    response = await home.bora.client.post(
        f"/api/v1/conversations/{message.conversation_id}/close")
    assert response.status_code == 200, response.text

    assert await scan(home, later(minutes=4)) == 0
    assert await scan(home, later(minutes=6)) == 1
    assert await scan(home, later(minutes=6)) == 0  # asked once
    thanks, question = await outbound(home, message.contact_id)
    assert thanks.body == "Teşekkürler Ayşe"
    assert (question.content_kind, question.body) == ("interactive", QUESTION)
    rows = question.payload["choices"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == ["csat:1", "csat:2", "csat:3", "csat:4", "csat:5"]
    await wa.deliver_reply(thanks.id)
    await wa.deliver_reply(question.id)
    sent = wa.simulator.state.sent[-1].body
    assert sent["type"] == "interactive" and sent["interactive"]["type"] == "list"
    assert len(sent["interactive"]["action"]["sections"][0]["rows"]) == 5

    await wa.deliver(*wa.simulator.customer_message(message={
        "type": "interactive", "interactive": {"type": "list_reply", "list_reply": {
            "id": "csat:4", "title": rows[3]["title"]}}}))
    (answer,) = await responses(home)
    assert (answer.score, answer.comment, answer.agent_id) == (4, "", None)
    assert answer.answered_at is not None and answer.answer_message_id is not None
    # The tap stays in the surveyed conversation, which stays closed: nothing reopened.
    assert await conversations(home, message.contact_id) == [("closed", 4)]

    report = await home.sevgi.client.get("/api/v1/csat/responses", params={
        "since": later(days=-1).isoformat(), "until": later(days=1).isoformat()})
    assert report.status_code == 200, report.text
    assert (report.json()["asked"], report.json()["answered"],
            report.json()["average_score"]) == (1, 1, 4.0)
    assert (await home.bora.client.get("/api/v1/csat/responses", params={
        "since": later(days=-1).isoformat(), "until": later(days=1).isoformat()
    })).status_code == 403


async def _sms(company):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        channel = await channels.create_channel(session, company.system, ChannelCreate(
            kind="sms_netgsm", name="SMS", external_id="8503000000"))
    await set_survey(company, channel.id, enabled=True, question_text=QUESTION)
    return channel


async def _surveyed(company, channel, handle: str):
    """A customer's SMS conversation, closed and its survey asked."""
    message = await company.inbound("Merhaba", phone=f"+{handle}", handle=handle,
                                    channel_id=channel.id)
    await close(company, message.conversation_id)
    assert await scan(company, later(minutes=1)) == 1
    return message


async def test_an_sms_that_is_just_the_score_is_kept_and_opens_nothing(world):
    home = world.home
    sms = await _sms(home)
    message = await _surveyed(home, sms, "905321112233")
    (question,) = await outbound(home, message.contact_id)
    assert question.content_kind == "text" and question.body.startswith(QUESTION + "\n")
    await home.inbound(" 4 ", phone="+905321112233", handle="905321112233", channel_id=sms.id)
    (answer,) = await responses(home)
    assert (answer.score, answer.comment) == (4, "")
    assert await conversations(home, message.contact_id) == [("closed", 3)]
    # A second number is only a message now (the survey was answered): it opens as usual.
    await home.inbound("5", phone="+905321112233", handle="905321112233", channel_id=sms.id)
    assert (await responses(home))[0].score == 4
    assert await conversations(home, message.contact_id) == [("closed", 3), ("open", 1)]


async def test_other_messages_after_a_survey_open_a_conversation_as_usual(world):
    home = world.home
    sms = await _sms(home)
    first = await _surveyed(home, sms, "905330000001")
    await home.inbound("Merhaba, kargom nerede?", phone="+905330000001", handle="905330000001",
                       channel_id=sms.id)
    assert await conversations(home, first.contact_id) == [("closed", 2), ("open", 1)]
    assert [r.score for r in await responses(home)] == [None]
    # A score with words after it: kept with its comment, and the words get an answer.
    second = await _surveyed(home, sms, "905330000002")
    await home.inbound("2 kargo çok geç geldi", phone="+905330000002", handle="905330000002",
                       channel_id=sms.id)
    answered = [r for r in await responses(home) if r.contact_id == second.contact_id]
    assert [(r.score, r.comment) for r in answered] == [(2, "kargo çok geç geldi")]
    assert await conversations(home, second.contact_id) == [("closed", 2), ("open", 1)]


async def test_a_survey_is_not_asked_once_the_conversation_reopened(world):
    home = world.home
    await set_survey(home, home.channel_id, enabled=True, delay_minutes=30,
                     question_text=QUESTION)
    message = await home.inbound("Merhaba")
    await close(home, message.conversation_id)
    response = await home.bora.client.post(
        f"/api/v1/conversations/{message.conversation_id}/reopen")
    assert response.status_code == 200, response.text
    assert await scan(home, later(minutes=31)) == 0
    assert await responses(home) == []
    assert await outbound(home, message.contact_id) == []


async def test_surveys_and_answers_stay_in_their_company(world):
    home, charlie = world.home, world.charlie
    sms = await _sms(home)
    await _surveyed(home, sms, "905340000001")
    # The same number writes "4" to Charlie's SMS line: no survey of his, just a message.
    async with charlie.rt.db.tenant_session(charlie.tenant_id) as session:
        theirs = await channels.create_channel(session, charlie.system, ChannelCreate(
            kind="sms_netgsm", name="SMS", external_id="8503000001"))
    reply = await charlie.inbound("4", phone="+905340000001", handle="905340000001",
                                  channel_id=theirs.id)
    assert await conversations(charlie, reply.contact_id) == [("open", 1)]
    assert [r.score for r in await responses(home)] == [None]
    assert await responses(charlie) == []
    response = await charlie.people["ayla"].client.get(f"/api/v1/channels/{sms.id}/csat")
    assert response.status_code == 404


def test_telegram_shows_the_five_scores_as_buttons():
    """Telegram takes the same list as an inline keyboard, one button a row, each carrying the
    score back as its callback data."""
    question = follow_ups.survey_question(QUESTION, "telegram", "tr")
    choices = inbox.checked_choices(question.choices, question.body)
    _method, fields, _file = telegram.build_request(OutboundMessage(
        message_id=uuid.uuid4(), recipient_handle="123456", recipient_phone=None,
        content_kind="interactive", body=question.body, payload={"choices": choices}))
    keyboard = fields["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == [f"csat:{n}" for n in range(1, 6)]
