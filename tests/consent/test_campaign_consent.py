"""Who a campaign leaves out for consent: a WhatsApp marketing template reaches only contacts
who gave message consent (a utility template everyone); a withdrawal through a keyword, a person
or İYS takes a contact out, even of a campaign planned before."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from invekto.campaigns.models import CampaignRecipient
from invekto.db.base import new_id
from invekto.templates.models import MessageTemplate
from tests.consent.support import set_consent


async def synced_templates(wa) -> None:
    """The channel's templates as a sync left them: one for marketing, one for service."""
    now = datetime.now(UTC)
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        await session.execute(insert(MessageTemplate), [
            {"id": new_id(), "tenant_id": wa.home.tenant_id, "channel_id": wa.channel_id,
             "name": name, "language": "tr", "category": category, "status": "APPROVED",
             "components": [{"type": "BODY", "text": text}], "synced_at": now}
            for name, category, text in (
                ("kis_indirimi", "MARKETING", "Merhaba {{1}}, kış indirimi başladı!"),
                ("randevu_bilgisi", "UTILITY", "Merhaba {{1}}, randevunuz yarın."))])


async def test_a_marketing_template_reaches_only_those_who_gave_consent(wa):
    await synced_templates(wa)
    given, withdrawn, unknown = await wa.contacts(3, tags=["vip"])
    assert (await set_consent(wa.home, given, True)).status_code == 200
    await set_consent(wa.home, withdrawn, False, person="bora")
    marketing = await wa.create(template_name="kis_indirimi",
                                template_parameters={"1": "{{ contact.first_name }}"})
    plan = (await wa.post(f"/api/v1/campaigns/{marketing['id']}/plan")).json()
    assert (plan["recipients"], plan["excluded"]) == (1, {"opted_out": 1, "no_consent": 1})
    (queued,) = await wa.rows(select(CampaignRecipient.contact_id).where(
        CampaignRecipient.campaign_id == marketing["id"], CampaignRecipient.state == "queued"))
    assert queued == given

    service = await wa.create(name="Randevu", template_name="randevu_bilgisi",
                              template_parameters={"1": "{{ contact.first_name }}"})
    plan = (await wa.post(f"/api/v1/campaigns/{service['id']}/plan")).json()
    assert (plan["recipients"], plan["excluded"]) == (2, {"opted_out": 1})
    assert unknown  # planned into the utility campaign, left out of the marketing one


async def test_a_withdrawal_after_planning_takes_the_contact_out(wa):
    await synced_templates(wa)
    first, second = await wa.contacts(2, tags=["vip"])
    for contact_id in (first, second):
        await set_consent(wa.home, contact_id, True)
    campaign = await wa.create(template_name="kis_indirimi",
                               template_parameters={"1": "{{ contact.first_name }}"})
    assert (await wa.post(f"/api/v1/campaigns/{campaign['id']}/plan")).json()["recipients"] == 2
    # The customer answers "İPTAL" before the campaign is sent.
    await wa.home.inbound("İPTAL", channel_id=wa.channel_id, handle="905320000001",
                          phone="+905320000001")
    recipients = await wa.rows(select(CampaignRecipient).where(
        CampaignRecipient.campaign_id == campaign["id"]))
    assert {r.contact_id: (r.state, r.reason) for r in recipients} == {
        first: ("queued", None), second: ("excluded", "opted_out")}
