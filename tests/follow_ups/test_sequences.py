"""Follow-up sequences: started by a close or a tag, each step sent on time by the minute scan
(the clock moved forward), once; stopped by the customer's reply, by the stop tag, or by
WhatsApp's closed 24-hour window; each company's own."""

from __future__ import annotations

from datetime import timedelta

from invekto.inbox import service as inbox
from tests.follow_ups.conftest import (
    close,
    conversations,
    create_sequence,
    later,
    outbound,
    runs,
    scan,
)


async def test_a_close_starts_the_sequence_and_each_step_goes_once_on_time(world):
    home = world.home
    await create_sequence(home, name="Kapanış sonrası", trigger="conversation_closed", steps=[
        {"delay_minutes": 60, "body": "Merhaba {{ contact.first_name }}, memnun kaldınız mı?"},
        {"delay_minutes": 24 * 60, "body": "Size özel indirim kodu: TESEKKUR"}])
    message = await home.inbound("Teşekkürler", name="Ayşe Yılmaz")
    await close(home, message.conversation_id)
    await close(home, message.conversation_id)  # closing again starts nothing more
    assert await runs(home) == [("running", None, 0)]

    assert await scan(home, later(minutes=59)) == 0
    first = later(minutes=61)
    assert await scan(home, first) == 1
    assert await scan(home, first) == 0  # the same minute scanned twice: sent once
    assert [m.body for m in await outbound(home, message.contact_id)] == [
        "Merhaba Ayşe, memnun kaldınız mı?"]
    assert await scan(home, first + timedelta(hours=23)) == 0  # a day after the first step
    assert await scan(home, first + timedelta(hours=24, minutes=1)) == 1
    sent = await outbound(home, message.contact_id)
    assert [m.body for m in sent] == ["Merhaba Ayşe, memnun kaldınız mı?",
                                      "Size özel indirim kodu: TESEKKUR"]
    # Into the closed conversation, for the usual delivery job; it stays closed.
    assert {(m.conversation_id, m.status, m.sender_kind) for m in sent} == {
        (message.conversation_id, "pending", "system")}
    assert await conversations(home, message.contact_id) == [("closed", 3)]
    assert await runs(home) == [("finished", None, 2)]
    assert await scan(home, later(days=30)) == 0


async def test_the_sequence_stops_when_the_customer_replies(world):
    home = world.home
    await create_sequence(home, name="Hatırlatma", trigger="conversation_closed", steps=[
        {"delay_minutes": 10, "body": "Randevunuzu unutmayın"},
        {"delay_minutes": 60, "body": "Son hatırlatma"}])
    message = await home.inbound("Randevu almak istiyorum", handle="hasta-1")
    await close(home, message.conversation_id)
    assert await scan(home, later(minutes=11)) == 1

    reply = await home.inbound("Tamam, geleceğim", handle="hasta-1")
    assert reply.conversation_id != message.conversation_id  # a new conversation, as usual
    assert await runs(home) == [("stopped", "replied", 1)]
    assert await scan(home, later(hours=3)) == 0
    assert [m.body for m in await outbound(home, message.contact_id)] == [
        "Randevunuzu unutmayın"]


async def test_a_tag_starts_a_sequence_that_the_stop_tag_ends(world):
    home = world.home
    for tag in ("teklif", "satış"):
        response = await home.sevgi.client.post("/api/v1/tags", json={"name": tag})
        assert response.status_code == 201, response.text
    await create_sequence(home, name="Teklif takibi", trigger="tag_added", trigger_tag="teklif",
                          stop_tag="satış", channel_id=str(home.channel_id), steps=[
                              {"delay_minutes": 0, "body": "Teklifimizi incelediniz mi?"},
                              {"delay_minutes": 120, "body": "Teklifimiz yarın sona eriyor"}])
    message = await home.inbound("Fiyat alabilir miyim?")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.change_tags(session, home.system, message.conversation_id, add=["teklif"],
                                remove=[])
    assert await scan(home, later(minutes=1)) == 1
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.change_tags(session, home.system, message.conversation_id, add=["satış"],
                                remove=[])
    assert await scan(home, later(hours=3)) == 1
    assert await runs(home) == [("stopped", "condition", 1)]
    assert [m.body for m in await outbound(home, message.contact_id)] == [
        "Teklifimizi incelediniz mi?"]


