"""Conditions: every field and operator true and false against a real conversation, all/any
nesting with its trace, and the checks made when a rule is saved (the path at fault)."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from invekto.automation import conditions
from invekto.automation.events import Event
from invekto.core.errors import ValidationFailed
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation
from tests.automation.conftest import make_field, make_tags

ISTANBUL = ZoneInfo("Europe/Istanbul")
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=ISTANBUL)
SUNDAY_10 = datetime(2026, 3, 8, 10, 0, tzinfo=ISTANBUL)


async def _scene(home):
    """Ayşe, a VIP from İstanbul, asks for prices on the web chat; Bora of Resepsiyon has it;
    it came through a click-to-chat link."""
    await make_tags(home, "vip", "kampanya", "yeni")
    await make_field(home, "sehir")
    await make_field(home, "yas", "number")
    await make_field(home, "dogum", "date")
    message = await home.inbound("FİYAT listesi alabilir miyim lütfen?", handle="ayse",
                                 name="Ayşe Yılmaz")
    response = await home.sevgi.client.patch(f"/api/v1/contacts/{message.contact_id}", json={
        "phone": "05321112233", "email": "ayse@example.com", "tags": ["vip"],
        "custom_fields": {"sehir": "İstanbul", "yas": 34, "dogum": "1990-05-01"}})
    assert response.status_code == 200, response.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.change_tags(session, home.system, message.conversation_id,
                                add=["kampanya"], remove=[])
        await inbox.transfer(session, home.system, message.conversation_id,
                             user_id=home.bora.user_id, group_id=home.group_id)
        await session.execute(update(Conversation).where(
            Conversation.id == message.conversation_id).values(
            referral={"source": "click_to_chat", "ref": "KLINIK1"}))
    response = await home.sevgi.client.put("/api/v1/business-hours", json={
        "schedule": {"0": [["09:00", "18:00"]]}})  # Mondays only
    assert response.status_code == 200, response.text
    return message


async def _check(home, subject, leaf: dict, *, for_flows: bool = False):
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return await conditions.check(session, conditions.validate(
            {"all": [leaf]}, for_flows=for_flows), subject)


async def _subject(home, message, **event_fields) -> conditions.Subject:
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        return await conditions.load_subject(session, Event(
            event_fields.pop("kind", "message_received"), home.tenant_id,
            conversation_id=message.conversation_id, contact_id=message.contact_id,
            message_id=message.id, **event_fields))


def _leaves(home, message) -> list[tuple[dict, bool]]:
    channel, bora, group = str(home.channel_id), str(home.bora.user_id), str(home.group_id)
    elsewhere = str(uuid.uuid4())
    return [
        ({"field": "channel", "op": "in", "value": [channel]}, True),
        ({"field": "channel", "op": "in", "value": [elsewhere]}, False),
        ({"field": "channel", "op": "not_in", "value": [elsewhere]}, True),
        ({"field": "channel", "op": "not_in", "value": [channel]}, False),
        ({"field": "channel_kind", "op": "in", "value": ["webchat", "telegram"]}, True),
        ({"field": "channel_kind", "op": "in", "value": ["whatsapp_cloud"]}, False),
        ({"field": "channel_kind", "op": "not_in", "value": ["whatsapp_cloud"]}, True),
        ({"field": "channel_kind", "op": "not_in", "value": ["webchat"]}, False),
        ({"field": "message.text", "op": "contains_any", "value": ["iade", "fiyat"]}, True),
        ({"field": "message.text", "op": "contains_any", "value": ["iade", "kargo"]}, False),
        ({"field": "message.text", "op": "not_contains_any", "value": ["şikayet"]}, True),
        ({"field": "message.text", "op": "not_contains_any", "value": ["LİSTE"]}, False),
        ({"field": "message.text", "op": "matches", "value": r"fiyat\s+list"}, True),
        ({"field": "message.text", "op": "matches", "value": r"^iade"}, False),
        ({"field": "message.language", "op": "is", "value": "tr"}, True),
        ({"field": "message.language", "op": "is", "value": "en"}, False),
        ({"field": "message.language", "op": "is_not", "value": "en"}, True),
        ({"field": "message.language", "op": "is_not", "value": "tr"}, False),
        ({"field": "contact.tags", "op": "has_any", "value": ["yeni", "vip"]}, True),
        ({"field": "contact.tags", "op": "has_any", "value": ["yeni"]}, False),
        ({"field": "contact.tags", "op": "has_all", "value": ["VIP"]}, True),
        ({"field": "contact.tags", "op": "has_all", "value": ["vip", "yeni"]}, False),
        ({"field": "contact.tags", "op": "has_none", "value": ["yeni"]}, True),
        ({"field": "contact.tags", "op": "has_none", "value": ["vip"]}, False),
        ({"field": "contact.custom.sehir", "op": "equals", "value": "istanbul"}, True),
        ({"field": "contact.custom.sehir", "op": "equals", "value": "Ankara"}, False),
        ({"field": "contact.custom.sehir", "op": "not_equals", "value": "Ankara"}, True),
        ({"field": "contact.custom.sehir", "op": "not_equals", "value": "İSTANBUL"}, False),
        ({"field": "contact.custom.sehir", "op": "contains", "value": "stan"}, True),
        ({"field": "contact.custom.sehir", "op": "contains", "value": "ank"}, False),
        ({"field": "contact.custom.sehir", "op": "is_set"}, True),
        ({"field": "contact.custom.sigorta", "op": "is_set"}, False),
        ({"field": "contact.custom.sigorta", "op": "is_empty"}, True),
        ({"field": "contact.custom.sehir", "op": "is_empty"}, False),
        ({"field": "contact.custom.yas", "op": "gt", "value": 30}, True),
        ({"field": "contact.custom.yas", "op": "gt", "value": "40"}, False),
        ({"field": "contact.custom.yas", "op": "lt", "value": 40}, True),
        ({"field": "contact.custom.yas", "op": "lt", "value": 34}, False),
        ({"field": "contact.custom.yas", "op": "equals", "value": "34"}, True),
        ({"field": "contact.custom.dogum", "op": "lt", "value": "2000-01-01"}, True),
        ({"field": "contact.custom.dogum", "op": "gt", "value": "2000-01-01"}, False),
        ({"field": "contact.email", "op": "is_set"}, True),
        ({"field": "contact.email", "op": "is_empty"}, False),
        ({"field": "contact.email", "op": "contains", "value": "@example.com"}, True),
        ({"field": "contact.email", "op": "equals", "value": "ali@example.com"}, False),
        ({"field": "contact.phone", "op": "equals", "value": "+905321112233"}, True),
        ({"field": "contact.phone", "op": "contains", "value": "0000"}, False),
        ({"field": "contact.name", "op": "contains", "value": "yilmaz"}, True),
        ({"field": "contact.name", "op": "is_empty"}, False),
        ({"field": "conversation.status", "op": "in", "value": ["open", "pending"]}, True),
        ({"field": "conversation.status", "op": "in", "value": ["closed"]}, False),
        ({"field": "conversation.status", "op": "not_in", "value": ["closed"]}, True),
        ({"field": "conversation.status", "op": "not_in", "value": ["open"]}, False),
        ({"field": "conversation.assignee", "op": "is_set"}, True),
        ({"field": "conversation.assignee", "op": "is_empty"}, False),
        ({"field": "conversation.assignee", "op": "in", "value": [bora]}, True),
        ({"field": "conversation.assignee", "op": "in", "value": [elsewhere]}, False),
        ({"field": "conversation.group", "op": "is_set"}, True),
        ({"field": "conversation.group", "op": "is_empty"}, False),
        ({"field": "conversation.group", "op": "in", "value": [group]}, True),
        ({"field": "conversation.group", "op": "in", "value": [elsewhere]}, False),
        ({"field": "conversation.tags", "op": "has_any", "value": ["kampanya"]}, True),
        ({"field": "conversation.tags", "op": "has_any", "value": ["vip"]}, False),
        ({"field": "conversation.tags", "op": "has_all", "value": ["kampanya"]}, True),
        ({"field": "conversation.tags", "op": "has_all", "value": ["kampanya", "vip"]}, False),
        ({"field": "conversation.tags", "op": "has_none", "value": ["vip"]}, True),
        ({"field": "conversation.tags", "op": "has_none", "value": ["kampanya"]}, False),
        ({"field": "conversation.first_message", "op": "is_true"}, True),
        ({"field": "conversation.first_message", "op": "is_false"}, False),
        ({"field": "contact.returning", "op": "is_false"}, True),
        ({"field": "contact.returning", "op": "is_true"}, False),
        ({"field": "conversation.referral", "op": "is_set"}, True),
        ({"field": "conversation.referral", "op": "is_empty"}, False),
        ({"field": "conversation.referral", "op": "code_in", "value": ["klinik1"]}, True),
        ({"field": "conversation.referral", "op": "code_in", "value": ["OTEL2"]}, False),
        ({"field": "conversation.referral", "op": "source_in", "value": ["click_to_chat"]},
         True),
        ({"field": "conversation.referral", "op": "source_in", "value": ["ad"]}, False),
    ]


async def test_every_leaf_is_true_and_false_as_the_conversation_says(world):
    home = world.home
    message = await _scene(home)
    subject = await _subject(home, message)
    wrong = []
    for leaf, expected in _leaves(home, message):
        result = await _check(home, subject, leaf)
        if result.ok is not expected or [t["ok"] for t in result.trace] != [expected]:
            wrong.append((leaf, result))
    assert wrong == []


async def test_business_hours_are_read_at_the_moment_of_the_event(world):
    home = world.home
    message = await _scene(home)
    is_open = {"field": "business_hours", "op": "is_open"}
    is_closed = {"field": "business_hours", "op": "is_closed"}
    at_work = await _subject(home, message, at=MONDAY_10)
    on_sunday = await _subject(home, message, at=SUNDAY_10)
    assert (await _check(home, at_work, is_open)).ok
    assert not (await _check(home, at_work, is_closed)).ok
    assert (await _check(home, on_sunday, is_closed)).ok
    assert not (await _check(home, on_sunday, is_open)).ok
    # The channel's own hours come before the company's.
    response = await home.sevgi.client.put(
        f"/api/v1/channels/{home.channel_id}/business-hours",
        json={"schedule": {"6": [["00:00", "24:00"]]}})
    assert response.status_code == 200, response.text
    on_sunday.cache.clear()
    assert (await _check(home, on_sunday, is_open)).ok


async def test_a_later_message_is_not_the_first_and_a_new_conversation_is_a_returning_one(world):
    home = world.home
    first = await home.inbound("Merhaba", handle="can")
    second = await home.inbound("Randevu almak istiyorum", handle="can")
    subject = await _subject(home, second)
    assert (await _check(home, subject, {"field": "conversation.first_message",
                                         "op": "is_false"})).ok
    # The ingest says which message opened the conversation; the event's word counts.
    told = await _subject(home, second, data={"first_message": True})
    assert (await _check(home, told, {"field": "conversation.first_message",
                                      "op": "is_true"})).ok
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.close(session, home.system, first.conversation_id)
    again = await home.inbound("Yine ben", handle="can")
    assert again.conversation_id != first.conversation_id
    subject = await _subject(home, again)
    assert (await _check(home, subject, {"field": "contact.returning", "op": "is_true"})).ok
    assert (await _check(home, subject, {"field": "conversation.first_message",
                                         "op": "is_true"})).ok


async def test_a_short_text_has_no_language_so_neither_is_nor_is_not_holds(world):
    home = world.home
    message = await home.inbound("tamam")
    subject = await _subject(home, message)
    for op in ("is", "is_not"):
        result = await _check(home, subject, {"field": "message.language", "op": op,
                                              "value": "tr"})
        assert not result.ok
        assert result.trace[0]["detail"] == "unknown"
    english = await _subject(home, await home.inbound("Hello, how much does a cleaning cost?"))
    assert (await _check(home, english, {"field": "message.language", "op": "is",
                                         "value": "en"})).ok


@pytest.mark.parametrize(("text", "language"), [
    ("Merhaba, yarın için randevu almak istiyorum", "tr"),
    ("Hello, I would like to book an appointment", "en"),
    ("Guten Tag, ich möchte einen Termin vereinbaren", "de"),
    ("Здравствуйте, сколько стоит консультация?", "ru"),
    ("مرحبا، أريد حجز موعد غدا من فضلك", "ar"),
    ("ok", "unknown"),
])
def test_the_language_is_detected_offline(text, language):
    assert conditions.detect_language(text) == language


async def test_flow_variables_are_conditions_of_flows_only(world):
    home = world.home
    message = await home.inbound("Merhaba")
    subject = await _subject(home, message)
    subject.variables = {"sehir": "Ankara", "adet": "3", "not": "kargom gelmedi"}
    cases = [({"field": "var.sehir", "op": "equals", "value": "ANKARA"}, True),
             ({"field": "var.sehir", "op": "not_equals", "value": "Ankara"}, False),
             ({"field": "var.adet", "op": "gt", "value": 2}, True),
             ({"field": "var.adet", "op": "lt", "value": 2}, False),
             ({"field": "var.not", "op": "contains_any", "value": ["kargo"]}, True),
             ({"field": "var.not", "op": "contains", "value": "iade"}, False),
             ({"field": "var.isim", "op": "is_empty"}, True),
             ({"field": "var.isim", "op": "is_set"}, False)]
    for leaf, expected in cases:
        assert (await _check(home, subject, leaf, for_flows=True)).ok is expected, leaf
    with pytest.raises(ValidationFailed) as refused:
        conditions.validate({"all": [{"field": "var.sehir", "op": "is_set"}]})
    assert refused.value.field == "conditions.all.0.field"


async def test_all_and_any_nest_and_the_trace_shows_what_was_evaluated(world):
    home = world.home
    message = await _scene(home)
    subject = await _subject(home, message)
    tree = {"any": [
        {"all": [{"field": "contact.tags", "op": "has_any", "value": ["yeni"]},
                 {"field": "message.text", "op": "contains_any", "value": ["fiyat"]}]},
        {"all": [{"field": "conversation.status", "op": "in", "value": ["open"]},
                 {"field": "message.text", "op": "contains_any", "value": ["fiyat"]}]},
        {"field": "contact.name", "op": "is_set"}]}
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        result = await conditions.check(session, conditions.validate(tree), subject)
        nothing = await conditions.check(session, {}, subject)
    assert result.ok
    # "all" stopped at its first false leaf, "any" at its first true branch.
    assert [(t["field"], t["ok"]) for t in result.trace] == [
        ("contact.tags", False), ("conversation.status", True), ("message.text", True)]
    assert result.trace[2]["detail"] == "fiyat"
    assert (nothing.ok, nothing.trace) == (True, [])


@pytest.mark.parametrize(("tree", "field"), [
    ([], "conditions"),
    ({"all": {}}, "conditions.all"),
    ({"all": [{}], "any": []}, "conditions"),
    ({"all": [{"field": "nereden", "op": "in", "value": ["x"]}]}, "conditions.all.0.field"),
    ({"all": [{"field": "channel", "op": "equals", "value": ["x"]}]}, "conditions.all.0.op"),
    ({"all": [{"field": "channel", "op": "in", "value": ["not-an-id"]}]},
     "conditions.all.0.value.0"),
    ({"any": [{"field": "message.text", "op": "contains_any", "value": []}]},
     "conditions.any.0.value"),
    ({"any": [{"field": "message.text", "op": "contains_any", "value": ["fiyat", "!!"]}]},
     "conditions.any.0.value.1"),
    ({"all": [{"any": [{"field": "message.text", "op": "matches", "value": "(fiyat"}]}]},
     "conditions.all.0.any.0.value"),
    ({"all": [{"field": "message.text", "op": "matches", "value": r"(a)\1"}]},
     "conditions.all.0.value"),
    ({"all": [{"field": "message.text", "op": "matches", "value": "x" * 201}]},
     "conditions.all.0.value"),
    ({"all": [{"field": "message.language", "op": "is", "value": "klingon"}]},
     "conditions.all.0.value"),
    ({"all": [{"field": "conversation.status", "op": "in", "value": ["archived"]}]},
     "conditions.all.0.value.0"),
    ({"all": [{"field": "channel_kind", "op": "in", "value": ["fax"]}]},
     "conditions.all.0.value.0"),
    ({"all": [{"field": "contact.custom.Sehir!", "op": "is_set"}]}, "conditions.all.0.field"),
    ({"all": [{"field": "contact.custom.yas", "op": "gt", "value": "çok"}]},
     "conditions.all.0.value"),
    ({"all": [{"field": "contact.name", "op": "equals", "value": {"a": 1}}]},
     "conditions.all.0.value"),
    ({"all": [{"field": "contact.name", "op": "is_set", "extra": 1}]},
     "conditions.all.0.extra"),
    ({"all": [{"all": [{"all": [{"all": [{"all": [{"any": [{"field": "contact.name",
                                                             "op": "is_set"}]}]}]}]}]}]},
     "conditions.all.0.all.0.all.0.all.0.all.0"),
])
def test_a_malformed_condition_is_refused_naming_the_path(tree, field):
    with pytest.raises(ValidationFailed) as refused:
        conditions.validate(tree)
    assert refused.value.field == field


def test_five_levels_of_groups_are_enough():
    deep = {"all": [{"all": [{"all": [{"all": [{"any": [{"field": "contact.name",
                                                         "op": "is_set"}]}]}]}]}]}
    assert conditions.validate(deep) == deep


def test_a_valid_condition_is_normalised():
    tag = str(uuid.uuid4()).upper()
    assert conditions.validate({"all": [
        {}, {"field": "conversation.assignee", "op": "in", "value": [tag, tag.lower()]},
        {"field": "business_hours", "op": "is_open", "value": "ignored"},
        {"field": "contact.tags", "op": "has_any", "value": [" yeni etiket ", "vip"]}]}) == {
        "all": [{"field": "conversation.assignee", "op": "in", "value": [tag.lower()]},
                {"field": "business_hours", "op": "is_open"},
                # Tags are not looked up: a rule may name a tag created later.
                {"field": "contact.tags", "op": "has_any", "value": ["yeni etiket", "vip"]}]}
    assert conditions.validate({}) == {}
