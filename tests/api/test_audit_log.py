"""The audit log: written for security-relevant actions, append-only in the database, searched and
exported by those who manage security, and never another company's."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from invekto.audit import service as audit
from invekto.audit.models import AuditEvent
from invekto.campaigns import service as campaigns
from invekto.campaigns.schemas import CampaignIn, Segment
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.tenants.models import Tenant
from tests.api.test_auth import assert_error
from tests.factories import create_company

API = "/api/v1"


async def events(company, **where) -> list[AuditEvent]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        query = select(AuditEvent).order_by(AuditEvent.occurred_at)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list((await session.scalars(query)).all())


async def test_search_filters_by_action_person_record_and_date(world):
    home = world.home
    ayla = home.ayla.client
    await ayla.patch(f"{API}/users/{home.deniz.user_id}", json={"display_name": "Deniz Kaya"})
    page = (await ayla.get(f"{API}/audit-events", params={"action": "auth."})).json()
    assert page["items"] and all(e["action"].startswith("auth.") for e in page["items"])

    page = (await ayla.get(f"{API}/audit-events", params={
        "action": "user.updated", "target_id": str(home.deniz.user_id)})).json()
    (event,) = page["items"]
    assert event["actor_name"] == "Yönetici" and event["actor_id"] == str(home.ayla.user_id)
    assert event["before"] == {"display_name": "Deniz"}
    assert event["after"] == {"display_name": "Deniz Kaya"}
    assert event["user_agent"]

    by_bora = (await ayla.get(f"{API}/audit-events", params={
        "actor_id": str(home.bora.user_id)})).json()["items"]
    assert {e["action"] for e in by_bora} == {"auth.login"}

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = (await ayla.get(f"{API}/audit-events", params={"since": tomorrow})).json()
    assert later == {"items": [], "next_cursor": None}
    assert_error(await ayla.get(f"{API}/audit-events", params={"ip": "not-an-ip"}), 422,
                 "validation_failed", field="ip")


async def test_pages_follow_each_other_without_gaps(world):
    ayla = world.home.ayla.client
    everything = (await ayla.get(f"{API}/audit-events", params={"limit": 200})).json()["items"]
    assert len(everything) >= 5
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await ayla.get(f"{API}/audit-events", params=params)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in everything]


async def test_only_security_managers_read_it_and_only_their_company(world):
    home, charlie = world.home, world.charlie
    for person in (home.sevgi, home.bora):
        assert_error(await person.client.get(f"{API}/audit-events"), 403, "forbidden")
        assert_error(await person.client.get(f"{API}/audit-events/export"), 403, "forbidden")
    theirs = (await charlie.ayla.client.get(f"{API}/audit-events",
                                            params={"limit": 200})).json()["items"]
    ours = {e.id for e in await events(home)}
    assert theirs and not ours & {uuid.UUID(e["id"]) for e in theirs}
    # Another company's record id finds nothing rather than an error.
    assert (await charlie.ayla.client.get(f"{API}/audit-events", params={
        "target_id": str(home.deniz.user_id)})).json()["items"] == []


async def test_export_holds_what_the_filters_found_and_is_itself_recorded(world):
    home = world.home
    response = await home.ayla.client.get(f"{API}/audit-events/export",
                                          params={"format": "csv", "action": "auth."})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="audit-log.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["occurred_at", "action", "actor_kind"]
    assert len(rows) > 1 and {row[1] for row in rows[1:]} <= {
        "auth.login", "auth.logout", "auth.login_failed"}
    (exported,) = await events(home, action="audit.exported")
    assert exported.data["events"] == len(rows) - 1 and exported.data["action"] == "auth."
    xlsx = await home.ayla.client.get(f"{API}/audit-events/export", params={"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


async def test_rows_cannot_be_changed_or_deleted_only_purged_by_retention(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        before = await session.scalar(select(AuditEvent.id).limit(1))
    for statement in (update(AuditEvent).values(action="x"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with home.rt.db.tenant_session(home.tenant_id) as session:
                await session.execute(statement.where(AuditEvent.id == before))
    assert [e.id for e in await events(home, id=before)] == [before]

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        removed = await audit.purge_before(session, home.tenant_id,
                                           datetime.now(UTC) + timedelta(seconds=1))
        # The purge's permission ends with it: the same transaction cannot delete again.
        await audit.record(session, home.system, "probe.after_purge")
        await session.flush()
        await session.execute(text("SAVEPOINT probe"))
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(delete(AuditEvent))
        await session.execute(text("ROLLBACK TO SAVEPOINT probe"))
    assert removed >= 5
    assert [e.action for e in await events(home)] == ["probe.after_purge"]


async def test_a_companys_removal_takes_its_log_with_it(rt, app):
    doomed = await create_company(rt, app, cast=False)
    assert await events(doomed)
    await doomed.close()
    async with rt.db.transaction() as session:
        await session.execute(delete(Tenant).where(Tenant.id == doomed.tenant_id))
    async with rt.db.tenant_session(doomed.tenant_id) as session:
        assert (await session.scalars(select(AuditEvent))).all() == []


async def test_takeovers_campaign_sends_and_api_key_use_are_recorded(world):
    home = world.home
    message = await home.inbound("Merhaba")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        from invekto.inbox import service as inbox

        await inbox.assign(session, home.system, message.conversation_id, home.bora.user_id)
    response = await home.sevgi.client.post(f"/inbox/c/{message.conversation_id}/takeover",
                                            headers={"hx-request": "true"})
    assert response.status_code == 200, response.text
    (taken,) = await events(home, action="conversation.taken_over")
    assert taken.actor_id == home.sevgi.user_id
    assert taken.before == {"assignee_id": str(home.bora.user_id)}
    assert taken.after == {"assignee_id": str(home.sevgi.user_id)}

    async with home.rt.db.tenant_session(home.tenant_id) as session:
        sms = await channels.create_channel(session, home.system, ChannelCreate(
            kind="sms_netgsm", name="SMS", external_id="8503000000"))
        campaign = await campaigns.create(session, home.system, CampaignIn(
            name="Kasım hatırlatması", channel_id=sms.id, content_kind="text",
            body="Randevunuzu unutmayın", segment=Segment()))
        await campaigns.send_now(session, home.system, campaign.id)
    actions = [e.action for e in await events(home, target_id=campaign.id)]
    assert actions == ["campaign.created", "campaign.sent"]

    async with home.api_client() as api:
        assert (await api.get(f"{API}/users")).status_code == 200
        assert (await api.get(f"{API}/users")).status_code == 200
    used = await events(home, action="api_key.used")
    assert len(used) == 1 and used[0].actor_kind == "api_key"  # once per interval, not per call


async def test_catalogue_changes_carry_before_and_after(world):
    home = world.home
    ayla = home.ayla.client
    tag = (await ayla.post(f"{API}/tags", json={"name": "vip"})).json()
    assert (await ayla.patch(f"{API}/tags/{tag['id']}",
                             json={"color": "#ff0000"})).status_code == 200
    assert (await ayla.delete(f"{API}/tags/{tag['id']}")).status_code == 204
    found = await events(home, target_id=uuid.UUID(tag["id"]))
    assert [(e.action, e.before, e.after) for e in found] == [
        ("tag.created", None, {"name": "vip", "marks_conversion": False}),
        ("tag.updated", {"color": "#6c757d"}, {"color": "#ff0000"}),
        ("tag.deleted", {"name": "vip"}, None)]


async def test_changes_record_before_and_after_with_personal_values_masked(world):
    home = world.home
    ayla = home.ayla.client
    contact = (await ayla.post(f"{API}/contacts", json={
        "name": "Ayşe Yılmaz", "phone": "+905321234567"})).json()
    assert (await ayla.patch(f"{API}/contacts/{contact['id']}", json={
        "phone": "+905339876543", "language": "en"})).status_code == 200
    (changed,) = await events(home, action="contact.updated")
    assert changed.before == {"phone": "+90 532 *** ** 67", "language": None}
    assert changed.after == {"phone": "+90 533 *** ** 43", "language": "en"}

    channel_id = home.channel_id
    assert (await ayla.patch(f"{API}/channels/{channel_id}",
                             json={"name": "Web sitesi"})).status_code == 200
    (renamed,) = await events(home, action="channel.updated")
    assert (renamed.before, renamed.after) == ({"name": "Web"}, {"name": "Web sitesi"})