async def test_after_whatsapps_window_only_a_template_step_goes(wa):
    home = wa.home
    await create_sequence(home, name="Ertesi gün", trigger="conversation_closed",
                          channel_id=str(wa.channel_id), steps=[
                              {"delay_minutes": 25 * 60, "body": "Nasılsınız?"}])
    message = await wa.customer_writes("Merhaba")
    await close(home, message.conversation_id)
    assert await scan(home, later(hours=26)) == 1
    assert await runs(home) == [("stopped", "reply_window_closed", 0)]
    assert await outbound(home, message.contact_id) == []


async def test_sequences_are_checked_when_saved(world):
    home = world.home
    client = home.sevgi.client
    cases = [
        ({"trigger": "tag_added", "steps": [{"delay_minutes": 0, "body": "x"}]}, "trigger_tag"),
        ({"trigger": "tag_added", "trigger_tag": "yok-boyle", "steps": [
            {"delay_minutes": 0, "body": "x"}]}, "trigger_tag"),
        ({"trigger": "conversation_closed", "steps": [
            {"delay_minutes": 0, "body": "{{ contact.yas }}"}]}, "steps.0.body"),
        ({"trigger": "conversation_closed", "steps": [{"delay_minutes": 0, "body": " "}]},
         "steps.0.body"),
        ({"trigger": "conversation_closed", "steps": [
            {"delay_minutes": 0, "template_name": "hatirlatma", "template_language": "tr"}]},
         "steps.0.template_name"),  # a template needs a WhatsApp channel
        ({"trigger": "conversation_closed", "trigger_campaign_id": str(home.tenant_id),
          "steps": [{"delay_minutes": 0, "body": "x"}]}, "trigger_campaign_id"),
    ]
    for fields, field in cases:
        response = await client.post("/api/v1/follow-ups", json={"name": "Deneme", **fields})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field, response.text
    # Agents read sequences, supervisors change them.
    created = await create_sequence(home, name="Deneme", trigger="conversation_closed",
                                    steps=[{"delay_minutes": 5, "body": "Bir"}])
    assert (await home.bora.client.get(f"/api/v1/follow-ups/{created['id']}")).status_code == 200
    response = await home.bora.client.put(f"/api/v1/follow-ups/{created['id']}", json={
        "name": "Deneme", "trigger": "conversation_closed",
        "steps": [{"delay_minutes": 5, "body": "İki"}]})
    assert response.status_code == 403
    response = await client.put(f"/api/v1/follow-ups/{created['id']}", json={
        "name": "Deneme 2", "trigger": "conversation_closed", "enabled": False,
        "steps": [{"delay_minutes": 5, "body": "İki"}, {"delay_minutes": 10, "body": "Üç"}]})
    assert response.status_code == 200, response.text
    assert [(s["position"], s["body"]) for s in response.json()["steps"]] == [
        (0, "İki"), (1, "Üç")]
    # Switched off: a close starts nothing.
    message = await home.inbound("Merhaba")
    await close(home, message.conversation_id)
    assert await runs(home) == []


async def test_each_company_has_its_own_sequences(world):
    home, charlie = world.home, world.charlie
    theirs = await charlie.people["ayla"].client.post("/api/v1/follow-ups", json={
        "name": "Charlie'nin", "trigger": "conversation_closed",
        "steps": [{"delay_minutes": 0, "body": "Charlie'den selam"}]})
    assert theirs.status_code == 201, theirs.text
    message = await home.inbound("Merhaba")
    await close(home, message.conversation_id)
    assert await runs(home) == []
    assert await scan(home, later(minutes=5)) == 0
    assert (await home.sevgi.client.get("/api/v1/follow-ups")).json() == []
    response = await home.sevgi.client.get(f"/api/v1/follow-ups/{theirs.json()['id']}")
    assert response.status_code == 404
    # The same close in Charlie's company starts his.
    theirs_message = await charlie.inbound("Merhaba")
    await close(charlie, theirs_message.conversation_id)
    assert await runs(charlie) == [("running", None, 0)]
