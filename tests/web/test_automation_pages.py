"""The automation pages (settings → Automation): who may open them, the rule form (its editors'
JSON, refusals shown beside the field at fault, in the user's language, with what was typed),
the list's switches and order, the dry run and a rule's execution log; another company's rule
is a 404. Assertions are on ids, data attributes and values, not on translated wording."""

from __future__ import annotations

import html as html_lib
import json
import re
import uuid

from sqlalchemy import func, select

from invekto.automation import service as automation
from invekto.automation.models import AutomationRule
from invekto.automation.schemas import RuleIn
from invekto.contacts import service as contacts
from invekto.contacts.schemas import CustomFieldCreate, TagCreate
from tests.factories import Company, Person

HX = {"hx-request": "true"}
PRICE = {"all": [{"field": "message.text", "op": "contains_any", "value": ["fiyat"]}]}


async def html(person: Person, path: str, *, expect: int = 200, htmx: bool = False) -> str:
    response = await person.client.get(path, headers=HX if htmx else {})
    assert response.status_code == expect, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def script_json(page: str, script_id: str) -> dict:
    match = re.search(rf'<script id="{script_id}" type="application/json">(.*?)</script>',
                      page, re.S)
    assert match, f"no {script_id} in the page"
    return json.loads(match.group(1))


def error_for(page: str, field: str) -> str:
    match = re.search(rf'data-error-for="{re.escape(field)}">([^<]+)<', page)
    assert match, f"no error shown for {field}"
    return html_lib.unescape(match.group(1))


def rule_form(**fields) -> dict[str, str]:
    values = {"name": "Fiyat soranlar", "description": "", "event": "message_received",
              "enabled": "on", "conditions": json.dumps(PRICE),
              "actions": json.dumps([{"type": "add_tags", "tags": ["fiyat"]}])}
    values.update(fields)
    return {k: v for k, v in values.items() if v is not None}


async def with_tags(company: Company, *names: str) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for name in names:
            await contacts.create_tag(session, company.system, TagCreate(name=name))


async def add_rule(company: Company, name: str, *, conditions: dict | None = None,
                   enabled: bool = True, event: str = "message_received",
                   actions: list | None = None) -> uuid.UUID:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        rule = await automation.create_rule(session, company.system, RuleIn(
            name=name, event=event, enabled=enabled, conditions=conditions or {},
            actions=actions if actions is not None else [{"type": "set_pending"}]))
    return rule.id


async def rules_of(company: Company) -> list[AutomationRule]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(AutomationRule).where(
            AutomationRule.tenant_id == company.tenant_id).order_by(
            AutomationRule.position))).all())


def listed_ids(fragment: str) -> list[str]:
    return re.findall(r'class="rule-row[^"]*" id="rule-([0-9a-f-]{36})"', fragment)


