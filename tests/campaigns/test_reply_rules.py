"""A customer answering a broadcast raises "campaign replied" for the company's rules, through
the real path: the campaign sent, the reply ingested from Meta's webhook."""

from __future__ import annotations

import uuid

from tests.automation.conftest import make_rule, runs


async def test_a_reply_to_a_campaign_fires_the_rules_for_that_campaign(wa):
    await wa.contacts(2, tags=["vip"])
    campaign = await wa.create()
    assert (await wa.post(f"/api/v1/campaigns/{campaign['id']}/send")).status_code == 200
    assert await wa.dispatch(campaign["id"]) == 2
    note = [{"type": "add_note", "body": "kampanyaya yanıt"}]
    this_one = await make_rule(wa.home, event="campaign_replied",
                               event_options={"campaign_id": campaign["id"]}, actions=note)
    another = await make_rule(wa.home, event="campaign_replied",
                              event_options={"campaign_id": str(uuid.uuid4())}, actions=note)
    sent = wa.simulator.state.sent
    await wa.customer_writes("Bu fırsat hâlâ geçerli mi?", wa_id=sent[0].body["to"])
    (run,) = await runs(wa.home, this_one["id"])
    replied = next(r for r in await wa.recipients(campaign["id"]) if r.state == "replied")
    assert (run.event, run.conversation_id, run.status) == (
        "campaign_replied", replied.conversation_id, "done")
    assert await runs(wa.home, another["id"]) == []
