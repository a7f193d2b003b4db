"""Erasure ("the right to be forgotten"): the person is gone from everything the company
keeps (profile, identities, what was said, notes, files, campaign rows, survey comment,
search), the rows that make the reports stay, and the reports' numbers do not move."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import timedelta

import pytest
from sqlalchemy import text

from invekto.core import i18n
from invekto.privacy import service, tasks
from invekto.privacy.anonymise import CONTENT_ERASED, ERASED_CONTACT
from invekto.replies import service as replies
from invekto.reports import service as reports
from invekto.reports.service import Query
from tests.privacy.support import (
    EMAIL,
    NAME,
    NATIONAL_ID,
    PHONE,
    SECRET,
    all_text_of,
    customer_with_history,
    sql,
)
from tests.reports.support import MONDAY_TUESDAY, T0, add_two_known_days, post

MARKER = i18n.text("tr", CONTENT_ERASED)


async def erase(company, contact_id: uuid.UUID):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await service.erase_contact(session, company.system, contact_id,
                                           confirm=str(contact_id))


async def file_jobs(company) -> list[dict]:
    """The file deletions the company's erasures and runs deferred, not yet run."""
    async with company.rt.db.transaction() as session:
        rows = await session.execute(text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'privacy:delete_files' "
            "AND status = 'todo' AND args->'storage_keys'->>0 LIKE :prefix ORDER BY id"),
            {"prefix": f"{company.tenant_id}/%"})
        return [row[0] for row in rows]


async def run_file_jobs(company) -> int:
    deleted = 0
    for args in await file_jobs(company):
        deleted += await tasks.delete_files(**args)
    return deleted


async def test_erasure_removes_the_person_and_what_they_said(world):
    home = world.home
    history = await customer_with_history(home)
    before = await all_text_of(home, history.contact_id)
    assert all(word in before for word in (NAME, PHONE, EMAIL, SECRET, NATIONAL_ID, "41.0151"))
    [(messages_before,)] = await sql(home, "SELECT count(*) FROM messages WHERE contact_id = :c",
                                     c=history.contact_id)

    request = await erase(home, history.contact_id)

    assert request.status == "fulfilled" and request.fulfilled_at is not None
    assert request.summary["messages_anonymised"] == messages_before == 4
    assert request.summary["files_deleted"] == 1
    assert request.summary["bytes_deleted"] > 1000
    assert request.summary["identities_removed"] == 1
    assert request.summary["custom_fields_cleared"] == 1
    assert request.summary["consents_withdrawn"] == 1
    assert request.summary["campaign_messages_cleared"] == 1
    assert request.summary["notes_cleared"] == 2
    after = await all_text_of(home, history.contact_id)
    for word in (NAME.split()[0], PHONE, PHONE[1:], EMAIL, SECRET, NATIONAL_ID, "41.0151",
                 "Evim", "implant", "memnun", "kontrol zamanınız"):
        assert word not in after, word
    [(name, phone, email, tags, fields)] = await sql(home, """
        SELECT name, phone, email, tags, custom_fields FROM contacts WHERE id = :c""",
                                                    c=history.contact_id)
    assert (name, phone, email, tags, fields) == (i18n.text("tr", ERASED_CONTACT), None, None,
                                                  [], {})
    assert await sql(home, "SELECT count(*) FROM contact_identities WHERE contact_id = :c",
                     c=history.contact_id) == [(0,)]
    # The rows the reports count stay: direction, sender, kind, times, status.
    rows = await sql(home, """
        SELECT direction, sender_kind, content_kind, body, attachment_id FROM messages
        WHERE contact_id = :c ORDER BY created_at""", c=history.contact_id)
    assert [(d, s, k) for d, s, k, _, _ in rows] == [
        ("inbound", "contact", "text"), ("inbound", "contact", "image"),
        ("inbound", "contact", "location"), ("outbound", "agent", "text")]
    assert {body for *_, body, _ in rows} == {MARKER}
    assert all(attachment is None for *_, attachment in rows)
    assert await sql(home, "SELECT payload FROM messages WHERE contact_id = :c "
                           "AND content_kind = 'location'", c=history.contact_id) == [({},)]
    # Withdrawn, not forgotten: nobody markets to them by mistake.
    assert await sql(home, "SELECT consent_type, granted FROM contact_consents "
                           "WHERE contact_id = :c", c=history.contact_id) == [("message", False)]
    # The campaign's and the survey's numbers stay, without the person.
    assert await sql(home, "SELECT state, handle, phone, body FROM campaign_recipients "
                           "WHERE contact_id = :c", c=history.contact_id) == [
        ("read", None, None, None)]
    assert await sql(home, "SELECT score, comment FROM csat_responses WHERE contact_id = :c",
                     c=history.contact_id) == [(4, "")]
    [(status, assignee)] = await sql(home, "SELECT status, assignee_id FROM conversations "
                                           "WHERE id = :id", id=history.conversation_id)
    assert (status, assignee) == ("closed", home.bora.user_id)


