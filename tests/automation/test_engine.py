"""How rules run together: in the company's order, ``stop_after``, disabled rules, loop
protection (a rule never re-triggers itself, chains stop at five), one query when no rule
listens, occurrences that fire once."""

from __future__ import annotations

import uuid

from sqlalchemy import event as sa_event

from invekto.automation import service as automation
from invekto.automation.events import Event
from tests.automation.conftest import conversation, make_rule, make_tags, runs, sent


async def _tag(home, conversation_id, *add, remove=()):
    response = await home.sevgi.client.post(f"/api/v1/conversations/{conversation_id}/tags",
                                            json={"add": list(add), "remove": list(remove)})
    assert response.status_code == 200, response.text


async def test_rules_run_in_the_companys_order_which_can_be_changed(world):
    home = world.home
    first = await make_rule(home, name="Birinci", event="message_received",
                            actions=[{"type": "send_message", "body": "bir"}])
    second = await make_rule(home, name="İkinci", event="message_received",
                             actions=[{"type": "send_message", "body": "iki"}])
    assert (first["position"], second["position"]) == (0, 1)
    message = await home.inbound("Merhaba", handle="a")
    assert await sent(home, message.conversation_id) == ["bir", "iki"]
    response = await home.sevgi.client.put(f"/api/v1/automation/rules/{second['id']}/position",
                                           json={"position": 0})
    assert response.status_code == 200, response.text
    assert [r["name"] for r in response.json()] == ["İkinci", "Birinci"]
    message = await home.inbound("Merhaba", handle="b")
    assert await sent(home, message.conversation_id) == ["iki", "bir"]


async def test_stop_after_keeps_later_rules_of_the_event_from_running(world):
    home = world.home
    stopper = await make_rule(home, event="message_received", stop_after=True, conditions={
        "all": [{"field": "message.text", "op": "contains_any", "value": ["acil"]}]},
        actions=[{"type": "send_message", "body": "Hemen bakıyoruz"}])
    later_rule = await make_rule(home, event="message_received",
                                 actions=[{"type": "send_message", "body": "Merhaba"}])
    urgent = await home.inbound("ACİL yardım lazım", handle="a")
    calm = await home.inbound("Bir sorum var", handle="b")  # the stopper does not fire
    assert await sent(home, urgent.conversation_id) == ["Hemen bakıyoruz"]
    assert await sent(home, calm.conversation_id) == ["Merhaba"]
    assert len(await runs(home, stopper["id"])) == 1
    assert len(await runs(home, later_rule["id"])) == 1


async def test_a_disabled_rule_never_fires(world):
    home = world.home
    rule = await make_rule(home, event="message_received", enabled=False,
                           actions=[{"type": "send_message", "body": "Merhaba"}])
    message = await home.inbound("Merhaba")
    assert await runs(home, rule["id"]) == []
    response = await home.sevgi.client.put(f"/api/v1/automation/rules/{rule['id']}/enabled",
                                           json={"enabled": True})
    assert response.status_code == 200, response.text
    assert response.json()["enabled"] is True
    await home.inbound("Tekrar merhaba", handle="yeni")
    assert len(await runs(home, rule["id"])) == 1
    assert await sent(home, message.conversation_id) == []


async def test_two_rules_that_trigger_each_other_do_not_loop(world):
    home = world.home
    await make_tags(home, "x", "y")
    x_to_y = await make_rule(home, event="tag_added", event_options={"tag": "x"}, actions=[
        {"type": "remove_tags", "tags": ["x"]}, {"type": "add_tags", "tags": ["y"]}])
    y_to_x = await make_rule(home, event="tag_added", event_options={"tag": "y"}, actions=[
        {"type": "remove_tags", "tags": ["y"]}, {"type": "add_tags", "tags": ["x"]}])
    message = await home.inbound("Merhaba")
    await _tag(home, message.conversation_id, "x")
    # x → y → x: the second x would fire the first rule again, which is still running.
    assert [(r.status, r.error) for r in await runs(home, x_to_y["id"])] == [
        ("done", ""), ("skipped", "loop")]
    assert [r.status for r in await runs(home, y_to_x["id"])] == ["done"]
    assert (await conversation(home, message.conversation_id)).tags == ["x"]


