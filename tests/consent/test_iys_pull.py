"""Changes made at İYS itself (a customer's RET through İYS's site or app), brought in by the
pull: recorded once as the contact's, with İYS as the source; a RET makes commercial SMS
campaigns skip the number, and takes it out of a campaign already sending."""

from __future__ import annotations

from sqlalchemy import select

from invekto.campaigns.models import CampaignRecipient
from invekto.consent import tasks
from tests.consent.support import (
    consent_of,
    enable_iys,
    events_of,
    new_channel,
    new_contact,
    pull,
    push,
    rows,
    set_consent,
)

AYSE, MEHMET = "+905321112233", "+905447778899"


async def sms_campaign(company, channel_id, **spec) -> dict:
    response = await company.sevgi.client.post("/api/v1/campaigns", json={
        "name": "Kış indirimi", "channel_id": str(channel_id), "content_kind": "text",
        "body": "Merhaba {{ contact.first_name }}, kışa özel %20 indirim!", "segment": {},
        **spec})
    assert response.status_code == 201, response.text
    return response.json()


async def plan(company, campaign_id) -> dict:
    response = await company.sevgi.client.post(f"/api/v1/campaigns/{campaign_id}/plan")
    assert response.status_code == 200, response.text
    return response.json()


async def approved_at_iys(company, iys_stub, *phones: str) -> list:
    """Contacts whose consent was given here and approved at İYS."""
    ids = [await new_contact(company, phone, name=f"Müşteri {phone[-4:]}") for phone in phones]
    for contact_id in ids:
        await set_consent(company, contact_id, True, iys_source="HS_ISLAK_IMZA")
    assert await push(company) == len(ids)
    return ids


async def test_a_ret_made_at_iys_withdraws_consent_and_campaigns_skip_the_number(world,
                                                                                iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    sms = await new_channel(home, "sms_netgsm")
    ayse, mehmet = await approved_at_iys(home, iys_stub, AYSE, MEHMET)
    campaign = await sms_campaign(home, sms)
    assert (await plan(home, campaign["id"]))["recipients"] == 2

    change = iys_stub.simulator.customer_changes(MEHMET, status="RET", source="IYS_WEB")
    assert await pull(home) == 1
    consent = await consent_of(home, mehmet)
    assert (consent.granted, consent.iys_status, consent.source) == (False, "RET", "iys")
    latest = (await events_of(home, mehmet))[-1]
    assert (latest.source, latest.actor_kind, latest.iys_source) == ("iys", "iys", "IYS_WEB")
    assert latest.iys_transaction_id == change["transactionId"]
    assert (await consent_of(home, ayse)).iys_status == "ONAY"

    replanned = await plan(home, campaign["id"])
    assert (replanned["recipients"], replanned["excluded"]) == (1, {"opted_out": 1})
    (queued,) = await rows(home, select(CampaignRecipient.phone).where(
        CampaignRecipient.campaign_id == campaign["id"], CampaignRecipient.state == "queued"))
    assert queued == AYSE

    # Pulled again: nothing new, nothing recorded twice.
    assert await pull(home) == 0
    assert len(await events_of(home, mehmet)) == 2
    settings = (await home.ayla.client.get("/api/v1/settings/iys")).json()
    assert settings["pulled_at"] is not None and settings["pull_error"] is None


async def test_a_ret_at_iys_takes_the_number_out_of_a_campaign_already_sending(world,
                                                                              iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    sms = await new_channel(home, "sms_netgsm")
    await approved_at_iys(home, iys_stub, AYSE, MEHMET)
    campaign = await sms_campaign(home, sms)
    started = await home.sevgi.client.post(f"/api/v1/campaigns/{campaign['id']}/send")
    assert started.json()["status"] == "running"
    iys_stub.simulator.customer_changes(AYSE, status="RET")
    assert await tasks.pull_iys_changes(timestamp=0) >= 1  # the periodic job, every company
    recipients = await rows(home, select(CampaignRecipient).where(
        CampaignRecipient.campaign_id == campaign["id"]))
    assert {r.phone: (r.state, r.reason) for r in recipients} == {
        AYSE: ("excluded", "opted_out"), MEHMET: ("queued", None)}


async def test_a_change_for_a_number_we_do_not_know_is_passed_over(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    iys_stub.simulator.customer_changes("+905559990011", status="RET")
    assert await pull(home) == 0
    settings = (await home.ayla.client.get("/api/v1/settings/iys")).json()
    assert settings["pull_error"] is None


async def test_a_failed_pull_is_shown_and_the_next_one_catches_up(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    contact_id = await new_contact(home, AYSE)
    await set_consent(home, contact_id, True)
    iys_stub.simulator.customer_changes(AYSE, status="RET")
    iys_stub.simulator.fail_next(endpoint="changes", status=500)
    assert await pull(home) == 0
    settings = (await home.ayla.client.get("/api/v1/settings/iys")).json()
    assert settings["pull_error"].startswith("H103")
    page = (await home.ayla.client.get("/settings/iys")).text
    assert "H103" in page
    assert await pull(home) == 1
    assert (await consent_of(home, contact_id)).granted is False
    assert (await home.ayla.client.get("/api/v1/settings/iys")).json()["pull_error"] is None


async def test_checking_a_contact_at_iys_records_what_it_holds(world, iys_stub):
    home = world.home
    await enable_iys(home, iys_stub.url)
    contact_id = await new_contact(home, AYSE)
    iys_stub.simulator.customer_changes(AYSE, status="ONAY", source="IYS_MOBIL")
    checked = await home.bora.client.post(
        f"/api/v1/contacts/{contact_id}/consents/message/iys-check")
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert (body["iys_status"], body["iys_source"]) == ("ONAY", "IYS_MOBIL")
    assert (body["consent"]["granted"], body["consent"]["iys_status"]) == (True, "ONAY")
    nothing = await home.bora.client.post(
        f"/api/v1/contacts/{contact_id}/consents/call/iys-check")
    assert nothing.json()["iys_status"] is None and nothing.json()["consent"] is None
    iys_stub.simulator.fail_next(endpoint="status", status=500)
    down = await home.bora.client.post(
        f"/api/v1/contacts/{contact_id}/consents/message/iys-check")
    assert down.status_code == 502 and down.json()["error"]["field"] == "iys"
