"""The routing section of the settings, over HTTP as the page sends it: supervisors set a
channel's routing (agents cannot), a refusal names its field in Turkish, and what was saved is
drawn back."""

from __future__ import annotations

from invekto.routing import service as routing
from tests.web.test_settings_pages import error_of, page, post


async def test_a_supervisor_routes_a_channel_and_sees_it_saved(world):
    home = world.home
    html = await page(home.sevgi, "/settings/routing")
    assert f'id="routing-{home.channel_id}"' in html and 'data-routed="false"' in html
    response = await post(home.sevgi, f"/settings/routing/{home.channel_id}", {
        "group_ids": str(home.group_id), "algorithm": "least_today", "sticky": "on",
        "when_nobody": "away_message", "away_message": "Birazdan dönüyoruz."})
    assert "data-saved" in response.text and 'data-routed="true"' in response.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        saved = await routing.get_routing(session, home.system, home.channel_id)
    assert (saved.group_ids, saved.algorithm, saved.sticky, saved.when_nobody,
            saved.away_message) == ([home.group_id], "least_today", True, "away_message",
                                    "Birazdan dönüyoruz.")
    # Unticking "sticky" is sent as its absence.
    await post(home.sevgi, f"/settings/routing/{home.channel_id}", {
        "group_ids": str(home.group_id), "algorithm": "round_robin", "when_nobody": "queue"})
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert not (await routing.get_routing(session, home.system, home.channel_id)).sticky


async def test_refusals_name_their_field_and_agents_cannot_route(world):
    home = world.home
    url = f"/settings/routing/{home.channel_id}"
    no_group = await post(home.sevgi, url, {"algorithm": "random"}, expect=422)
    assert error_of(no_group)["field"] == "group_ids"
    silent = await post(home.sevgi, url, {"group_ids": str(home.group_id),
                                          "when_nobody": "away_message"}, expect=422)
    assert error_of(silent) == {
        "code": "validation_failed", "field": "away_message",
        "message": "Kimse uygun değilken müşterilere gidecek mesajı yazın"}
    await post(home.bora, url, {"group_ids": str(home.group_id)}, expect=403)
    assert "Yönlendirme" not in await page(home.bora, "/settings/tags", expect=403)


async def test_a_supervisor_sets_the_automatic_steps_and_a_blank_time_is_off(world):
    home = world.home
    url = f"/settings/routing/{home.channel_id}/operations"
    response = await post(home.sevgi, url, {
        "welcome_new": "Hoş geldiniz!", "welcome_returning": "", "idle_minutes": "15",
        "auto_close_hours": "", "auto_close_pending_hours": "48",
        "closing_message": "Görüşmek üzere."})
    assert f'id="operations-{home.channel_id}"' in response.text
    assert 'name="idle_minutes" type="number" min="1" max="1440" value="15"' in response.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        saved = await routing.get_operations(session, home.system, home.channel_id)
    assert (saved.welcome_new, saved.idle_minutes, saved.auto_close_hours,
            saved.auto_close_pending_hours, saved.closing_message) == (
        "Hoş geldiniz!", 15, None, 48, "Görüşmek üzere.")
    refused = await post(home.sevgi, url, {"idle_minutes": "0"}, expect=422)
    assert error_of(refused)["field"] == "idle_minutes"


async def test_the_business_hours_page_saves_the_week_and_the_holidays(world):
    home = world.home
    html = await page(home.sevgi, "/settings/business-hours")
    assert 'id="hours-form"' in html and "Pazartesi" in html
    response = await post(home.sevgi, "/settings/business-hours", {
        **{f"open_{d}": "on" for d in range(5)},
        **{f"start_{d}_1": "09:00" for d in range(5)},
        **{f"end_{d}_1": "12:30" for d in range(5)},
        **{f"start_{d}_2": "13:30" for d in range(5)},
        **{f"end_{d}_2": "18:00" for d in range(5)},
        "start_5_1": "10:00", "end_5_1": "14:00",  # Saturday's times, but not ticked open
        "away_message": "Şu an kapalıyız.", "after_hours_group_id": str(home.group_id)})
    assert "data-saved" in response.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        saved = await routing.get_business_hours(session, home.system)
    assert saved.schedule == {str(d): [["09:00", "12:30"], ["13:30", "18:00"]]
                              for d in range(5)}
    assert (saved.away_message, saved.after_hours_group_id) == (
        "Şu an kapalıyız.", home.group_id)
    refused = await post(home.sevgi, "/settings/business-hours", {
        "open_0": "on", "start_0_1": "18:00", "end_0_1": "09:00"}, expect=422)
    assert error_of(refused) == {"code": "validation_failed", "field": "schedule",
                                 "message": "Açılış saati kapanış saatinden önce olmalı"}

    loaded = await post(home.sevgi, "/settings/business-hours/holidays/public",
                        {"year": "2026"})
    assert 'data-loaded="14"' in loaded.text
    assert "29 Ekim 2026 Perşembe" in loaded.text and "Cumhuriyet Bayramı" in loaded.text
    added = await post(home.sevgi, "/settings/business-hours/holidays",
                       {"day": "2026-12-31", "name": "Yılbaşı arifesi"})
    assert 'data-day="2026-12-31"' in added.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        eve = next(h for h in await routing.list_holidays(session, home.system)
                   if h.name == "Yılbaşı arifesi")
    gone = await post(home.sevgi, f"/settings/business-hours/holidays/{eve.id}/delete")
    assert 'data-day="2026-12-31"' not in gone.text


