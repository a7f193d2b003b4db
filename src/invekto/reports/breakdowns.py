"""The reports by topic: the dashboard's numbers split by channel, by tag or by day for service
levels (SLA), satisfaction (CSAT) and bots, and the campaigns sent in the period. Each is a
``Breakdown``: rows of a name and the tiles' numbers (``service.Kpis``) for the rows' share of
the sums, so a row's "SLA met" is computed exactly as the dashboard's tile is.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.campaigns import service as campaigns
from invekto.campaigns.models import Campaign, CampaignRecipient
from invekto.channels.models import Channel
from invekto.core.actor import Actor
from invekto.core.errors import NotFound
from invekto.core.i18n import N_
from invekto.reports import service
from invekto.reports import timeline as t
from invekto.reports.models import ReportFact
from invekto.reports.service import Kpis, Query, Sum

TOPICS = ("channels", "tags", "sla", "csat", "bots", "campaigns")
TITLES = {"channels": N_("Channels"), "tags": N_("Tags"), "sla": N_("Service levels (SLA)"),
          "csat": N_("Satisfaction (CSAT)"), "bots": N_("Bots"), "campaigns": N_("Campaigns")}

# Which tiles each topic shows per row (keys of ``tables.KPIS``).
_CONVERSATION_COLUMNS = ("opened", "closed", "messages_in", "messages_out",
                         "first_response_average", "resolution_average", "csat_average",
                         "sla_met_rate", "bot_containment_rate")
COLUMNS = {
    "channels": _CONVERSATION_COLUMNS,
    "tags": _CONVERSATION_COLUMNS,
    "sla": ("sla_first_response_met", "sla_first_response_breached", "sla_resolution_met",
            "sla_resolution_breached", "sla_met_rate"),
    "csat": ("csat_asked", "csat_answers", "csat_response_rate", "csat_average"),
    "bots": ("bot_handled", "bot_contained", "bot_handoffs", "bot_containment_rate",
             "bot_handoff_rate"),
}


@dataclass(frozen=True)
class Row:
    name: str | date
    values: dict[str, Any]  # column key -> number (None: nothing to divide or average)


@dataclass(frozen=True)
class Breakdown:
    topic: str
    query: Query
    name_label: str  # the first column's header
    columns: tuple[str, ...]
    rows: list[Row]
    total: Row | None = None
    # A second table where a topic has one: the scores' distribution, for CSAT.
    distribution: list[tuple[int, int]] = field(default_factory=list)


async def breakdown(session: AsyncSession, actor: Actor, topic: str, query: Query
                    ) -> Breakdown:
    """The ``topic``'s report over ``query``'s period and filters (supervisors and admins)."""
    if topic not in TOPICS:
        raise NotFound("no such report")
    scope = await service.scope_for(session, actor)
    await service.bring_up_to_date(session, scope.tenant_id)
    if topic == "campaigns":
        return await _campaigns(session, actor, scope, query)
    by = {"channels": "channel", "tags": "tag"}.get(topic, "day")
    found = await service.sums(session, scope, query, service.OVERVIEW_KINDS, by=(by,))
    shares: dict[Any, dict[tuple, Sum]] = defaultdict(dict)
    for key, value in found.items():
        shares[key[2]][key] = value
    if topic == "channels":
        names = dict((await session.execute(select(Channel.id, Channel.name).where(
            Channel.tenant_id == actor.tenant_id))).all())
        rows = [Row(names.get(channel_id, "—"), _values(topic, query, share))
                for channel_id, share in shares.items()]
        rows.sort(key=lambda row: str(row.name).casefold())
        name_label = N_("Channel")
    elif topic == "tags":
        rows = sorted((Row(tag, _values(topic, query, share)) for tag, share in shares.items()),
                      key=lambda row: (-row.values["opened"], str(row.name)))
        name_label = N_("Tag")
    else:  # a row per day of the period, days with nothing included
        rows = [Row(day, _values(topic, query, shares.get(day, {})))
                for day in (query.period.start + timedelta(days=n)
                            for n in range(query.period.days))]
        name_label = N_("Day")
    total = None if topic == "tags" else Row(N_("Total"), _values(topic, query, found))
    distribution = await _scores(session, scope, query) if topic == "csat" else []
    return Breakdown(topic, query, name_label, COLUMNS[topic], rows, total, distribution)


def _values(topic: str, query: Query, found: dict[tuple, Sum]) -> dict[str, Any]:
    tiles: Kpis = service.kpis(query, found, {})

    def count(kind: str, detail: str | None = None) -> int:
        return service.total(found, kind, detail=detail).count

    extra = {
        "sla_first_response_met": count(t.SLA_MET, "first_response"),
        "sla_first_response_breached": count(t.SLA_BREACHED, "first_response"),
        "sla_resolution_met": count(t.SLA_MET, "resolution"),
        "sla_resolution_breached": count(t.SLA_BREACHED, "resolution"),
        "csat_asked": count(t.CSAT_ASKED), "csat_answers": count(t.CSAT_ANSWERED),
        "bot_contained": count(t.BOT_CONTAINED), "bot_handoffs": count(t.BOT_HANDOFF),
    }
    every = {**vars(tiles), **extra}
    return {column: every[column] for column in COLUMNS[topic]}


async def _scores(session: AsyncSession, scope: service.Scope, query: Query
                  ) -> list[tuple[int, int]]:
    """How many surveys were answered with each score (from the facts: a score is a value,
    not a sum)."""
    start, end = query.period.bounds(scope.zone)
    f = ReportFact
    statement = service.of_tagged(select(f.value, func.count()).where(
        f.tenant_id == scope.tenant_id, f.kind == t.CSAT_ANSWERED, f.at >= start, f.at < end,
        *service.filter_conditions(f, scope, query.filters)).group_by(f.value),
        scope, query.filters.tag)
    return sorted((int(score), count) for score, count in await session.execute(statement)
                  if score is not None)


CAMPAIGN_COLUMNS = ("recipients", "sent", "delivered", "read", "replied", "failed",
                    "delivered_rate", "read_rate", "replied_rate")


async def _campaigns(session: AsyncSession, actor: Actor, scope: service.Scope,
                     query: Query) -> Breakdown:
    """The campaigns started in the period (on the filtered channels), with how far their
    messages got; rates are shares of the messages the provider took."""
    start, end = query.period.bounds(scope.zone)
    statement = select(Campaign).where(
        Campaign.tenant_id == actor.tenant_id, Campaign.started_at >= start,
        Campaign.started_at < end).order_by(Campaign.started_at)
    if query.filters.channel_ids:
        statement = statement.where(Campaign.channel_id.in_(query.filters.channel_ids))
    started = list((await session.scalars(statement)).all())
    states: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    if started:
        for campaign_id, state, count in await session.execute(select(
                CampaignRecipient.campaign_id, CampaignRecipient.state, func.count()).where(
                CampaignRecipient.tenant_id == actor.tenant_id,
                CampaignRecipient.campaign_id.in_([c.id for c in started]),
                CampaignRecipient.state != "excluded").group_by(
                CampaignRecipient.campaign_id, CampaignRecipient.state)):
            states[campaign_id][state] = count
    rows = [Row(c.name, _campaign_values(states[c.id])) for c in started]
    everything: dict[str, int] = defaultdict(int)
    for counted in states.values():
        for state, count in counted.items():
            everything[state] += count
    return Breakdown("campaigns", query, N_("Campaign"), CAMPAIGN_COLUMNS, rows,
                     Row(N_("Total"), _campaign_values(everything)) if rows else None)


def _campaign_values(states: dict[str, int]) -> dict[str, Any]:
    reached = campaigns.reached(states)
    taken = reached["sent"]
    return {"recipients": sum(states.values()), **reached,
            **{f"{step}_rate": service.rate(reached[step], taken)
               for step in ("delivered", "read", "replied")}}

