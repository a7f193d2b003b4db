"""Our consent changes on their way to İYS (the push job against the İYS simulator over real
HTTP): queued with each change, sent once, in order per number, retried after an outage,
refusals shown in the settings until sent again, and a job that died after sending not
sending twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from invekto.consent import sync, tasks
from invekto.consent.models import IysPush
from tests.consent.support import (
    consent_of,
    enable_iys,
    new_contact,
    push,
    pushes_of,
    set_consent,
)

PHONE = "+905321112233"


async def due_now(company) -> None:
    """Time passes: every waiting change is due (and every claim old)."""
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await session.execute(update(IysPush).values(
            next_attempt_at=datetime.now(UTC) - timedelta(seconds=1),
            claimed_at=datetime.now(UTC) - sync.STALE_CLAIM - timedelta(seconds=1)))


async def settings(company) -> dict:
    response = await company.ayla.client.get("/api/v1/settings/iys")
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_consent_given_here_reaches_iys_once_and_sets_the_iys_status(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    contact_id = await new_contact(home, PHONE, email="ayse@example.com")
    await set_consent(home, contact_id, True, iys_source="HS_CAGRI_MERKEZI")
    await set_consent(home, contact_id, True, kind="email")  # İYS gets no e-mail consents
    (queued,) = await pushes_of(home)
    assert queued.state == "pending"
    assert {k: v for k, v in queued.payload.items() if k != "consentDate"} == {
        "recipient": PHONE, "type": "MESAJ", "status": "ONAY", "source": "HS_CAGRI_MERKEZI",
        "recipientType": "BIREYSEL"}

    assert await push(home) == 1
    (added,) = iys_stub.simulator.state.added
    assert added == queued.payload
    (sent,) = await pushes_of(home)
    assert (sent.state, sent.attempts) == ("sent", 1)
    assert sent.transaction_id == iys_stub.simulator.current(PHONE)["transactionId"]
    assert (await consent_of(home, contact_id)).iys_status == "ONAY"
    assert await push(home) == 0 and len(iys_stub.simulator.state.added) == 1

    history = (await home.sevgi.client.get(
        f"/api/v1/contacts/{contact_id}/consents/history")).json()
    message = next(e for e in history if e["consent_type"] == "message")
    assert message["iys_push"]["state"] == "sent"
    assert message["iys_push"]["transaction_id"] == sent.transaction_id
    assert (await settings(home))["pushes"]["sent"] == 1


async def test_changes_of_one_number_reach_iys_in_order(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    contact_id = await new_contact(home, PHONE)
    await set_consent(home, contact_id, True)
    await set_consent(home, contact_id, False, person="bora")
    await set_consent(home, contact_id, True, kind="call")
    assert await push(home) == 3
    assert [(a["type"], a["status"]) for a in iys_stub.simulator.state.added] == [
        ("MESAJ", "ONAY"), ("ARAMA", "ONAY"), ("MESAJ", "RET")]
    assert iys_stub.simulator.current(PHONE)["status"] == "RET"
    assert (await consent_of(home, contact_id)).iys_status == "RET"
    assert (await consent_of(home, contact_id, "call")).iys_status == "ONAY"


async def test_a_withdrawal_iys_never_had_is_skipped(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    contact_id = await new_contact(home, PHONE)
    await set_consent(home, contact_id, False, person="bora")
    assert await push(home) == 0
    (skipped,) = await pushes_of(home)
    assert (skipped.state, skipped.error_code) == ("skipped", "H175")
    assert iys_stub.simulator.state.added == []
    assert (await settings(home))["failures"] == []


async def test_an_outage_is_tried_again_later(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    contact_id = await new_contact(home, PHONE)
    await set_consent(home, contact_id, True)
    iys_stub.simulator.fail_next(endpoint="consents", status=500)
    assert await push(home) == 0
    (waiting,) = await pushes_of(home)
    assert (waiting.state, waiting.attempts, waiting.error_code) == ("pending", 1, "H103")
    assert waiting.next_attempt_at > datetime.now(UTC)
    (shown,) = (await settings(home))["failures"]
    assert (shown["recipient"], shown["error_code"]) == (PHONE, "H103")
    assert await push(home) == 0  # not due yet
    async with home.rt.db.system_session() as session:
        assert home.tenant_id not in await sync.push_due_tenants(session)
    await due_now(home)
    async with home.rt.db.system_session() as session:
        assert home.tenant_id in await sync.push_due_tenants(session)
    assert await tasks.retry_iys_pushes(timestamp=0) >= 1  # defers this company's push job
    assert await push(home) == 1
    (sent,) = await pushes_of(home)
    assert (sent.state, sent.attempts, sent.error_code) == ("sent", 2, None)
    assert (await settings(home))["failures"] == []


async def test_a_refusal_is_shown_until_sent_again(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    contact_id = await new_contact(home, PHONE)
    await set_consent(home, contact_id, True)
    iys_stub.simulator.fail_next(endpoint="consents", status=422, code="H100",
                                 message="recipient alanı eksik veya geçersiz.")
    await push(home)
    (failed,) = await pushes_of(home)
    assert (failed.state, failed.error_code) == ("failed", "H100")
    (shown,) = (await settings(home))["failures"]
    assert shown["error"] == "recipient alanı eksik veya geçersiz."
    page = (await home.ayla.client.get("/settings/iys")).text
    assert 'id="iys-failures"' in page and "recipient alanı eksik veya geçersiz." in page
    retried = await home.ayla.client.post("/api/v1/settings/iys/retry")
    assert retried.json() == {"retried": 1}
    assert await push(home) == 1
    assert (await settings(home))["pushes"] == {"pending": 0, "sending": 0, "sent": 1,
                                                "failed": 0, "skipped": 0}


async def test_a_job_that_died_after_sending_does_not_send_again(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    contact_id = await new_contact(home, PHONE)
    await set_consent(home, contact_id, True)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        work = await sync.claim_pushes(session, home.tenant_id)
    await sync.send_claimed(work)  # İYS has it; the job dies before writing that down
    assert len(iys_stub.simulator.state.added) == 1
    assert await push(home) == 0  # claimed by the dead job, not yet stale
    await due_now(home)
    assert await push(home) == 1
    assert len(iys_stub.simulator.state.added) == 1
    (sent,) = await pushes_of(home)
    assert sent.state == "sent"
    assert sent.transaction_id == iys_stub.simulator.current(PHONE)["transactionId"]


async def test_a_wrong_password_keeps_the_changes_waiting(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url, password="yanlis-parola")
    contact_id = await new_contact(home, PHONE)
    await set_consent(home, contact_id, True)
    assert await push(home) == 0
    (waiting,) = await pushes_of(home)
    assert (waiting.state, waiting.error_code) == ("pending", "auth")
    page = (await home.ayla.client.get("/settings/iys")).text
    assert f'data-recipient="{PHONE}" data-error-code="auth"' in page
    await enable_iys(home, iys_stub.url)
    await due_now(home)
    assert await push(home) == 1
    assert iys_stub.simulator.state.added[0]["status"] == "ONAY"


async def test_nothing_is_queued_while_iys_is_off(world, iys_stub):
    home = world.home
    contact_id = await new_contact(home, PHONE)
    await set_consent(home, contact_id, True)
    await enable_iys(home, iys_stub.url, enabled=False)
    await set_consent(home, contact_id, False, person="bora")
    assert await pushes_of(home) == []
    assert await push(home) == 0


async def test_a_stale_change_does_not_overwrite_a_newer_word_of_iys(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    contact_id = await new_contact(home, PHONE)
    await set_consent(home, contact_id, True)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await sync.claim_pushes(session, home.tenant_id) is not None
    # The job dies before sending; meanwhile the customer refuses at İYS itself.
    iys_stub.simulator.customer_changes(PHONE, status="RET",
                                        at=datetime.now(UTC) + timedelta(seconds=2))
    await due_now(home)
    assert await push(home) == 0
    (skipped,) = await pushes_of(home)
    assert (skipped.state, skipped.error_code) == ("skipped", "superseded")
    assert iys_stub.simulator.state.added == []
    assert iys_stub.simulator.current(PHONE)["status"] == "RET"
