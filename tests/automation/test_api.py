"""The rules API: every route, the checks made when a rule is saved (the field at fault), the
dry run (what would fire and why not, nothing changed), the runs log, who may use it, and each
company's own rules."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from invekto.automation.actions import ACTIONS
from invekto.automation.models import AutomationRule
from invekto.core.crypto import secret_box
from tests.api.test_errors import FIELD_JUNK, RAW_JUNK
from tests.automation.conftest import conversation, make_field, make_rule, make_tags, runs

API = "/api/v1/automation"
ACTION_FIELDS = {kind: action.fields for kind, action in ACTIONS.items()}
# One good instance of each action whose settings are not all ids made in the test.
VALID_ACTIONS = {
    "send_message": {"type": "send_message", "body": "Merhaba"},
    "send_template": {"type": "send_template", "template_name": "x", "language": "tr"},
    "add_tags": {"type": "add_tags", "tags": ["vip"]},
    "set_field": {"type": "set_field", "key": "sehir", "value": "Ankara"},
    "snooze": {"type": "snooze", "minutes": 30},
    "add_note": {"type": "add_note", "body": "Not"},
    "call_webhook": {"type": "call_webhook", "url": "https://example.com/hook"},
}


async def test_rules_are_created_read_changed_and_deleted(world):
    home = world.home
    client = home.sevgi.client
    await make_tags(home, "vip")
    created = await make_rule(home, name="  Fiyat   soranlar ", event="message_received",
                              description="Fiyat soranları etiketle", conditions={"all": [
                                  {"field": "message.text", "op": "contains_any",
                                   "value": ["fiyat"]}]},
                              actions=[{"type": "add_tags", "tags": ["vip"]}])
    assert (created["name"], created["enabled"], created["position"], created["stop_after"]) == (
        "Fiyat soranlar", True, 0, False)
    assert created["created_by"] == str(home.sevgi.user_id)
    second = await make_rule(home, event="conversation_closed",
                             actions=[{"type": "add_note", "body": "kapandı"}])
    assert second["position"] == 1
    response = await client.get(f"{API}/rules")
    assert [r["id"] for r in response.json()] == [created["id"], second["id"]]
    assert (await client.get(f"{API}/rules/{created['id']}")).json() == created

    response = await client.put(f"{API}/rules/{created['id']}", json={
        "name": "Fiyat", "event": "message_received", "stop_after": True,
        "actions": [{"type": "send_message", "body": "Fiyat listemiz: ..."}]})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["name"], changed["stop_after"], changed["conditions"],
            changed["position"]) == ("Fiyat", True, {}, 0)
    assert changed["actions"] == [{"type": "send_message", "body": "Fiyat listemiz: ..."}]

    response = await client.put(f"{API}/rules/{created['id']}/enabled", json={"enabled": False})
    assert (response.status_code, response.json()["enabled"]) == (200, False)
    response = await client.put(f"{API}/rules/{created['id']}/position", json={"position": 5})
    assert [r["id"] for r in response.json()] == [second["id"], created["id"]]
    assert [r["position"] for r in response.json()] == [0, 1]

    assert (await client.delete(f"{API}/rules/{created['id']}")).status_code == 204
    assert (await client.get(f"{API}/rules/{created['id']}")).status_code == 404
    assert [r["id"] for r in (await client.get(f"{API}/rules")).json()] == [second["id"]]


async def test_the_runs_log_lists_firings_newest_first_a_page_at_a_time(world):
    home = world.home
    rule = await make_rule(home, event="message_received",
                           actions=[{"type": "add_note", "body": "geldi"}])
    messages = [await home.inbound(f"Mesaj {n}", handle=f"m{n}") for n in range(3)]
    client = home.sevgi.client
    response = await client.get(f"{API}/rules/{rule['id']}/runs")
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [r["message_id"] for r in listed] == [str(m.id) for m in reversed(messages)]
    assert listed[0]["status"] == "done"
    assert listed[0]["results"][0]["type"] == "add_note"
    page = (await client.get(f"{API}/rules/{rule['id']}/runs", params={"limit": 2})).json()
    assert len(page) == 2
    older = (await client.get(f"{API}/rules/{rule['id']}/runs", params={
        "before": listed[0]["created_at"]})).json()
    assert [r["message_id"] for r in older] == [str(m.id) for m in reversed(messages[:2])]


async def test_the_dry_run_says_what_would_fire_and_why_not_changing_anything(world):
    home = world.home
    await make_tags(home, "fiyat")
    # A past conversation: the rules come after it.
    message = await home.inbound("Fiyatlarınızı öğrenebilir miyim?")
    fires = await make_rule(home, name="Fiyat", event="message_received", conditions={
        "all": [{"field": "message.text", "op": "contains_any", "value": ["fiyat"]}]},
        actions=[{"type": "add_tags", "tags": ["fiyat"]}, {"type": "close"}])
    no = await make_rule(home, name="İade", event="message_received", conditions={
        "all": [{"field": "message.text", "op": "contains_any", "value": ["iade"]}]},
        actions=[{"type": "close"}])
    other_event = await make_rule(home, name="Kapanış", event="conversation_closed",
                                  actions=[{"type": "add_note", "body": "x"}])
    off = await make_rule(home, name="Kapalı", event="message_received", enabled=False,
                          actions=[{"type": "close"}])
    before = len(await runs(home))
    response = await home.sevgi.client.post(f"{API}/dry-run", json={
        "conversation_id": str(message.conversation_id)})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["event"], result["message_text"]) == (
        "message_received", "Fiyatlarınızı öğrenebilir miyim?")
    by_rule = {r["rule_id"]: r for r in result["rules"]}
    assert [r["rule_id"] for r in result["rules"]] == [
        fires["id"], no["id"], other_event["id"], off["id"]]
    assert (by_rule[fires["id"]]["fires"], by_rule[fires["id"]]["reason"]) == (True, None)
    assert by_rule[fires["id"]]["trace"] == [{
        "field": "message.text", "op": "contains_any", "value": ["fiyat"], "ok": True,
        "detail": "fiyat"}]
    assert by_rule[fires["id"]]["actions"] == [{"type": "add_tags", "summary": "fiyat"},
                                               {"type": "close", "summary": ""}]
    assert (by_rule[no["id"]]["fires"], by_rule[no["id"]]["reason"]) == (False, "conditions")
    assert by_rule[other_event["id"]]["reason"] == "event"
    assert by_rule[off["id"]]["reason"] == "disabled"
    # Nothing happened.
    after = await conversation(home, message.conversation_id)
    assert (after.tags, after.status) == ([], "open")
    assert len(await runs(home)) == before
    # One rule, another event.
    response = await home.sevgi.client.post(f"{API}/dry-run", json={
        "conversation_id": str(message.conversation_id), "event": "conversation_closed",
        "rule_id": other_event["id"]})
    assert [(r["rule_id"], r["fires"]) for r in response.json()["rules"]] == [
        (other_event["id"], True)]


async def test_the_dry_run_honours_event_options_and_stop_after(world):
    home = world.home
    await make_tags(home, "vip", "yeni")
    message = await home.inbound("Merhaba")
    vip = await make_rule(home, name="VIP", event="tag_added", event_options={"tag": "vip"},
                          stop_after=True, actions=[{"type": "add_tags", "tags": ["yeni"]}])
    any_tag = await make_rule(home, name="Her etiket", event="tag_added",
                              actions=[{"type": "close"}])

    async def dry_run(data: dict) -> dict:
        response = await home.sevgi.client.post(f"{API}/dry-run", json={
            "conversation_id": str(message.conversation_id), "event": "tag_added",
            "data": data})
        assert response.status_code == 200, response.text
        return {r["rule_id"]: (r["fires"], r["reason"]) for r in response.json()["rules"]}

    # Tagged "vip": the VIP rule fires and, as it stops the rest, the next one would not run.
    assert await dry_run({"tag": "vip"}) == {vip["id"]: (True, None),
                                             any_tag["id"]: (False, "stopped")}
    # Another tag: the VIP rule is not for it; the other rule fires.
    assert await dry_run({"tag": "yeni"}) == {vip["id"]: (False, "event_options"),
                                              any_tag["id"]: (True, None)}


async def test_the_catalogue_lists_events_conditions_and_actions(world):
    response = await world.home.sevgi.client.get(f"{API}/catalogue")
    assert response.status_code == 200, response.text
    catalogue = response.json()
    assert {e["kind"] for e in catalogue["events"]} >= {
        "message_received", "no_agent_reply", "scheduled", "campaign_replied"}
    timer = next(e for e in catalogue["events"] if e["kind"] == "no_agent_reply")
    assert timer["required"] == ["minutes"]
    fields = {c["field"]: [o["op"] for o in c["ops"]] for c in catalogue["conditions"]}
    assert fields["message.text"] == ["contains_any", "not_contains_any", "matches"]
    assert "var.*" not in fields  # flows' only
    assert {a["type"] for a in catalogue["actions"]} == {
        "send_message", "send_template", "assign", "add_tags", "remove_tags", "set_field",
        "close", "snooze", "set_pending", "add_note", "start_flow", "call_webhook",
        "start_follow_up", "notify"}
    assert "tr" in catalogue["languages"]


async def test_a_rule_is_checked_when_saved_naming_the_field_at_fault(world):
    home = world.home
    await make_tags(home, "vip")
    await make_field(home, "sehir")
    nobody, gone = str(uuid.uuid4()), str(uuid.uuid4())
    on_message = {"event": "message_received"}
    cases = [
        ({"event": "birthday"}, "event"),
        ({"event": "no_agent_reply"}, "event_options.minutes"),
        ({"event": "no_agent_reply", "event_options": {"minutes": 0}}, "event_options.minutes"),
        ({"event": "scheduled", "event_options": {"cron": "0 9 * *"}}, "event_options.cron"),
        ({"event": "scheduled", "event_options": {"cron": "0 0 9 * * 1"}},
         "event_options.cron"),
        ({"event": "scheduled", "event_options": {"cron": "0 25 * * *"}}, "event_options.cron"),
        ({"event": "tag_added", "event_options": {"tag": "yok-boyle"}}, "event_options.tag"),
        ({"event": "tag_added", "event_options": {"minutes": 5}}, "event_options.minutes"),
        ({**on_message, "conditions": {"all": [{"field": "message.text", "op": "is",
                                                "value": "x"}]}}, "conditions.all.0.op"),
        ({**on_message, "actions": [{"type": "teleport"}]}, "actions.0.type"),
        ({**on_message, "actions": [{"type": "close"}, {"type": "assign", "user_id": nobody}]},
         "actions.1.user_id"),
        ({**on_message, "actions": [{"type": "assign", "group_id": gone}]},
         "actions.0.group_id"),
        ({**on_message, "actions": [{"type": "assign"}]}, "actions.0.user_id"),
        ({**on_message, "actions": [{"type": "add_tags", "tags": ["vip", "yok-boyle"]}]},
         "actions.0.tags"),
        ({**on_message, "actions": [{"type": "set_field", "key": "yas", "value": "3"}]},
         "actions.0.key"),
        ({**on_message, "actions": [{"type": "set_field", "key": "sehir",
                                     "value": "{{ contact.yas }}"}]}, "actions.0.value"),
        ({**on_message, "actions": [{"type": "send_message", "body": "{{ agent.maas }}"}]},
         "actions.0.body"),
        ({**on_message, "actions": [{"type": "send_message", "body": "  "}]}, "actions.0.body"),
        ({**on_message, "actions": [{"type": "send_template", "template_name": "x",
                                     "language": "tr", "parameters": {"1": "{% if %}"}}]},
         "actions.0.parameters.1"),
        ({**on_message, "actions": [{"type": "snooze", "minutes": 0}]}, "actions.0.minutes"),
        ({**on_message, "actions": [{"type": "start_flow", "flow_id": gone}]},
         "actions.0.flow_id"),
        ({**on_message, "actions": [{"type": "start_follow_up", "sequence_id": gone}]},
         "actions.0.sequence_id"),
        ({**on_message, "actions": [{"type": "notify", "user_id": str(home.bora.user_id),
                                     "body": ""}]}, "actions.0.body"),
        ({**on_message, "actions": [{"type": "call_webhook", "url": "ftp://x"}]},
         "actions.0.url"),
        ({**on_message, "actions": [{"type": "close", "minutes": 3}]}, "actions.0.minutes"),
        # A contact has no conversation to send to or close.
        ({"event": "contact_created", "actions": [{"type": "close"}]}, "actions.0.type"),
    ]
    for fields, field in cases:
        response = await home.sevgi.client.post(f"{API}/rules", json={"name": "Deneme",
                                                                       **fields})
        assert response.status_code == 422, (fields, response.text)
        assert response.json()["error"]["field"] == field, (fields, response.text)
    assert (await home.sevgi.client.get(f"{API}/rules")).json() == []
    response = await home.sevgi.client.post(f"{API}/rules", json={"name": " ", **on_message})
    assert response.status_code == 422


async def test_a_webhooks_secret_is_kept_sealed_and_never_shown(world):
    home = world.home
    created = await make_rule(home, event="conversation_closed", actions=[
        {"type": "call_webhook", "url": "https://example.com/hook", "secret": "çok-gizli"}])
    assert created["actions"] == [{"type": "call_webhook", "url": "https://example.com/hook",
                                   "has_secret": True}]
    # A form sends back what it was shown: the secret stays.
    response = await home.sevgi.client.put(f"{API}/rules/{created['id']}", json={
        "name": created["name"], "event": "conversation_closed", "actions": created["actions"]})
    assert response.status_code == 200, response.text
    assert response.json()["actions"][0]["has_secret"] is True
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        stored = (await session.get_one(AutomationRule, uuid.UUID(created["id"]))).actions[0]
    assert "çok-gizli" not in str(stored)
    assert secret_box().decrypt_json(stored["secret_sealed"]) == {"secret": "çok-gizli"}
    # An empty secret removes it.
    response = await home.sevgi.client.put(f"{API}/rules/{created['id']}", json={
        "name": created["name"], "event": "conversation_closed", "actions": [
            {"type": "call_webhook", "url": "https://example.com/hook", "secret": ""}]})
    assert response.json()["actions"][0]["has_secret"] is False


@pytest.mark.parametrize("username", ["bora", "deniz"])
async def test_agents_may_not_use_rules(world, username):
    home = world.home
    rule = await make_rule(home, event="message_received",
                           actions=[{"type": "add_note", "body": "x"}])
    message = await home.inbound("Merhaba")
    agent = home.people[username].client
    body = {"name": "x", "event": "message_received"}
    rule_url = f"{API}/rules/{rule['id']}"
    for method, url, payload in [
            ("GET", f"{API}/rules", None), ("POST", f"{API}/rules", body),
            ("GET", rule_url, None), ("PUT", rule_url, body), ("DELETE", rule_url, None),
            ("PUT", f"{rule_url}/enabled", {"enabled": False}),
            ("PUT", f"{rule_url}/position", {"position": 0}),
            ("GET", f"{rule_url}/runs", None),
            ("POST", f"{API}/dry-run", {"conversation_id": str(message.conversation_id)}),
            ("GET", f"{API}/catalogue", None)]:
        response = await agent.request(method, url, json=payload)
        assert response.status_code == 403, (method, url, response.text)
    # Admins may.
    assert (await home.people["ayla"].client.get(f"{API}/rules")).status_code == 200


async def test_another_companys_rules_are_not_found(world):
    home, charlie = world.home, world.charlie
    ours = await make_rule(home, event="message_received",
                           actions=[{"type": "add_note", "body": "x"}])
    message = await home.inbound("Merhaba")
    theirs = charlie.people["ayla"].client
    for method, url, payload in [
            ("GET", f"{API}/rules/{ours['id']}", None),
            ("PUT", f"{API}/rules/{ours['id']}/enabled", {"enabled": False}),
            ("GET", f"{API}/rules/{ours['id']}/runs", None),
            ("DELETE", f"{API}/rules/{ours['id']}", None),
            ("POST", f"{API}/dry-run", {"conversation_id": str(message.conversation_id)})]:
        response = await theirs.request(method, url, json=payload)
        assert response.status_code == 404, (method, url, response.text)
    assert (await theirs.get(f"{API}/rules")).json() == []
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert (await session.scalar(select(AutomationRule.enabled).where(
            AutomationRule.id == uuid.UUID(ours["id"])))) is True


async def test_garbage_anywhere_in_a_rule_never_gets_a_500(world, app):
    """Rules are free-form JSON checked by hand: junk at every level is a 4xx, never a crash
    (the API-wide fuzz test reaches only the top-level fields)."""
    home = world.home
    admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                              base_url="http://testserver", cookies=home.ayla.client.cookies,
                              headers={"x-csrf-token": home.ayla.csrf})
    await make_tags(home, "vip")
    await make_field(home, "sehir")
    rule = await make_rule(home, event="message_received",
                           actions=[{"type": "add_note", "body": "x"}])
    message = await home.inbound("Merhaba")
    base = {"name": "Fuzz", "event": "message_received"}
    bodies: list[object] = []
    for junk in FIELD_JUNK:
        bodies += [
            {**base, "event": junk}, {**base, "name": junk}, {**base, "event_options": junk},
            {**base, "conditions": junk}, {**base, "actions": junk},
            {"name": "x", "event": "no_agent_reply", "event_options": {"minutes": junk}},
            {"name": "x", "event": "scheduled", "event_options": {"cron": junk}},
            {"name": "x", "event": "tag_added", "event_options": {"tag": junk}},
            {"name": "x", "event": "campaign_replied", "event_options": {"campaign_id": junk}},
            {**base, "event_options": {"tag": junk}},
            {**base, "conditions": {"all": junk}}, {**base, "conditions": {"any": [junk]}},
            {**base, "conditions": {"all": [{"field": junk, "op": "in", "value": ["x"]}]}},
            {**base, "conditions": {"all": [{"field": "channel", "op": junk, "value": ["x"]}]}},
            {**base, "actions": [junk]}, {**base, "actions": [{"type": junk}]},
        ]
        for field, ops in [("message.text", ["contains_any", "matches"]),
                           ("contact.custom.sehir", ["equals", "gt"]),
                           ("message.language", ["is"]), ("channel", ["in"]),
                           ("conversation.status", ["in"])]:
            bodies += [{**base, "conditions": {"all": [{"field": field, "op": op,
                                                        "value": junk}]}} for op in ops]
        for kind in ("send_message", "send_template", "assign", "add_tags", "set_field",
                     "snooze", "add_note", "start_flow", "call_webhook", "start_follow_up",
                     "notify"):
            for name in (*ACTION_FIELDS[kind], "unexpected"):
                bodies.append({**base, "actions": [{**VALID_ACTIONS.get(kind, {"type": kind}),
                                                    name: junk}]})
    failures = []
    for n, body in enumerate(bodies):
        # Creating and changing share their checks: every body once, alternately.
        method, url = (("POST", f"{API}/rules") if n % 2 else
                       ("PUT", f"{API}/rules/{rule['id']}"))
        with capture_logs():  # no slow rendering of a crash's traceback with huge locals
            response = await admin.request(method, url, content=json.dumps(body).encode(),
                                           headers={"content-type": "application/json"})
        if response.status_code >= 500:
            failures.append((method, repr(body)[:200], response.text[:200]))
    for junk in FIELD_JUNK:
        for url, body in ((f"{API}/rules/{rule['id']}/enabled", {"enabled": junk}),
                          (f"{API}/rules/{rule['id']}/position", {"position": junk}),
                          (f"{API}/dry-run", {"conversation_id": str(message.conversation_id),
                                              "event": junk}),
                          (f"{API}/dry-run", {"conversation_id": junk}),
                          (f"{API}/dry-run", {"conversation_id": str(message.conversation_id),
                                              "rule_id": junk})):
            method = "POST" if url.endswith("dry-run") else "PUT"
            with capture_logs():
                response = await admin.request(method, url, content=json.dumps(body).encode(),
                                               headers={"content-type": "application/json"})
            if response.status_code >= 500:
                failures.append((url, repr(body)[:200], response.text[:200]))
    for raw, content_type in RAW_JUNK:
        with capture_logs():
            response = await admin.post(f"{API}/rules", content=raw,
                                        headers={"content-type": content_type})
        if response.status_code >= 500:
            failures.append(("raw", repr(raw)[:100], response.text[:200]))
    await admin.aclose()
    assert len(bodies) > 1500
    assert not failures, f"{len(failures)} 5xx:\n" + "\n".join(map(str, failures[:30]))