async def test_the_shift_calendar_plans_a_week_and_its_exceptions(world):
    home = world.home
    bora = home.bora.user_id
    html = await page(home.sevgi, "/settings/shifts?week=2026-11-25")  # a Wednesday
    assert 'data-monday="2026-11-23"' in html
    assert f'<tr data-user="{bora}">' in html
    saved = await post(home.sevgi, f"/settings/shifts/{bora}?week=2026-11-23", {
        **{f"open_{d}": "on" for d in range(5)}, **{f"start_{d}_1": "09:00" for d in range(5)},
        **{f"end_{d}_1": "17:00" for d in range(5)}})
    row = saved.text[saved.text.index(f'<tr data-user="{bora}">'):]
    row = row[:row.index("</tr>")]
    assert row.count("09:00–17:00") == 5 and row.count("Kapalı") == 2  # the weekend
    off = await post(home.sevgi, f"/settings/shifts/{bora}/exceptions?week=2026-11-23",
                     {"day": "2026-11-24", "note": "Doktor"})
    cell = off.text[off.text.index('data-day="2026-11-24"', off.text.index(
        f'<tr data-user="{bora}">')):]
    assert cell.startswith('data-day="2026-11-24" title="Doktor"')
    assert "Kapalı" in cell[:cell.index("</td>")]
    refused = await post(home.sevgi, f"/settings/shifts/{bora}/exceptions",
                         {"day": "2026-11-25", "start": "17:00", "end": "09:00"}, expect=422)
    assert error_of(refused)["field"] == "windows"
    assert (await home.bora.client.get("/settings/shifts")).status_code == 403


async def test_sla_policies_are_set_on_their_page(world):
    home = world.home
    response = await post(home.sevgi, "/settings/sla", {
        "name": "Web 30 dk", "channel_id": str(home.channel_id), "tag": "",
        "first_response_minutes": "30", "resolution_minutes": "", "escalation": "priority",
        "escalation_tag": "", "business_hours": "on"})
    assert "Web 30 dk" in response.text
    from invekto.routing import sla

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        (policy,) = await sla.list_policies(session, home.system)
    assert (policy.channel_id, policy.tag, policy.first_response_minutes,
            policy.resolution_minutes, policy.escalation, policy.business_hours) == (
        home.channel_id, None, 30, None, "priority", True)
    changed = await post(home.sevgi, f"/settings/sla/{policy.id}", {
        "name": "Web 30 dk", "channel_id": str(home.channel_id),
        "first_response_minutes": "20", "escalation": "notify"})
    assert "data-saved" in changed.text
    refused = await post(home.sevgi, "/settings/sla", {"name": "Boş"}, expect=422)
    assert error_of(refused)["field"] == "first_response_minutes"
    gone = await post(home.sevgi, f"/settings/sla/{policy.id}/delete")
    assert "Web 30 dk" not in gone.text


async def test_a_number_is_blocked_before_it_writes_and_unblocked(world):
    home = world.home
    response = await post(home.sevgi, "/settings/blocked", {"phone": "0532 999 88 77"})
    assert 'data-phone="+905329998877"' in response.text
    message = await home.inbound("Kampanya!!!", phone="+905329998877", handle="spam-numara")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        from invekto.inbox.models import Conversation

        conversation = await session.get_one(Conversation, message.conversation_id)
    assert conversation.unread_count == 0  # quiet from the first message
    bad = await post(home.sevgi, "/settings/blocked", {"phone": "123"}, expect=422)
    assert error_of(bad)["field"] == "phone"
    contact_id = message.contact_id
    unblocked = await post(home.sevgi, f"/settings/blocked/{contact_id}/unblock")
    assert 'data-phone="+905329998877"' not in unblocked.text
    assert (await home.bora.client.get("/settings/blocked")).status_code == 403


async def test_an_admin_sets_and_clears_an_agents_capacity(world):
    home = world.home
    url = f"/settings/users/{home.bora.user_id}"
    form = {"display_name": "Bora", "role": "agent", "language": "tr",
            "group_ids": str(home.group_id)}
    response = await post(home.ayla, url, {**form, "max_open_conversations": "3"})
    assert f'id="capacity-{home.bora.user_id}"' in response.text and 'value="3"' in response.text

    async def capacity():
        from invekto.users.models import User

        async with home.rt.db.tenant_session(home.tenant_id) as session:
            return (await session.get_one(User, home.bora.user_id)).max_open_conversations

    assert await capacity() == 3
    await post(home.ayla, url, {**form, "max_open_conversations": ""})
    assert await capacity() is None
    refused = await post(home.ayla, url, {**form, "max_open_conversations": "0"}, expect=422)
    assert error_of(refused)["field"] == "max_open_conversations"


async def test_quick_replies_fill_their_variables_for_the_open_conversation(world):
    home = world.home
    from invekto.replies import service as replies

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await replies.create(session, home.system, shortcut="selam",
                             body="Merhaba {{ contact.first_name }}, ben {{ agent.name }}.")
    message = await home.inbound("Merhaba", handle="qr", name="Elif Yıldız")
    found = await home.sevgi.client.get("/inbox/quick-replies", params={
        "q": "selam", "c": str(message.conversation_id)})
    assert found.json()[0]["body"] == "Merhaba Elif, ben Sevgi."
    unfilled = await home.sevgi.client.get("/inbox/quick-replies", params={"q": "selam"})
    assert unfilled.json()[0]["body"] == "Merhaba {{ contact.first_name }}, ben {{ agent.name }}."
    refused = await post(home.sevgi, "/settings/quick-replies", {
        "shortcut": "bozuk", "body": "{{ contact.yok }}"}, expect=422)
    assert error_of(refused)["field"] == "body"
