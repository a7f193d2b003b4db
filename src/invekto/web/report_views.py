"""The reports pages (the menu's "Reports"): the dashboard (tiles against the previous period,
the day-by-day chart, the weekly heatmap, channels, tags, referrals and a live "now" panel),
the agents' table, a person's own numbers, the breakdowns by topic (channels, tags, SLA, CSAT,
bots, campaigns) and the chat analysis report. Supervisors and
admins see the company; an agent, their own page. The numbers come from ``reports.service``
(docs/metrics.md); the exports are the API's (``/api/v1/reports/.../export``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from invekto.ai import analysis, quality
from invekto.channels import service as channels
from invekto.contacts import service as contacts
from invekto.core.actor import Permission
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.reports import breakdowns, tables
from invekto.reports import service as reports
from invekto.reports.api import ReportQuery
from invekto.users import service as users
from invekto.web.automation_views import forbidden_unless
from invekto.web.rendering import WebPage, render_page

router = APIRouter(prefix="/reports", include_in_schema=False)

PERIODS = (7, 30, 90)  # days, for the chat analysis
HOT_LEADS_SHOWN = 100
WEEKDAYS = range(1, 8)  # ISO: Monday first, as in Turkey


def presets(today: date) -> list[tuple[str, date, date]]:
    """The date range picker's shortcuts (label, first day, last day)."""
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    return [(N_("Today"), today, today),
            (N_("Yesterday"), today - timedelta(days=1), today - timedelta(days=1)),
            (N_("Last 7 days"), today - timedelta(days=6), today),
            (N_("Last 30 days"), today - timedelta(days=29), today),
            (N_("This month"), first_of_month, today),
            (N_("Last month"), last_month_end.replace(day=1), last_month_end)]


def query_string(query: reports.Query, **changes) -> str:
    """The query as URL parameters (the filters kept, ``changes`` applied)."""
    values: dict = {"start": query.period.start, "end": query.period.end,
                    "channel_id": list(query.filters.channel_ids),
                    "group_id": list(query.filters.group_ids),
                    "user_id": list(query.filters.user_ids),
                    "tag": query.filters.tag or "",
                    "business_hours": "true" if query.business_hours else ""}
    values.update(changes)
    return urlencode({k: v for k, v in values.items() if v not in ("", [], None)}, doseq=True)


async def _choices(page: WebPage) -> dict:
    session, actor = page.ctx.session, page.ctx.actor
    return {"channels": await channels.list_channels(session, actor),
            "groups": await users.list_groups(session, actor),
            "people": await users.list_users(session, actor, include_inactive=True),
            "tags": await contacts.list_tags(session, actor)}


def _presets(page: WebPage) -> list[tuple[str, date, date]]:
    """The shortcuts, from today on the company's clock."""
    return presets(reports.last_days(ZoneInfo(page.tenant.timezone)).end)


@router.get("")
async def dashboard(request: Request, page: WebPage, query: ReportQuery) -> Response:
    if not page.ctx.actor.can(Permission.SEE_REPORTS):
        return RedirectResponse("/reports/me", status_code=303)
    found = await reports.overview(page.ctx.session, page.ctx.actor, query)
    choices = await _choices(page)
    maximum = max(found.heatmap.values(), default=0)
    return render_page(
        request, page, "reports/overview.html", overview=found, query=query,
        kpis=tables.KPIS, kpi_value=tables.kpi_value, presets=_presets(page),
        query_string=query_string, weekdays=WEEKDAYS, heat_max=maximum,
        channel_names={c.id: c.name for c in choices["channels"]}, **choices)


@router.get("/now")
async def now_panel(request: Request, page: WebPage) -> Response:
    if refused := forbidden_unless(request, page, Permission.SEE_REPORTS, in_settings=False):
        return refused
    found = await reports.now(page.ctx.session, page.ctx.actor)
    return render_page(request, page, "reports/_now.html", now=found)


AGENT_SORTS = ("name", *(field for field, _label, _unit in tables.AGENT_COLUMNS))


@router.get("/agents")
async def agents_page(request: Request, page: WebPage, query: ReportQuery,
                      sort: str = "messages", desc: bool = True) -> Response:
    if refused := forbidden_unless(request, page, Permission.SEE_REPORTS, in_settings=False):
        return refused
    if sort not in AGENT_SORTS:
        raise ValidationFailed("unknown column to sort by", field="sort")
    rows = await reports.agents(page.ctx.session, page.ctx.actor, query)
    # Missing numbers (nothing to average) sort last either way.
    present = sorted((r for r in rows if getattr(r, sort) is not None),
                     key=lambda r: (getattr(r, sort), r.name.casefold()), reverse=desc)
    rows = present + [r for r in rows if getattr(r, sort) is None]
    headers = [("name", N_("Agent")), *((f, label) for f, label, _unit in tables.AGENT_COLUMNS)]
    return render_page(request, page, "reports/agents.html", rows=rows, query=query,
                       columns=tables.AGENT_COLUMNS, column_headers=headers, cell=tables.cell,
                       sort=sort, desc=desc,
                       presets=_presets(page), query_string=query_string,
                       **await _choices(page))


@router.get("/me")
async def my_numbers(request: Request, page: WebPage, query: ReportQuery) -> Response:
    [row] = await reports.agents(page.ctx.session, page.ctx.actor, query, own=True)
    return render_page(request, page, "reports/me.html", row=row, query=query,
                       columns=tables.AGENT_COLUMNS, presets=_presets(page),
                       query_string=query_string)


@router.get("/analysis")
async def analysis_report(request: Request, page: WebPage, days: int = 30) -> Response:
    if refused := forbidden_unless(request, page, Permission.SEE_REPORTS, in_settings=False):
        return refused
    if days not in PERIODS:
        raise ValidationFailed("choose a period of 7, 30 or 90 days", field="days")
    session, actor = page.ctx.session, page.ctx.actor
    until = datetime.now(UTC)
    since = until - timedelta(days=days)
    leads = await analysis.hot_leads(session, actor, since=since, limit=HOT_LEADS_SHOWN)
    averages = await analysis.agent_averages(session, actor, since=since, until=until)
    names = {user.id: user.display_name
             for user in await users.list_users(session, actor, include_inactive=True)}
    return render_page(request, page, "reports/analysis.html", leads=leads, averages=averages,
                       names=names, criteria=quality.CRITERIA, days=days, periods=PERIODS)


@router.get("/{topic}")
async def breakdown_page(request: Request, topic: str, page: WebPage, query: ReportQuery
                         ) -> Response:
    """A breakdown (``reports.breakdowns``): its table as the export holds it, and its total."""
    if refused := forbidden_unless(request, page, Permission.SEE_REPORTS, in_settings=False):
        return refused
    found = await breakdowns.breakdown(page.ctx.session, page.ctx.actor, topic, query)
    [main, *more] = tables.breakdown_tables(found, page.lang)
    return render_page(request, page, "reports/breakdown.html", found=found, query=query,
                       table=main, more=more, units=[tables.COLUMNS[key][1]
                                                     for key in found.columns],
                       title=breakdowns.TITLES[topic], presets=_presets(page),
                       query_string=query_string, **await _choices(page))
