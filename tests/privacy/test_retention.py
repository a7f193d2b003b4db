"""The retention policy: its bounds, the preview of what it would remove, and the nightly run
that removes it (files, closed conversations' content, audit events), in batches, once,
within one company, each run recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from invekto.core import i18n
from invekto.privacy import service, tasks
from invekto.privacy.anonymise import CONTENT_ERASED
from invekto.privacy.schemas import RetentionPolicyIn
from invekto.replies import service as replies
from tests.privacy.support import NAME, PHONE, SECRET, all_text_of, customer_with_history, sql
from tests.privacy.test_erasure import file_jobs, run_file_jobs

LATER = timedelta(days=400)  # every limit below has passed by then


async def save(company, **limits):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await service.save_policy(session, company.system, RetentionPolicyIn(**limits))


async def preview(company, now: datetime, **limits):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await service.preview(session, company.system, RetentionPolicyIn(**limits),
                                     now=now)


@pytest.mark.parametrize(("limits", "field"), [
    ({"attachment_days": 29}, "attachment_days"),
    ({"attachment_days": 3651}, "attachment_days"),
    ({"conversation_months": 2}, "conversation_months"),
    ({"audit_days": 179}, "audit_days"),
    ({"audit_days": 0}, "audit_days"),
])
async def test_limits_below_the_minimum_are_refused_naming_the_field(world, limits, field):
    response = await world.home.ayla.client.put("/api/v1/privacy/retention", json=limits)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await sql(world.home, "SELECT count(*) FROM privacy_retention_policies") == [(0,)]


async def test_the_policy_is_saved_audited_and_read_back(world):
    ayla = world.home.ayla.client
    empty = (await ayla.get("/api/v1/privacy/retention")).json()
    assert empty == {"policy": {"attachment_days": None, "conversation_months": None,
                                "audit_days": None, "updated_at": None}, "runs": []}
    response = await ayla.put("/api/v1/privacy/retention",
                              json={"attachment_days": 90, "audit_days": 365})
    assert response.status_code == 200, response.text
    assert response.json()["attachment_days"] == 90
    response = await ayla.put("/api/v1/privacy/retention",
                              json={"attachment_days": 90, "conversation_months": 24})
    saved = (await ayla.get("/api/v1/privacy/retention")).json()["policy"]
    assert (saved["attachment_days"], saved["conversation_months"], saved["audit_days"]) == (
        90, 24, None)
    trail = await sql(world.home, """
        SELECT before, after FROM audit_events WHERE action = 'privacy.retention_saved'
        ORDER BY occurred_at, id""")
    assert trail == [
        ({"attachment_days": None, "audit_days": None},
         {"attachment_days": 90, "audit_days": 365}),
        ({"audit_days": 365, "conversation_months": None},
         {"audit_days": None, "conversation_months": 24})]


async def test_the_preview_counts_what_the_policy_would_remove(world):
    home = world.home
    history = await customer_with_history(home)
    now = datetime.now(UTC)
    assert await preview(home, now, attachment_days=30, conversation_months=3,
                         audit_days=180) == service.Preview(0, 0, 0, 0)
    [(events,)] = await sql(home, "SELECT count(*) FROM audit_events")
    found = await preview(home, now + LATER, attachment_days=30, conversation_months=3,
                          audit_days=180)
    [(size,)] = await sql(home, "SELECT size_bytes FROM attachments WHERE id = :id",
                          id=history.attachment_id)
    assert found == service.Preview(1, size, 1, events)
    # Only what the policy limits: nothing else is counted.
    assert await preview(home, now + LATER, audit_days=180) == service.Preview(0, 0, 0, events)
    # A file the company sends itself (a quick reply's) is no conversation data.
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await replies.create(session, home.system, shortcut="rontgen", body="Örnek",
                             attachment_id=history.attachment_id)
    found = await preview(home, now + LATER, attachment_days=30)
    assert (found.attachments, found.attachment_bytes) == (0, 0)


async def test_a_run_removes_what_is_due_once_and_records_it(world):
    home, charlie = world.home, world.charlie
    history = await customer_with_history(home)
    other = await customer_with_history(charlie)
    await save(home, attachment_days=30, conversation_months=3, audit_days=180)
    await save(charlie, attachment_days=30, conversation_months=3, audit_days=180)
    now = datetime.now(UTC) + LATER

    run = await service.run_retention(home.rt.db, home.tenant_id, now=now)

    assert run.status == "finished" and run.finished_at is not None
    assert (run.attachments_deleted, run.conversations_anonymised) == (1, 1)
    assert run.bytes_deleted > 1000 and run.audit_events_deleted > 0
    assert run.policy == {"attachment_days": 30, "conversation_months": 3, "audit_days": 180}
    # The content went; the person's card stays (that is erasure's work, not retention's).
    assert SECRET not in await all_text_of(home, history.contact_id)
    [(name, phone)] = await sql(home, "SELECT name, phone FROM contacts WHERE id = :c",
                                c=history.contact_id)
    assert (name, phone) == (NAME, PHONE)
    bodies = await sql(home, "SELECT DISTINCT body FROM messages WHERE conversation_id = :c",
                       c=history.conversation_id)
    assert bodies == [(i18n.text("tr", CONTENT_ERASED),)]
    assert await sql(home, "SELECT reason FROM privacy_anonymised WHERE conversation_id = :c",
                     c=history.conversation_id) == [("retention",)]
    # Its own record is the only audit event left.
    assert await sql(home, "SELECT action FROM audit_events") == [
        ("privacy.retention_applied",)]
    jobs = await file_jobs(home)
    assert await run_file_jobs(home) == 1
    with pytest.raises(FileNotFoundError):
        await home.rt.storage.get(history.storage_key)

    # Run again: nothing left to do, and nothing done twice.
    again = await service.run_retention(home.rt.db, home.tenant_id, now=now)
    assert (again.attachments_deleted, again.conversations_anonymised) == (0, 0)
    assert await file_jobs(home) == jobs  # no new deletion deferred
    runs = (await home.ayla.client.get("/api/v1/privacy/retention")).json()["runs"]
    assert [(r["id"], r["conversations_anonymised"]) for r in runs] == [
        (str(again.id), 0), (str(run.id), 1)]

    # Charlie's company kept everything.
    assert SECRET in await all_text_of(charlie, other.contact_id)
    assert await charlie.rt.storage.get(other.storage_key)


async def test_a_conversation_reopened_after_anonymisation_is_anonymised_again(world):
    home = world.home
    history = await customer_with_history(home)
    await save(home, conversation_months=3)
    now = datetime.now(UTC) + LATER
    await service.run_retention(home.rt.db, home.tenant_id, now=now)
    ayla = home.ayla.client
    assert (await ayla.post(f"/api/v1/conversations/{history.conversation_id}/reopen")
            ).status_code == 200
    await home.inbound(f"Yine {SECRET}", handle=history.handle, phone=PHONE)
    assert (await ayla.post(f"/api/v1/conversations/{history.conversation_id}/close")
            ).status_code == 200
    assert SECRET in await all_text_of(home, history.contact_id)
    run = await service.run_retention(home.rt.db, home.tenant_id, now=now)
    assert run.conversations_anonymised == 1
    assert SECRET not in await all_text_of(home, history.contact_id)


async def test_files_go_in_batches(world, monkeypatch):
    home = world.home
    monkeypatch.setattr(service, "ATTACHMENT_BATCH", 2)
    histories = [await customer_with_history(home, phone=f"+90532111220{n}") for n in range(3)]
    await save(home, attachment_days=30)
    run = await service.run_retention(home.rt.db, home.tenant_id,
                                      now=datetime.now(UTC) + LATER)
    assert run.attachments_deleted == 3
    assert sorted(len(job["storage_keys"]) for job in await file_jobs(home)) == [1, 2]
    await run_file_jobs(home)
    for history in histories:
        with pytest.raises(FileNotFoundError):
            await home.rt.storage.get(history.storage_key)
    # The messages stay, without their file.
    assert await sql(home, "SELECT count(*) FROM messages WHERE content_kind = 'image' "
                           "AND attachment_id IS NULL") == [(3,)]


async def test_the_nightly_job_applies_each_companys_policy(world):
    home = world.home
    history = await customer_with_history(home)
    await sql(home, "UPDATE attachments SET created_at = now() - interval '40 days' "
                    "WHERE id = :id", id=history.attachment_id)
    await save(home, attachment_days=30)
    ran = await tasks.apply_retention(int(datetime.now(UTC).timestamp()))
    assert ran >= 1
    [(status, deleted)] = await sql(home, "SELECT status, attachments_deleted "
                                          "FROM privacy_retention_runs")
    assert (status, deleted) == ("finished", 1)


async def test_a_company_without_a_policy_is_left_alone(world):
    home = world.home
    await customer_with_history(home)
    assert await service.run_retention(home.rt.db, home.tenant_id,
                                       now=datetime.now(UTC) + LATER) is None
    await save(home)  # every limit empty: keep everything
    assert await service.run_retention(home.rt.db, home.tenant_id,
                                       now=datetime.now(UTC) + LATER) is None
    assert home.tenant_id not in await service.companies_with_policies(home.rt.db)
    assert await sql(home, "SELECT count(*) FROM privacy_retention_runs") == [(0,)]


def test_months_are_calendar_months():
    assert service.months_before(datetime(2026, 5, 31, 9, tzinfo=UTC), 3) == datetime(
        2026, 2, 28, 9, tzinfo=UTC)
    assert service.months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(
        2024, 12, 15, tzinfo=UTC)
    assert service.months_before(datetime(2024, 3, 31, tzinfo=UTC), 1) == datetime(
        2024, 2, 29, tzinfo=UTC)


async def test_only_security_managers_see_or_change_the_policy(world):
    home = world.home
    for person in (home.bora, home.sevgi):
        assert (await person.client.get("/api/v1/privacy/retention")).status_code == 403
        response = await person.client.put("/api/v1/privacy/retention",
                                           json={"audit_days": 365})
        assert response.status_code == 403
        response = await person.client.post("/api/v1/privacy/retention/preview", json={})
        assert response.status_code == 403
    assert await sql(home, "SELECT count(*) FROM privacy_retention_policies") == [(0,)]