async def test_the_files_are_deleted_from_storage_once_the_erasure_committed(world):
    home = world.home
    history = await customer_with_history(home)
    assert await home.rt.storage.get(history.storage_key)
    await erase(home, history.contact_id)
    assert await sql(home, "SELECT count(*) FROM attachments WHERE id = :id",
                     id=history.attachment_id) == [(0,)]
    jobs = await file_jobs(home)
    assert jobs == [{"storage_keys": [history.storage_key]}]
    assert await run_file_jobs(home) == 1
    with pytest.raises(FileNotFoundError):
        await home.rt.storage.get(history.storage_key)
    # Run twice (a retried job): nothing to do, no error.
    assert await tasks.delete_files(**jobs[0]) == 1


async def test_a_file_the_company_also_uses_elsewhere_is_kept(world):
    home = world.home
    history = await customer_with_history(home)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await replies.create(session, home.system, shortcut="rontgen", body="Röntgen örneği",
                             attachment_id=history.attachment_id)
    request = await erase(home, history.contact_id)
    assert request.summary["files_deleted"] == 0
    assert await sql(home, "SELECT count(*) FROM attachments WHERE id = :id",
                     id=history.attachment_id) == [(1,)]
    assert await home.rt.storage.get(history.storage_key)


async def test_after_erasure_nothing_finds_the_person_and_a_new_message_is_a_new_contact(world):
    home = world.home
    history = await customer_with_history(home)
    ayla = home.ayla.client
    for q in (NAME.split()[0], PHONE[-7:], EMAIL.split("@")[0]):
        found = (await ayla.get("/api/v1/contacts", params={"q": q})).json()
        assert [c["id"] for c in found["items"]] == [str(history.contact_id)], q
    conversations = (await ayla.get("/api/v1/conversations",
                                    params={"q": SECRET, "status": "closed"})).json()
    assert [c["id"] for c in conversations["items"]] == [str(history.conversation_id)]

    await erase(home, history.contact_id)

    for q in (NAME.split()[0], PHONE[-7:], EMAIL.split("@")[0], NATIONAL_ID):
        found = (await ayla.get("/api/v1/contacts", params={"q": q})).json()
        assert found["items"] == [], q
    for status in ("closed", "open"):
        conversations = (await ayla.get("/api/v1/conversations",
                                        params={"q": SECRET, "status": status})).json()
        assert conversations["items"] == []
    # She writes again, from the same number and handle: someone new to the company.
    again = await home.inbound("Merhaba yine ben", handle=history.handle, phone=PHONE,
                               name=NAME)
    assert again.contact_id != history.contact_id
    assert again.conversation_id != history.conversation_id
    [(phone,)] = await sql(home, "SELECT phone FROM contacts WHERE id = :c", c=again.contact_id)
    assert phone == PHONE


async def test_the_audit_entry_and_the_request_name_no_personal_data(world):
    home = world.home
    history = await customer_with_history(home)
    request = await erase(home, history.contact_id)
    [(data, target)] = await sql(home, """
        SELECT data::text, target_id FROM audit_events WHERE action = 'privacy.erase'""")
    assert target == history.contact_id
    assert json.loads(data)["request_id"] == str(request.id)
    [(summary,)] = await sql(home, "SELECT summary::text FROM privacy_requests WHERE id = :id",
                             id=request.id)
    for written in (data, summary):
        for word in (NAME.split()[0], PHONE[1:], EMAIL, SECRET, NATIONAL_ID):
            assert word not in written


async def test_erasure_needs_the_confirmation_and_closed_conversations(world):
    home = world.home
    history = await customer_with_history(home, close=False)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        with pytest.raises(Exception) as refused:
            await service.erase_contact(session, home.system, history.contact_id,
                                        confirm=str(uuid.uuid4()))
    assert refused.value.field == "confirm" and refused.value.status_code == 422
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        with pytest.raises(Exception) as refused:
            await service.erase_contact(session, home.system, history.contact_id,
                                        confirm=str(history.contact_id))
    assert refused.value.status_code == 409 and refused.value.code == "conversations_open"
    assert NAME in await all_text_of(home, history.contact_id)
    assert await sql(home, "SELECT count(*) FROM privacy_requests") == [(0,)]


