"""Reports (``/api/v1/reports/...``): the dashboard's numbers, the agents' table, an agent's own
numbers, the breakdowns by topic (channels, tags, SLA, CSAT, bots, campaigns), and their CSV/XLSX
exports. Every report takes the same query: ``start`` and ``end``
(local dates, inclusive; the last 7 days by default), ``channel_id`` / ``group_id`` /
``user_id`` (repeatable), ``tag``, ``business_hours`` and, for the overview, ``compare``."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from invekto.channels import service as channels
from invekto.core import tables as files
from invekto.core.errors import ValidationFailed
from invekto.http.deps import Scoped
from invekto.reports import breakdowns, service, tables
from invekto.reports.schemas import (
    BreakdownOut,
    BreakdownRowOut,
    ChannelCountsOut,
    CountOut,
    HeatOut,
    OverviewOut,
    ReferralOut,
)
from invekto.routing.service import company_zone

router = APIRouter(tags=["reports"])


def _ids(values: list[str], field: str) -> tuple[uuid.UUID, ...]:
    """The ids given; an empty value is "all" (a form's first option), not an error."""
    try:
        return tuple(uuid.UUID(value) for value in values if value)
    except ValueError as exc:
        raise ValidationFailed("not a valid id", field=field) from exc


async def report_query(ctx: Scoped, start: date | None = None, end: date | None = None,
                       channel_id: Annotated[list[str], Query()] = (),
                       group_id: Annotated[list[str], Query()] = (),
                       user_id: Annotated[list[str], Query()] = (),
                       tag: Annotated[str | None, Query(max_length=50)] = None,
                       business_hours: bool = False) -> service.Query:
    """The query every report takes; the period in the company's days, ending today and
    7 days long unless given."""
    end = end or service.last_days(await company_zone(ctx.session, ctx.actor.tenant_id)).end
    start = start or end - timedelta(days=service.DEFAULT_DAYS - 1)
    return service.Query(service.Period(start, end),
                         service.Filters(_ids(channel_id, "channel_id"),
                                         _ids(group_id, "group_id"),
                                         _ids(user_id, "user_id"), tag or None),
                         business_hours)


ReportQuery = Annotated[service.Query, Depends(report_query)]


def overview_out(overview: service.Overview) -> OverviewOut:
    return OverviewOut(
        start=overview.query.period.start, end=overview.query.period.end,
        business_hours=overview.query.business_hours, refreshed_at=overview.refreshed_at,
        current=overview.current, previous=overview.previous, days=overview.days,
        heatmap=[HeatOut(weekday=weekday, hour=hour, messages_in=count)
                 for (weekday, hour), count in sorted(overview.heatmap.items())],
        channels=[ChannelCountsOut(channel_id=channel_id,
                                   opened=counts.get("conversation_opened", 0),
                                   closed=counts.get("conversation_closed", 0),
                                   messages_in=counts.get("message_in", 0),
                                   messages_out=counts.get("message_out", 0))
                  for channel_id, counts in overview.by_channel.items()],
        tags=[CountOut(name=name, conversations=count) for name, count in overview.tags],
        referrals=[ReferralOut(**vars(referral)) for referral in overview.referrals])


@router.get("/reports/overview", response_model=OverviewOut)
async def overview(ctx: Scoped, query: ReportQuery, compare: bool = True):
    return overview_out(await service.overview(ctx.session, ctx.actor, query, compare=compare))


@router.get("/reports/agents", response_model=list[service.AgentRow])
async def agents(ctx: Scoped, query: ReportQuery):
    return await service.agents(ctx.session, ctx.actor, query)


@router.get("/reports/me", response_model=service.AgentRow)
async def my_numbers(ctx: Scoped, query: ReportQuery):
    """The signed-in person's own row (any role)."""
    [row] = await service.agents(ctx.session, ctx.actor, query, own=True)
    return row


Format = Annotated[Literal["csv", "xlsx"], Query()]


async def export_file(ctx, name: str, fmt: str, sheets: list[tables.Table]) -> Response:
    """CSV: the first table; XLSX: a sheet per table. Dates and times on the company's clock."""
    zone = await company_zone(ctx.session, ctx.actor.tenant_id)
    if fmt == "xlsx":
        data, media_type = files.to_workbook(sheets, zone=zone), files.XLSX_TYPE
    else:
        _title, header, rows = sheets[0]
        data, media_type = files.to_csv(header, rows, zone=zone), files.CSV_TYPE
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


@router.get("/reports/overview/export")
async def export_overview(ctx: Scoped, query: ReportQuery, format: Format = "xlsx"):
    """The dashboard: its summary (CSV), or every table of it as sheets (XLSX)."""
    found = await service.overview(ctx.session, ctx.actor, query)
    names = {c.id: c.name for c in await channels.list_channels(ctx.session, ctx.actor)}
    sheets = tables.overview_tables(found, names, ctx.actor.language)
    period = query.period
    return await export_file(ctx, f"report-{period.start}-{period.end}", format, sheets)


@router.get("/reports/agents/export")
async def export_agents(ctx: Scoped, query: ReportQuery, format: Format = "xlsx"):
    rows = await service.agents(ctx.session, ctx.actor, query)
    period = query.period
    return await export_file(ctx, f"agents-{period.start}-{period.end}", format,
                             [tables.agents(rows, ctx.actor.language)])


Topic = Literal["channels", "tags", "sla", "csat", "bots", "campaigns"]


def _row_out(row: breakdowns.Row) -> BreakdownRowOut:
    return BreakdownRowOut(name=row.name, values=row.values)


@router.get("/reports/breakdowns/{topic}", response_model=BreakdownOut)
async def breakdown(topic: Topic, ctx: Scoped, query: ReportQuery):
    """The numbers by channel, by tag, or day by day for SLA, CSAT and bots; or the
    campaigns started in the period."""
    found = await breakdowns.breakdown(ctx.session, ctx.actor, topic, query)
    return BreakdownOut(topic=topic, start=query.period.start, end=query.period.end,
                        columns=list(found.columns), rows=[_row_out(r) for r in found.rows],
                        total=_row_out(found.total) if found.total else None,
                        distribution=found.distribution)


@router.get("/reports/breakdowns/{topic}/export")
async def export_breakdown(topic: Topic, ctx: Scoped, query: ReportQuery,
                           format: Format = "xlsx"):
    found = await breakdowns.breakdown(ctx.session, ctx.actor, topic, query)
    period = query.period
    return await export_file(ctx, f"{topic}-{period.start}-{period.end}", format,
                             tables.breakdown_tables(found, ctx.actor.language))
