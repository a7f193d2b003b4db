"""The weekly summary's content: last week's tiles against the week before and the busiest
agents, from ``reports.service`` (the dashboard's own numbers, formatted as the dashboard
formats them), as an HTML body with inline styles (mail programs ignore style sheets) and a
plain-text one. Everything shown is escaped (the HTML template autoescapes)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from babel import dates as babel_dates
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.config import get_settings
from invekto.core import i18n
from invekto.core.actor import Actor
from invekto.reports import service as reports
from invekto.reports import tables
from invekto.tenants import service as tenants

TOP_AGENTS = 5
# Always in the e-mail, even at zero: the week's volume. The other tiles only when either
# week has a number (a company without calls or bots is not told "0 calls" every Monday).
ALWAYS_SHOWN = ("opened", "closed", "reopened", "messages_in", "messages_out")
# The e-mail compares week with week, and the reports compute no medians for the period
# before (``reports.service.kpis``): the median tiles would always say "—" there.
LEFT_OUT = frozenset(kpi.key for kpi in tables.KPIS if kpi.key.endswith("_median"))

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    keep_trailing_newline=True)


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    current: str
    previous: str
    trend: str  # "up", "down" or "" (same, or nothing to compare)
    verdict: str  # "good", "bad" or "" (neither way is better, or no change)


@dataclass(frozen=True)
class AgentLine:
    name: str
    messages: str
    conversations: str
    closed: str
    first_response: str


@dataclass(frozen=True)
class Summary:
    subject: str
    text: str
    html: str


def week_period(week_start: date) -> reports.Period:
    return reports.Period(week_start, week_start + timedelta(days=6))


def week_label(week_start: date, language: str) -> str:
    """"16–22 Kasım 2026", "30 November – 6 December 2026", "28 Aralık 2026 – 3 Ocak 2027"."""
    end = week_start + timedelta(days=6)

    def shown(day: date, pattern: str) -> str:
        return babel_dates.format_date(day, pattern, locale=language)

    if week_start.month == end.month:
        return f"{week_start.day}–{shown(end, 'd MMMM y')}"
    if week_start.year == end.year:
        return f"{shown(week_start, 'd MMMM')} – {shown(end, 'd MMMM y')}"
    return f"{shown(week_start, 'd MMMM y')} – {shown(end, 'd MMMM y')}"


def shown(fmt: i18n.Formatter, value: float | None, unit: tables.Unit) -> str:
    """A tile's number as the dashboard shows it (reports/_tabs.html ``shown``)."""
    if value is None:
        return "—"
    if unit == "seconds":
        return fmt.duration(value)
    if unit == "rate":
        return fmt.percent(value)
    if unit == "score":
        return fmt.number(round(value, 2))
    return fmt.number(value)


def tiles(overview: reports.Overview, fmt: i18n.Formatter) -> list[Tile]:
    found = []
    for kpi in tables.KPIS:
        if kpi.key in LEFT_OUT:
            continue
        current = getattr(overview.current, kpi.key)
        previous = getattr(overview.previous, kpi.key) if overview.previous else None
        if kpi.key not in ALWAYS_SHOWN and not current and not previous:
            continue
        trend = verdict = ""
        if current is not None and previous is not None and current != previous:
            trend = "up" if current > previous else "down"
            if kpi.better:
                verdict = "good" if (trend == "up") == (kpi.better == "higher") else "bad"
        found.append(Tile(kpi.key, i18n.text(fmt.language, kpi.label),
                          shown(fmt, current, kpi.unit), shown(fmt, previous, kpi.unit),
                          trend, verdict))
    return found


def top_agents(rows: list[reports.AgentRow], fmt: i18n.Formatter) -> list[AgentLine]:
    """The agents who sent the most messages in the week (at most ``TOP_AGENTS``)."""
    busiest = sorted((row for row in rows if row.messages),
                     key=lambda row: (-row.messages, row.name))[:TOP_AGENTS]
    return [AgentLine(row.name, fmt.number(row.messages), fmt.number(row.conversations),
                      fmt.number(row.closed), fmt.duration(row.first_response_average))
            for row in busiest]


def dashboard_url(period: reports.Period) -> str | None:
    """The dashboard for the week, where this app is reached (``INVEKTO_PUBLIC_URL``); None
    when that is not configured (a job knows no request to take it from)."""
    base = get_settings().public_url
    if not base:
        return None
    return f"{base.rstrip('/')}/reports?" + urlencode({"start": period.start.isoformat(),
                                                       "end": period.end.isoformat()})


def one_line(value: str) -> str:
    """A name as a header may carry it: no line breaks (they would start a new header)."""
    return re.sub(r"\s+", " ", value).strip()


def render(name: str, language: str, **context: Any) -> str:
    """A template of ``templates/`` in ``language``: ``_()`` translates (values escaped in
    HTML, as on the pages)."""
    html = name.endswith(".html")

    def translate(message: str, **values: object) -> str | Markup:
        translated = i18n.text(language, message)
        if not values:
            return translated
        return escape(translated) % values if html else translated % values

    return _environment.get_template(name).render(_=translate, lang=language, **context)


async def build(session: AsyncSession, tenant_id: uuid.UUID, week_start: date,
                language: str) -> Summary:
    """The summary of the week from ``week_start`` (a Monday) for the company, as its admins'
    dashboard would show it (the whole company, elapsed time)."""
    tenant = await tenants.get(session, tenant_id)
    actor = Actor.system(tenant_id)
    period = week_period(week_start)
    query = reports.Query(period)
    overview = await reports.overview(session, actor, query)
    agents = await reports.agents(session, actor, query)
    fmt = i18n.Formatter(language, tenant.timezone)
    week = week_label(week_start, language)
    context = {
        "company": one_line(tenant.name), "week": week,
        "previous_week": week_label(week_start - timedelta(days=7), language),
        "tiles": tiles(overview, fmt), "agents": top_agents(agents, fmt),
        "dashboard_url": dashboard_url(period),
    }
    return Summary(subject=i18n.text(language, "Invekto weekly summary: %(week)s", week=week),
                   text=render("summary.txt", language, **context),
                   html=render("summary.html", language, **context))
