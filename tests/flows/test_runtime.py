"""The live runtime through the real ingest: every node kind on a web chat conversation (numbered
options there), the handoff into the right group with its summary note and the captured fields
on the contact, invalid answers, delays and timeouts with the minute scan's clock moved, the loop
guard, and an unknown step kind handing the conversation to a person."""

from __future__ import annotations

from invekto.contacts.models import Contact
from invekto.flows import steps
from invekto.flows.steps import StepKind, StepResult
from tests.flows.conftest import Customer, later, make_flow, tick


def numbered(question: str, *titles: str) -> str:
    """How a question starts on a channel without buttons (the hint line follows)."""
    return question + "\n\n" + "\n".join(f"{n}. {t}" for n, t in enumerate(titles, 1))


async def test_a_customer_goes_through_every_built_in_step_to_a_handoff(world):
    home = world.home
    client = home.sevgi.client
    assert (await client.post("/api/v1/tags", json={"name": "randevu"})).status_code == 201
    assert (await home.ayla.client.post("/api/v1/custom-fields", json={
        "key": "sehir", "label": "Şehir", "field_type": "text"})).status_code == 201
    await make_flow(home, {"start": "hi", "nodes": {
        "hi": {"type": "message", "text": "Merhaba {{ contact.first_name }}!", "next": "menu"},
        "menu": {"type": "question", "text": "Ne istersiniz?", "style": "buttons",
                 "save_as": "konu", "options": [
                     {"id": "o1", "title": "Fiyat bilgisi", "next": "price"},
                     {"id": "o2", "title": "Randevu", "next": "name"}]},
        "price": {"type": "message", "text": "Muayene 1000 TL.", "next": "bye"},
        "name": {"type": "input", "text": "Adınız nedir?", "save_to": "contact.name",
                 "next": "mail"},
        "mail": {"type": "input", "text": "E-posta adresiniz?", "save_to": "contact.email",
                 "validate": "email", "invalid_text": "Geçerli bir e-posta yazın.",
                 "next": "which"},
        "which": {"type": "condition", "branches": [
            {"when": {"field": "var.konu", "op": "equals", "value": "Randevu"},
             "next": "mark"}], "else_next": "bye"},
        "mark": {"type": "set", "add_tags": ["randevu"],
                 "fields": {"custom.sehir": "İstanbul", "var.kaynak": "bot"},
                 "next": "handoff"},
        "handoff": {"type": "handoff", "group_id": str(home.group_id),
                    "text": "Sizi ekibimize aktarıyorum, {{ contact.first_name }}.",
                    "note": "Randevu: {{ contact.name }} / {{ contact.email }} / "
                            "{{ var.konu }} / {{ var.kaynak }} / {{ contact.custom.sehir }}"},
        "bye": {"type": "end", "text": "Görüşmek üzere!"}}})

    ayse = Customer(home)
    await ayse.says("Merhaba")
    heard = await ayse.heard()
    assert heard[0] == "Merhaba Ayşe!"
    assert heard[1].startswith(numbered("Ne istersiniz?", "Fiyat bilgisi", "Randevu"))
    conversation = await ayse.conversation()
    assert conversation.held_by_bot and conversation.assignee_id is None
    assert (await ayse.session()).state == "waiting"

    await ayse.says("2")  # a typed number picks the option
    await ayse.says("Ali Veli")
    await ayse.says("ali(at)example")
    assert (await ayse.heard())[-1] == "Geçerli bir e-posta yazın."
    await ayse.says("Ali@Example.com")
    assert (await ayse.heard())[2:] == ["Adınız nedir?", "E-posta adresiniz?",
                                        "Geçerli bir e-posta yazın.",
                                        "Sizi ekibimize aktarıyorum, Ali."]
    flow_session = await ayse.session()
    assert (flow_session.state, flow_session.end_reason) == ("ended", "handed_off")
    assert flow_session.variables == {"konu": "Randevu", "kaynak": "bot"}
    conversation = await ayse.conversation()
    assert not conversation.held_by_bot
    assert conversation.group_id == home.group_id
    assert conversation.tags == ["randevu"]
    assert await ayse.notes() == [
        "Randevu: Ali Veli / ali@example.com / Randevu / bot / İstanbul"]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        contact = await session.get_one(Contact, ayse.contact_id)
        assert (contact.name, contact.email, contact.custom_fields) == (
            "Ali Veli", "ali@example.com", {"sehir": "İstanbul"})
    assert [(e["action"], e.get("reason")) for e in await ayse.bot_events()] == [
        ("started", None), ("handed_off", "handoff"), ("ended", "handed_off")]
    # Every message the flow sent is the bot's.
    assert {m.sender_kind for m in await ayse.sent()} == {"bot"}