async def test_a_rule_whose_action_raises_its_own_event_fires_once(world):
    home = world.home
    await make_tags(home, "vip", "etiketlendi")
    # Any tag added → add "etiketlendi": that is a tag added too.
    rule = await make_rule(home, event="tag_added",
                           actions=[{"type": "add_tags", "tags": ["etiketlendi"]}])
    message = await home.inbound("Merhaba")
    await _tag(home, message.conversation_id, "vip")
    assert (await conversation(home, message.conversation_id)).tags == ["vip", "etiketlendi"]
    assert [(r.status, r.error) for r in await runs(home, rule["id"])] == [
        ("done", ""), ("skipped", "loop")]


async def test_rules_tagging_each_others_tags_settle(world):
    home = world.home
    await make_tags(home, "vip", "vip2")
    vip = await make_rule(home, event="tag_added", event_options={"tag": "vip"},
                          actions=[{"type": "add_tags", "tags": ["vip2"]}])
    vip2 = await make_rule(home, event="tag_added", event_options={"tag": "vip2"},
                           actions=[{"type": "add_tags", "tags": ["vip"]}])
    message = await home.inbound("Merhaba")
    await _tag(home, message.conversation_id, "vip")
    assert (await conversation(home, message.conversation_id)).tags == ["vip", "vip2"]
    assert [r.results for r in await runs(home, vip["id"])] == [
        [{"type": "add_tags", "status": "done", "detail": "vip2"}]]
    assert [r.results for r in await runs(home, vip2["id"])] == [
        [{"type": "add_tags", "status": "skipped", "detail": "unchanged"}]]


async def test_a_chain_of_rules_stops_five_deep(world):
    home = world.home
    names = [f"t{n}" for n in range(1, 8)]
    await make_tags(home, *names)
    chain = [await make_rule(home, event="tag_added", event_options={"tag": names[n]},
                             actions=[{"type": "add_tags", "tags": [names[n + 1]]}])
             for n in range(6)]
    message = await home.inbound("Merhaba")
    await _tag(home, message.conversation_id, "t1")
    assert [[(r.status, r.error) for r in await runs(home, rule["id"])] for rule in chain] == [
        [("done", "")]] * 5 + [[("skipped", "loop")]]
    assert (await conversation(home, message.conversation_id)).tags == names[:6]


async def test_an_occurrence_fires_once_and_a_rule_id_fires_only_that_rule(world):
    home = world.home
    targeted = await make_rule(home, event="campaign_replied",
                               actions=[{"type": "add_note", "body": "bir kez"}])
    other = await make_rule(home, event="campaign_replied",
                            actions=[{"type": "add_note", "body": "başka"}])
    message = await home.inbound("Merhaba")
    for _ in range(2):
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await automation.emit(session, [Event(
                "campaign_replied", home.tenant_id, conversation_id=message.conversation_id,
                contact_id=message.contact_id, occurrence="k1",
                rule_id=uuid.UUID(targeted["id"]))])
    assert [r.occurrence for r in await runs(home, targeted["id"])] == ["k1"]
    assert await runs(home, other["id"]) == []


async def test_without_rules_an_event_costs_one_query(world, rt):
    home = world.home
    message = await home.inbound("Merhaba")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = rt.db.engine.sync_engine
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        sa_event.listen(engine, "before_cursor_execute", count)
        try:
            await automation.emit(session, [
                Event("message_received", home.tenant_id,
                      conversation_id=message.conversation_id, message_id=message.id),
                Event("contact_created", home.tenant_id, contact_id=message.contact_id)])
        finally:
            sa_event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "automation_rules" in statements[0]