async def _numbers(company):
    """What the reports say about the two known days: the dashboard (its refresh time aside),
    the agents' table and every fact."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        overview = await reports.overview(session, company.system, Query(MONDAY_TUESDAY))
        agents = await reports.agents(session, company.system, Query(MONDAY_TUESDAY))
    facts = await sql(company, """
        SELECT conversation_id, seq, kind, detail, at, seconds, business_seconds, value,
               channel_id, group_id, user_id, tags
        FROM report_facts ORDER BY conversation_id, seq""")
    return {**{k: v for k, v in asdict(overview).items() if k != "refreshed_at"},
            "agents": [asdict(row) for row in agents], "facts": facts}


async def test_the_reports_numbers_are_the_same_after_erasure(world):
    home = world.home
    await add_two_known_days(home)
    [(monday_contact, monday)] = await sql(home, """
        SELECT c.contact_id, c.id FROM conversations c
        JOIN contact_identities i ON i.contact_id = c.contact_id
        WHERE i.handle = 'pazartesi'""")
    # A survey answer and a call on Monday: their score and talk time are report numbers too.
    closed_at = T0 + timedelta(minutes=5)  # the known day's close (support.set_times)
    await sql(home, """
        INSERT INTO csat_responses (id, tenant_id, conversation_id, contact_id, channel_id,
            agent_id, closed_at, due_at, asked_at, answered_at, score, comment)
        SELECT gen_random_uuid(), tenant_id, id, contact_id, channel_id, assignee_id, :closed,
               :closed, :closed + interval '1 minute', :closed + interval '2 minutes', 5,
               'Bora çok ilgiliydi, teşekkürler'
        FROM conversations WHERE id = :id""", id=monday, closed=closed_at)
    await sql(home, """
        INSERT INTO messages (id, tenant_id, conversation_id, contact_id, channel_id,
            direction, sender_kind, content_kind, body, payload, status, created_at,
            provider_message_id)
        SELECT gen_random_uuid(), tenant_id, id, contact_id, channel_id, 'inbound', 'contact',
               'call', '', jsonb_build_object('call', jsonb_build_object(
                   'direction', 'inbound', 'outcome', 'answered', 'from', '+905559998877',
                   'to', '+902120000000', 'duration_seconds', 95,
                   'recording_url', 'https://pbx.example.com/r/1.mp3')),
               'delivered', :at, 'call:privacy-test'
        FROM conversations WHERE id = :id""", id=monday, at=T0 + timedelta(minutes=2, seconds=30))
    before = await _numbers(home)
    assert any(row["csat_answers"] for row in before["agents"])
    assert before["current"]["messages_in"] > 0 and before["current"]["talk_seconds"] == 95

    await erase(home, monday_contact)
    # Derive every conversation again from what is left, as a change would.
    await sql(home, "INSERT INTO report_dirty (tenant_id, conversation_id) "
                    "SELECT tenant_id, id FROM conversations")
    after = await _numbers(home)

    assert after == before
    [(payload,)] = await sql(home, "SELECT payload FROM messages WHERE content_kind = 'call' "
                                   "AND conversation_id = :id", id=monday)
    assert payload == {"call": {"direction": "inbound", "outcome": "answered",
                                "duration_seconds": 95}}
    assert await sql(home, "SELECT count(*) FROM report_dirty") == [(0,)]


async def test_charlie_cannot_erase_the_home_companys_contact(world):
    home, charlie = world.home, world.charlie
    history = await customer_with_history(home)
    async with charlie.rt.db.tenant_session(charlie.tenant_id) as session:
        with pytest.raises(Exception) as refused:
            await service.erase_contact(session, charlie.system, history.contact_id,
                                        confirm=str(history.contact_id))
    assert refused.value.status_code == 404
    assert NAME in await all_text_of(home, history.contact_id)


async def test_an_agent_or_supervisor_may_not_erase(world):
    home = world.home
    history = await customer_with_history(home)
    for person in (home.bora, home.sevgi):
        response = await person.client.post(
            f"/api/v1/privacy/contacts/{history.contact_id}/erase",
            json={"confirm": str(history.contact_id)})
        assert response.status_code == 403, response.text
    assert NAME in await all_text_of(home, history.contact_id)
    await post(home.ayla, f"/privacy/contacts/{history.contact_id}/erase",
               {"confirm": str(history.contact_id)})
    assert NAME not in await all_text_of(home, history.contact_id)
