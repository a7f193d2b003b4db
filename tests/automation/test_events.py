"""Each event kind fires its rules when the real service does the thing: a customer's message
is ingested, a conversation opens, closes, is assigned or tagged, a contact is created or
changed, a later module raises its own. (Timers and schedules: test_timers.py; a campaign
answered through the real path: tests/campaigns/test_reply_rules.py.)"""

from __future__ import annotations

import uuid

from invekto.automation import events
from invekto.automation import service as automation
from invekto.automation.events import Event, EventKind
from invekto.contacts.models import Contact
from tests.automation.conftest import make_rule, make_tags, runs

NOTE = [{"type": "add_note", "body": "kural çalıştı"}]


async def _contact(company, contact_id) -> Contact:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get_one(Contact, contact_id)


async def test_message_received_fires_for_each_message_with_whether_it_opened_the_chat(world):
    home = world.home
    rule = await make_rule(home, event="message_received", actions=NOTE)
    first = await home.inbound("Merhaba", handle="ayse")
    second = await home.inbound("Fiyat alabilir miyim?", handle="ayse")
    found = await runs(home, rule["id"])
    assert [(r.event, r.conversation_id, r.message_id, r.contact_id, r.status)
            for r in found] == [
        ("message_received", first.conversation_id, first.id, first.contact_id, "done"),
        ("message_received", second.conversation_id, second.id, second.contact_id, "done")]
    opened = await make_rule(home, event="message_received", actions=NOTE, conditions={
        "all": [{"field": "conversation.first_message", "op": "is_true"}]})
    await home.inbound("Bir sorum daha var", handle="ayse")
    new_customer = await home.inbound("İyi günler", handle="bulent")
    assert [r.message_id for r in await runs(home, opened["id"])] == [new_customer.id]


async def test_conversation_opened_fires_once_per_conversation(world):
    home = world.home
    rule = await make_rule(home, event="conversation_opened", actions=NOTE)
    first = await home.inbound("Merhaba", handle="ayse")
    await home.inbound("Orada mısınız?", handle="ayse")
    other = await home.inbound("Selam", handle="bulent")
    assert [(r.event, r.conversation_id) for r in await runs(home, rule["id"])] == [
        ("conversation_opened", first.conversation_id),
        ("conversation_opened", other.conversation_id)]
    # Its conditions read the message that opened it.
    priced = await make_rule(home, event="conversation_opened", actions=NOTE, conditions={
        "all": [{"field": "message.text", "op": "contains_any", "value": ["fiyat"]}]})
    await home.inbound("Merhaba", handle="cem")
    asked = await home.inbound("Fiyatınız nedir?", handle="deniz")
    assert [r.conversation_id for r in await runs(home, priced["id"])] == [asked.conversation_id]


async def test_conversation_closed_fires_when_an_agent_closes(world):
    home = world.home
    rule = await make_rule(home, event="conversation_closed", actions=NOTE)
    message = await home.inbound("Teşekkürler")
    response = await home.sevgi.client.post(
        f"/api/v1/conversations/{message.conversation_id}/close")
    assert response.status_code == 200, response.text
    await home.sevgi.client.post(f"/api/v1/conversations/{message.conversation_id}/close")
    assert [(r.event, r.conversation_id) for r in await runs(home, rule["id"])] == [
        ("conversation_closed", message.conversation_id)]


async def test_conversation_assigned_fires_when_someone_is_given_the_conversation(world):
    home = world.home
    rule = await make_rule(home, event="conversation_assigned", actions=NOTE, conditions={
        "all": [{"field": "conversation.assignee", "op": "in",
                 "value": [str(home.bora.user_id)]}]})
    message = await home.inbound("Merhaba")
    response = await home.sevgi.client.post(
        f"/api/v1/conversations/{message.conversation_id}/assign",
        json={"assignee_id": str(home.deniz.user_id)})
    assert response.status_code == 200, response.text
    assert await runs(home, rule["id"]) == []  # Deniz, not Bora
    response = await home.sevgi.client.post(
        f"/api/v1/conversations/{message.conversation_id}/transfer",
        json={"user_id": str(home.bora.user_id)})
    assert response.status_code == 200, response.text
    assert [r.conversation_id for r in await runs(home, rule["id"])] == [message.conversation_id]