async def test_typed_titles_and_the_else_branch_end_the_flow(world):
    home = world.home
    await make_flow(home, {"start": "menu", "nodes": {
        "menu": {"type": "question", "text": "Ne istersiniz?", "style": "list",
                 "button": "Seçenekler", "options": [
                     {"id": "a", "title": "Fiyat bilgisi", "next": "price"},
                     {"id": "b", "title": "Adres", "next": "bye"}]},
        "price": {"type": "message", "text": "Muayene 1000 TL.", "next": "bye"},
        "bye": {"type": "end", "text": "Görüşmek üzere!"}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    await ayse.says("FİYAT")  # a typed title, folded and by its start
    assert (await ayse.heard())[1:] == ["Muayene 1000 TL.", "Görüşmek üzere!"]
    assert (await ayse.session()).end_reason == "completed"
    assert not (await ayse.conversation()).held_by_bot


async def test_invalid_answers_are_asked_again_twice_then_a_person_takes_over(world):
    home = world.home
    await make_flow(home, {"start": "menu", "nodes": {
        "menu": {"type": "question", "text": "Seçin", "style": "buttons",
                 "invalid_text": "Lütfen bir seçenek seçin.", "options": [
                     {"id": "a", "title": "Evet", "next": None},
                     {"id": "b", "title": "Hayır", "next": None}]}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    for text in ("belki", "7", "bilmem"):
        await ayse.says(text)
    heard = await ayse.heard()
    assert [h.split("\n")[0] for h in heard] == ["Seçin", "Lütfen bir seçenek seçin.",
                                                "Lütfen bir seçenek seçin."]
    flow_session = await ayse.session()
    assert (flow_session.state, flow_session.end_reason) == ("ended", "handed_off")
    assert not (await ayse.conversation()).held_by_bot
    assert (await ayse.bot_events())[1]["reason"] == "invalid_answers"


async def test_each_input_validation_refuses_then_keeps_the_value(world):
    home = world.home
    assert (await home.ayla.client.post("/api/v1/custom-fields", json={
        "key": "kilo", "label": "Kilo", "field_type": "number"})).status_code == 201
    await make_flow(home, {"start": "phone", "nodes": {
        "phone": {"type": "input", "text": "Telefon?", "save_to": "contact.phone",
                  "validate": "phone", "invalid_text": "Telefon hatalı", "next": "date"},
        "date": {"type": "input", "text": "Tarih?", "save_to": "var.tarih",
                 "validate": "date", "invalid_text": "Tarih hatalı", "next": "weight"},
        "weight": {"type": "input", "text": "Kilo?", "save_to": "custom.kilo",
                   "validate": "number", "invalid_text": "Sayı hatalı", "next": "code"},
        "code": {"type": "input", "text": "Kod?", "save_to": "var.kod", "validate": "regex",
                 "pattern": "[A-Z]{3}-\\d{3}", "invalid_text": "Kod hatalı", "next": "bye"},
        "bye": {"type": "end", "text": "{{ var.tarih }} {{ var.kod }} {{ contact.phone }}"}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    for wrong, right in (("123", "0532 123 45 67"), ("31.02.2026", "15.03.2026"),
                         ("yetmiş", "72,5"), ("abc", "abc-123")):
        await ayse.says(wrong)
        await ayse.says(right)
    assert await ayse.heard() == [
        "Telefon?", "Telefon hatalı", "Tarih?", "Tarih hatalı", "Kilo?", "Sayı hatalı",
        "Kod?", "Kod hatalı", "2026-03-15 abc-123 +905321234567"]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        contact = await session.get_one(Contact, ayse.contact_id)
        assert (contact.phone, contact.custom_fields) == ("+905321234567", {"kilo": 72.5})
    assert (await ayse.session()).variables == {"tarih": "2026-03-15", "kod": "abc-123"}


async def test_a_wait_sleeps_until_the_scan_and_a_question_times_out_to_its_branch(world):
    home = world.home
    await make_flow(home, {"start": "hi", "nodes": {
        "hi": {"type": "message", "text": "Bir saniye...", "next": "pause"},
        "pause": {"type": "wait", "seconds": 30, "next": "ask"},
        "ask": {"type": "question", "text": "Memnun musunuz?", "style": "buttons",
                "timeout_minutes": 60, "timeout_next": "late", "options": [
                    {"id": "y", "title": "Evet", "next": None}]},
        "late": {"type": "end", "text": "Cevap alamadık, görüşmek üzere."}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    assert await ayse.heard() == ["Bir saniye..."]
    assert (await ayse.session()).state == "sleeping"
    await ayse.says("Orada mısınız?")  # not for the bot while it waits; kept for people
    assert (await ayse.session()).state == "sleeping"
    assert await tick(home, later(seconds=10)) == 0
    assert await tick(home, later(seconds=31)) == 1
    assert (await ayse.heard())[-1].startswith("Memnun musunuz?")
    assert await tick(home, later(minutes=59)) == 0
    assert await tick(home, later(minutes=61)) == 1
    assert await tick(home, later(minutes=62)) == 0  # once
    assert (await ayse.heard())[-1] == "Cevap alamadık, görüşmek üzere."
    assert (await ayse.session()).end_reason == "completed"


async def test_a_timeout_without_a_branch_hands_off(world):
    home = world.home
    await make_flow(home, {"start": "ask", "nodes": {
        "ask": {"type": "input", "text": "Adınız?", "save_to": "var.ad",
                "timeout_minutes": 5, "next": None}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    assert await tick(home, later(minutes=6)) == 1
    assert (await ayse.session()).end_reason == "timed_out"
    assert not (await ayse.conversation()).held_by_bot


async def test_a_loop_without_a_waiting_step_is_stopped_and_handed_off(world):
    home = world.home
    await make_flow(home, {"start": "a", "nodes": {
        "a": {"type": "set", "fields": {"var.x": "1"}, "next": "b"},
        "b": {"type": "set", "fields": {"var.y": "2"}, "next": "a"}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    flow_session = await ayse.session()
    assert (flow_session.state, flow_session.end_reason) == ("ended", "failed")
    assert flow_session.trail[-2]["detail"] == "loop"
    assert (await ayse.bot_events())[1]["reason"] == "loop"
    assert not (await ayse.conversation()).held_by_bot


async def test_a_step_kind_no_longer_offered_hands_off(world):
    home = world.home

    async def answer(call):
        return StepResult(reply="Yapay zekâ cevabı")

    steps.register_step(StepKind(kind="ai_answer", label="AI", run=answer))
    try:
        await make_flow(home, {"start": "hi", "nodes": {
            "hi": {"type": "message", "text": "Merhaba", "next": "ai"},
            "ai": {"type": "ai_answer", "next": None}}})
    finally:
        steps.unregister_step("ai_answer")
    ayse = Customer(home)
    await ayse.says("Merhaba")
    flow_session = await ayse.session()
    assert (flow_session.state, flow_session.end_reason) == ("ended", "failed")
    assert any(t["detail"] == "unknown step kind ai_answer" for t in flow_session.trail)
    assert not (await ayse.conversation()).held_by_bot


async def test_a_message_step_sends_the_companys_file(world):
    home = world.home
    uploaded = await home.sevgi.client.post("/api/v1/attachments", files={
        "file": ("fiyatlar.pdf", b"%PDF-1.4 fiyat listesi", "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    attachment_id = uploaded.json()["id"]
    await make_flow(home, {"start": "list", "nodes": {
        "list": {"type": "message", "text": "Fiyat listemiz ektedir.",
                 "attachment_id": attachment_id, "next": None}}})
    ayse = Customer(home)
    await ayse.says("Merhaba")
    (sent,) = await ayse.sent()
    assert (sent.content_kind, sent.body, str(sent.attachment_id)) == (
        "document", "Fiyat listemiz ektedir.", attachment_id)
