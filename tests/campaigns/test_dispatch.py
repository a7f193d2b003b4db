"""A campaign from planning to its report: each recipient's template filled from their
contact, sent once at the channel's pace, its statuses and the customer's reply recorded."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook
from sqlalchemy import select

from invekto.inbox.models import Conversation, ConversationEvent


async def test_a_template_campaign_reaches_each_recipient_once_with_their_own_values(wa):
    await wa.contacts(3, tags=["vip"])
    await wa.contacts(2, start=100, tags=["other"])
    campaign = await wa.create()

    plan = await wa.post(f"/api/v1/campaigns/{campaign['id']}/plan")
    assert plan.status_code == 200, plan.text
    assert plan.json() == {"recipients": 3, "excluded": {}, "duplicates": 0, "invalid_rows": 0}
    started = await wa.post(f"/api/v1/campaigns/{campaign['id']}/send")
    assert started.json()["status"] == "running"

    assert await wa.dispatch(campaign["id"]) == 3
    sent = wa.simulator.state.sent
    assert sorted(s.body["to"] for s in sent) == ["905320000000", "905320000001", "905320000002"]
    first = next(s for s in sent if s.body["to"] == "905320000001")
    assert first.body["template"]["components"] == [{"type": "body", "parameters": [
        {"type": "text", "text": "Müşteri"}, {"type": "text", "text": "1 Aralık"}]}]
    recipients = await wa.recipients(campaign["id"])
    assert {r.state for r in recipients} == {"sent"}
    assert {s.body["biz_opaque_callback_data"] for s in sent} == {
        f"campaign:{r.id}" for r in recipients}
    assert (await wa.report(campaign["id"]))["campaign"]["status"] == "completed"

    # Meta's statuses, then a customer answers.
    await wa.deliver(*wa.simulator.statuses_of(sent, "delivered"))
    await wa.deliver(*wa.simulator.statuses_of(sent[:2], "read"))
    await wa.customer_writes("Randevumu ertelemek istiyorum", wa_id=sent[0].body["to"])
    report = await wa.report(campaign["id"])
    assert report["states"] | {} == {"queued": 0, "excluded": 0, "sending": 0, "sent": 0,
                                     "delivered": 1, "read": 1, "replied": 1, "failed": 0}
    assert report["rates"] == {"delivered": 1.0, "read": round(2 / 3, 4),
                               "replied": round(1 / 3, 4), "failed": 0.0}
    replied = next(r for r in await wa.recipients(campaign["id"]) if r.state == "replied")
    conversation = await wa.scalar(select(Conversation).where(
        Conversation.id == replied.conversation_id))
    assert campaign["reply_tag"] in conversation.tags
    # The agent reads what the campaign said, in the thread, before the customer's answer.
    event = await wa.scalar(select(ConversationEvent).where(
        ConversationEvent.conversation_id == conversation.id,
        ConversationEvent.kind == "campaign"))
    assert event.data["body"] == ("Merhaba Müşteri, 1 Aralık tarihindeki randevunuzu "
                                  "hatırlatırız. Gelebilecek misiniz?")
    assert event.created_at == replied.sent_at
    page = await wa.home.sevgi.client.get(f"/inbox/c/{conversation.id}",
                                          headers={"HX-Request": "true"})
    assert "Kış indirimi" in page.text and "1 Aralık tarihindeki" in page.text

    export = await wa.home.sevgi.client.get(f"/api/v1/campaigns/{campaign['id']}/export")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["phone", "name", "state"]
    assert sorted(r[2] for r in rows[1:]) == ["delivered", "read", "replied"]
    xlsx = await wa.home.sevgi.client.get(
        f"/api/v1/campaigns/{campaign['id']}/export", params={"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[1]][:3] == ["phone", "name", "state"]
    assert sheet.max_row == 4


async def test_a_template_campaign_takes_the_templates_own_variable_mapping(wa):
    client = wa.home.sevgi.client
    templates = f"/api/v1/channels/{wa.channel_id}/templates"
    assert (await client.post(f"{templates}/sync")).status_code == 200
    listed = (await client.get(templates)).json()
    reminder = next(t for t in (listed["items"] if isinstance(listed, dict) else listed)
                    if t["name"] == "randevu_hatirlatma")
    mapped = await client.put(f"{templates}/{reminder['id']}/variables", json={"variables": {
        "body.1": "{{ contact.first_name }}", "body.2": "{{ today }}"}})
    assert mapped.status_code == 200, mapped.text
    campaign = await wa.create(template_parameters={})
    assert campaign["template_parameters"] == {"1": "{{ contact.first_name }}",
                                               "2": "{{ today }}"}