async def test_tag_added_and_removed_fire_for_the_tag_the_rule_names(world):
    home = world.home
    await make_tags(home, "vip", "acil")
    added = await make_rule(home, event="tag_added", event_options={"tag": "vip"}, actions=NOTE)
    any_tag = await make_rule(home, event="tag_added", actions=NOTE)
    removed = await make_rule(home, event="tag_removed", event_options={"tag": "vip"},
                              actions=NOTE)
    message = await home.inbound("Merhaba")
    tags = f"/api/v1/conversations/{message.conversation_id}/tags"
    response = await home.bora.client.post(tags, json={"add": ["acil"], "remove": []})
    assert response.status_code == 200, response.text
    assert await runs(home, added["id"]) == []
    assert len(await runs(home, any_tag["id"])) == 1
    await home.bora.client.post(tags, json={"add": ["vip"], "remove": []})
    assert len(await runs(home, added["id"])) == 1
    assert await runs(home, removed["id"]) == []
    await home.bora.client.post(tags, json={"add": [], "remove": ["vip", "acil"]})
    assert [r.event for r in await runs(home, removed["id"])] == ["tag_removed"]


async def test_contact_created_fires_for_a_new_customer_and_a_contact_made_by_hand(world):
    home = world.home
    await make_tags(home, "yeni")
    rule = await make_rule(home, event="contact_created",
                           actions=[{"type": "add_tags", "tags": ["yeni"]}])
    response = await home.sevgi.client.post("/api/v1/contacts", json={"name": "Zeynep"})
    assert response.status_code == 201, response.text
    by_hand = uuid.UUID(response.json()["id"])
    message = await home.inbound("Merhaba", handle="yeni-musteri")
    await home.inbound("Bir şey daha", handle="yeni-musteri")  # known now: no second firing
    assert [(r.event, r.contact_id, r.conversation_id) for r in await runs(home, rule["id"])] == [
        ("contact_created", by_hand, None), ("contact_created", message.contact_id, None)]
    # A contact event has no conversation: tags go on the contact.
    assert (await _contact(home, by_hand)).tags == ["yeni"]
    assert (await _contact(home, message.contact_id)).tags == ["yeni"]


async def test_contact_updated_fires_with_the_fields_that_changed(world):
    home = world.home
    rule = await make_rule(home, event="contact_updated", conditions={"all": [
        {"field": "contact.email", "op": "is_set"}]}, actions=NOTE)
    message = await home.inbound("Merhaba")
    contact = f"/api/v1/contacts/{message.contact_id}"
    await home.sevgi.client.patch(contact, json={"name": "Ayşe"})
    assert await runs(home, rule["id"]) == []  # no e-mail yet
    response = await home.sevgi.client.patch(contact, json={"email": "ayse@example.com"})
    assert response.status_code == 200, response.text
    assert [(r.event, r.contact_id) for r in await runs(home, rule["id"])] == [
        ("contact_updated", message.contact_id)]


async def test_campaign_replied_fires_for_the_campaign_the_rule_names(world):
    home = world.home
    campaign, other = uuid.uuid4(), uuid.uuid4()
    narrowed = await make_rule(home, event="campaign_replied",
                               event_options={"campaign_id": str(campaign)}, actions=NOTE)
    any_campaign = await make_rule(home, event="campaign_replied", actions=NOTE)
    message = await home.inbound("Kampanyanız ilgimi çekti")
    for campaign_id in (other, campaign):
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await automation.emit(session, [Event(
                "campaign_replied", home.tenant_id, conversation_id=message.conversation_id,
                contact_id=message.contact_id, data={"campaign_id": str(campaign_id)})])
    assert len(await runs(home, narrowed["id"])) == 1
    assert len(await runs(home, any_campaign["id"])) == 2


async def test_another_companys_rules_never_fire(world):
    home, charlie = world.home, world.charlie
    theirs = await charlie.people["ayla"].client.post("/api/v1/automation/rules", json={
        "name": "Charlie'nin", "event": "message_received", "actions": NOTE})
    assert theirs.status_code == 201, theirs.text
    ours = await make_rule(home, event="message_received", actions=NOTE)
    await home.inbound("Merhaba")
    assert len(await runs(home, ours["id"])) == 1
    assert await runs(charlie, theirs.json()["id"]) == []
    assert await runs(charlie) == []


async def test_a_later_module_registers_its_own_event_and_rules_hear_it(world):
    home = world.home
    events.register(EventKind("appointment_booked", "Appointment booked",
                              options=("doctor",)))
    try:
        catalogue = (await home.sevgi.client.get("/api/v1/automation/catalogue")).json()
        assert "appointment_booked" in [e["kind"] for e in catalogue["events"]]
        rule = await make_rule(home, event="appointment_booked",
                               event_options={"doctor": "ece"}, actions=NOTE)
        message = await home.inbound("Randevu alabilir miyim?")
        for doctor in ("can", "ece"):
            async with home.rt.db.tenant_session(home.tenant_id) as session:
                await automation.emit(session, [Event(
                    "appointment_booked", home.tenant_id, conversation_id=message.conversation_id,
                    contact_id=message.contact_id, data={"doctor": doctor})])
        (run,) = await runs(home, rule["id"])
        assert (run.event, run.conversation_id, run.status) == (
            "appointment_booked", message.conversation_id, "done")
    finally:
        events.KINDS.pop("appointment_booked")