async def test_the_pages_render_and_the_settings_menu_links_them(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await contacts.create_custom_field(session, home.system, CustomFieldCreate(
            key="sehir", label="Şehir", field_type="text"))
    listing = await html(home.sevgi, "/automation")
    assert 'id="no-rules"' in listing and 'href="/automation/rules/new"' in listing
    assert re.search(r'href="/automation" data-section="automation"\s+aria-current="page"',
                     listing)
    assert 'href="/flows" data-section="flows"' in listing
    for person, path in ((home.sevgi, "/settings/tags"), (home.ayla, "/settings/company")):
        settings = await html(person, path)
        assert 'href="/automation"' in settings and 'href="/flows"' in settings

    form = await html(home.sevgi, "/automation/rules/new")
    catalogue = script_json(form, "automation-catalogue")
    events = {e["kind"]: e for e in catalogue["events"]}
    assert events["no_customer_reply"]["options"] == ["minutes"]
    fields = {f["field"]: f for f in catalogue["fields"]}
    assert "message.text" in fields and "contact.custom.sehir" in fields
    assert "contact.custom.*" not in fields and "var.*" not in fields  # flows only
    assert {o["op"]: o["value"] for o in fields["message.text"]["ops"]}["matches"] == "regex"
    assert {c["value"] for c in catalogue["choices"]["groups"]} == {str(home.group_id)}
    assert script_json(form, "rule-form-data") == {
        "event": "message_received", "conditions": {}, "actions": [], "errors": {}}
    types = re.findall(r'<option value="(\w+)">', form.split('class="form-select form-select-sm '
                                                             'w-auto action-type"')[1])
    assert {"send_message", "assign", "start_flow", "call_webhook", "notify"} <= set(types)
    assert 'x-data="ruleForm"' in form and "/static/app/automation.js" in form


async def test_agents_are_refused_every_automation_page(world):
    home = world.home
    rule_id = await add_rule(home, "Gizli")
    for agent in (home.bora, home.deniz):
        for path in ("/automation", "/automation/rules/new", f"/automation/rules/{rule_id}"):
            page = await html(agent, path, expect=403)
            assert 'id="settings-forbidden"' in page
            response = await agent.client.get(path, headers=HX)
            assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        assert (await agent.client.get(f"/automation/rules/{rule_id}/runs",
                                       headers=HX)).status_code == 403
        for action, data in (("enabled", {}), ("move", {"direction": "up"}), ("delete", {})):
            response = await agent.client.post(f"/automation/rules/{rule_id}/{action}",
                                               data=data, headers=HX)
            assert response.status_code == 403, action
        assert (await agent.client.post("/automation/rules", data=rule_form())).status_code == 403
        assert (await agent.client.post(f"/automation/rules/{rule_id}",
                                        data=rule_form())).status_code == 403
        response = await agent.client.post("/automation/dry-run", headers=HX, data={
            "conversation_id": str(uuid.uuid4()), "event": "message_received"})
        assert response.status_code == 403
    assert [(r.name, r.enabled) for r in await rules_of(home)] == [("Gizli", True)]


async def test_a_rule_is_created_and_edited_through_the_form(world):
    home = world.home
    await with_tags(home, "fiyat", "acil")
    response = await home.sevgi.client.post("/automation/rules", data=rule_form(
        description="Fiyat soranları etiketle", stop_after="on"))
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.endswith("?saved=1")
    (rule,) = await rules_of(home)
    assert (rule.name, rule.event, rule.enabled, rule.stop_after) == (
        "Fiyat soranlar", "message_received", True, True)
    assert rule.conditions == PRICE
    assert rule.actions == [{"type": "add_tags", "tags": ["fiyat"]}]

    page = await html(home.sevgi, location)
    assert 'id="rule-saved"' in page and 'value="Fiyat soranlar"' in page
    assert 'name="stop_after" id="rule-stop-after" checked' in page
    data = script_json(page, "rule-form-data")
    assert (data["conditions"], data["actions"]) == (PRICE, rule.actions)
    assert 'id="no-runs"' in page and 'id="dry-run-form"' in page

    # Edited: the event changes, with its option; the conditions and actions are replaced.
    response = await home.sevgi.client.post(f"/automation/rules/{rule.id}", data=rule_form(
        name="Cevapsız kalanlar", event="no_customer_reply", **{
            "event_options.minutes": "45", "event_options.tag": "acil"},
        conditions=json.dumps({"any": [{"field": "conversation.status", "op": "in",
                                        "value": ["open"]}]}),
        actions=json.dumps([{"type": "assign", "routing": True}]), enabled=None))
    assert response.status_code == 303, response.text
    (rule,) = await rules_of(home)
    assert (rule.name, rule.event, rule.event_options, rule.enabled) == (
        "Cevapsız kalanlar", "no_customer_reply", {"minutes": 45}, False)
    assert rule.actions == [{"type": "assign", "routing": True}]

    listing = await html(home.sevgi, "/automation")
    row = re.search(rf'id="rule-{rule.id}"(.*?)</tr>', listing, re.S).group(0)
    assert 'data-enabled="false"' in row and "Cevapsız kalanlar" in row
    assert 'class="text-end rule-runs" data-runs="0"' in row


async def test_refusals_are_shown_beside_their_field_with_what_was_typed(world):
    home = world.home
    await with_tags(home, "fiyat")
    sevgi = home.sevgi

    response = await sevgi.client.post("/automation/rules", data=rule_form(
        name="", description="yazılan açıklama"))
    assert response.status_code == 422
    assert error_for(response.text, "name")
    assert 'value="yazılan açıklama"' in response.text and 'id="rule-form-errors"' in response.text

    bad_regex = {"all": [{"field": "message.text", "op": "matches", "value": "(fiyat"}]}
    response = await sevgi.client.post("/automation/rules", data=rule_form(
        conditions=json.dumps(bad_regex)))
    assert response.status_code == 422
    data = script_json(response.text, "rule-form-data")
    assert set(data["errors"]) == {"conditions.all.0.value"}
    assert data["conditions"] == bad_regex  # drawn again as typed

    response = await sevgi.client.post("/automation/rules", data=rule_form(
        event="no_customer_reply"))
    assert response.status_code == 422
    assert error_for(response.text, "event_options.minutes")
    assert '<option value="no_customer_reply" selected>' in response.text

    response = await sevgi.client.post("/automation/rules", data=rule_form(
        actions=json.dumps([{"type": "add_tags", "tags": ["fiyat"]},
                            {"type": "assign", "user_id": str(uuid.uuid4())}])))
    assert response.status_code == 422
    data = script_json(response.text, "rule-form-data")
    assert list(data["errors"]) == ["actions.1.user_id"]
    assert len(data["actions"]) == 2

    response = await sevgi.client.post("/automation/rules", data=rule_form(actions="[{"))
    assert response.status_code == 422
    assert error_for(response.text, "actions")

    # In the user's language: the same refusal in English for an English-speaking user.
    assert (await sevgi.client.post("/me/language", data={"language": "en"})).status_code == 303
    response = await sevgi.client.post("/automation/rules", data=rule_form(
        event="no_customer_reply"))
    assert '<html lang="en">' in response.text
    assert error_for(response.text, "event_options.minutes") == "this event needs minutes"
    assert await rules_of(home) == []


async def test_the_list_switches_moves_and_deletes_rules(world):
    home = world.home
    first, second, third = [await add_rule(home, name) for name in ("Bir", "İki", "Üç")]
    base = "/automation/rules"

    fragment = (await home.sevgi.client.post(f"{base}/{third}/move", data={"direction": "up"},
                                             headers=HX)).text
    assert "<html" not in fragment
    assert listed_ids(fragment) == [str(first), str(third), str(second)]
    fragment = (await home.sevgi.client.post(f"{base}/{first}/move", data={"direction": "up"},
                                             headers=HX)).text
    assert listed_ids(fragment) == [str(first), str(third), str(second)]  # already first
    assert [r.id for r in await rules_of(home)] == [first, third, second]

    fragment = (await home.sevgi.client.post(f"{base}/{third}/enabled", headers=HX)).text
    assert re.search(rf'id="rule-{third}" data-rule-id="{third}" data-enabled="false"', fragment)
    fragment = (await home.sevgi.client.post(f"{base}/{third}/enabled", data={"enabled": "on"},
                                             headers=HX)).text
    assert re.search(rf'id="rule-{third}" data-rule-id="{third}" data-enabled="true"', fragment)

    response = await home.sevgi.client.post(f"{base}/{second}/move",
                                            data={"direction": "sideways"}, headers=HX)
    assert (response.status_code, response.json()["error"]["field"]) == (422, "direction")

    fragment = (await home.sevgi.client.post(f"{base}/{first}/delete", headers=HX)).text
    assert listed_ids(fragment) == [str(third), str(second)]
    assert [r.name for r in await rules_of(home)] == ["Üç", "İki"]


async def test_the_dry_run_shows_what_would_fire_and_why_not(world):
    home = world.home
    await with_tags(home, "fiyat")
    price = await add_rule(home, "Fiyat", conditions=PRICE,
                           actions=[{"type": "add_tags", "tags": ["fiyat"]}])
    booking = await add_rule(home, "Randevu", conditions={"all": [
        {"field": "message.text", "op": "contains_any", "value": ["randevu"]}]},
        actions=[{"type": "assign", "group_id": str(home.group_id)}])
    off = await add_rule(home, "Kapalı", enabled=False)
    closing = await add_rule(home, "Kapanınca", event="conversation_closed")
    message = await home.inbound("FİYATLARINIZ nedir?")

    fragment = (await home.sevgi.client.post("/automation/dry-run", headers=HX, data={
        "conversation_id": str(message.conversation_id), "event": "message_received"})).text
    assert "<html" not in fragment
    assert 'id="dry-run-out" data-event="message_received"' in fragment
    verdicts = {rule_id: (fires, reason) for rule_id, fires, reason in re.findall(
        r'data-rule-id="([0-9a-f-]{36})" data-fires="(\w+)" data-reason="(\w*)"', fragment)}
    assert verdicts == {str(price): ("true", ""), str(booking): ("false", "conditions"),
                        str(off): ("false", "disabled"), str(closing): ("false", "event")}
    booking_part = fragment.split(f'data-rule-id="{booking}"')[1].split("dry-run-rule")[0]
    assert 'class="trace-fail" data-field="message.text"' in booking_part
    assert re.search(r'<li data-type="assign">[^<]*: Resepsiyon</li>', booking_part)
    price_part = fragment.split(f'data-rule-id="{price}"')[1].split("dry-run-rule")[0]
    assert re.search(r'<li data-type="add_tags">[^<]*: fiyat</li>', price_part)
    assert "dry-run-failed" not in price_part

    # From a rule's page: only that rule.
    page = await html(home.sevgi, f"/automation/rules/{booking}")
    assert f'name="rule_id" value="{booking}"' in page
    fragment = (await home.sevgi.client.post("/automation/dry-run", headers=HX, data={
        "conversation_id": str(message.conversation_id), "event": "message_received",
        "rule_id": str(booking)})).text
    assert re.findall(r'data-rule-id="([0-9a-f-]{36})"', fragment) == [str(booking)]

    response = await home.sevgi.client.post("/automation/dry-run", headers=HX, data={
        "conversation_id": "", "event": "message_received"})
    assert (response.status_code, response.json()["error"]["field"]) == (422, "conversation_id")


async def test_a_rules_execution_log_lists_its_firings(world):
    home = world.home
    await with_tags(home, "fiyat")
    rule_id = await add_rule(home, "Fiyat", conditions=PRICE,
                             actions=[{"type": "add_tags", "tags": ["fiyat"]}])
    message = await home.inbound("Fiyat alabilir miyim?")
    await home.inbound("Merhaba")  # no price: the rule does not fire

    page = await html(home.sevgi, f"/automation/rules/{rule_id}")
    rows = re.findall(r'class="run-row" id="run-[0-9a-f-]{36}" data-status="(\w+)"', page)
    assert rows == ["done"]
    assert f'href="/inbox?c={message.conversation_id}&amp;status="' in page
    assert '<div data-type="add_tags" data-status="done">' in page
    listing = await html(home.sevgi, "/automation")
    assert re.search(rf'id="rule-{rule_id}".*?data-runs="1"', listing, re.S)
    # The conversation's thread says which rule did what.
    thread = await html(home.sevgi, f"/inbox?tab=all&c={message.conversation_id}")
    line = re.search(r'data-kind="automation">(.*?)</div>', thread, re.S).group(1)
    assert "Fiyat" in line and "(fiyat)" in line

    older = await html(home.sevgi, f"/automation/rules/{rule_id}/runs?before=2000-01-01T00:00:00"
                                   "%2B00:00", htmx=True)
    assert "<table" not in older and "run-row" not in older
    response = await home.sevgi.client.get(f"/automation/rules/{rule_id}/runs?before=gestern",
                                           headers=HX)
    assert (response.status_code, response.json()["error"]["field"]) == (422, "before")


async def test_another_companys_rule_is_a_404(world):
    theirs = await add_rule(world.charlie, "Charlie'nin kuralı")
    sevgi = world.home.sevgi
    assert (await sevgi.client.get(f"/automation/rules/{theirs}")).status_code == 404
    for action in ("enabled", "delete"):
        response = await sevgi.client.post(f"/automation/rules/{theirs}/{action}", headers=HX)
        assert response.status_code == 404, action
    response = await sevgi.client.post(f"/automation/rules/{theirs}", data=rule_form())
    assert response.status_code == 404
    async with world.charlie.rt.db.tenant_session(world.charlie.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(AutomationRule).where(
            AutomationRule.tenant_id == world.charlie.tenant_id)) == 1
