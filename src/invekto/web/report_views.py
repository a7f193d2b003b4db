"""The reports pages (supervisors and admins; the menu's "Reports"): the chat analysis report,
with the hot leads (conversations whose customer showed purchase intent) and each agent's
average quality score, over the last 7, 30 or 90 days. The numbers come from ``ai.analysis``;
every closed conversation is analysed by itself, so the report fills without anyone's help."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from invekto.ai import analysis, quality
from invekto.core.errors import ValidationFailed
from invekto.users import service as users
from invekto.web.rendering import Page, WebPage, render, render_page

router = APIRouter(prefix="/reports", include_in_schema=False)

PERIODS = (7, 30, 90)  # days
HOT_LEADS_SHOWN = 100


def _forbidden_unless_supervisor(request: Request, page: Page) -> HTMLResponse | None:
    """A readable 403 page for an agent who opens a report (an HTMX request gets the JSON
    error, shown as a toast)."""
    if page.ctx.actor.has_role("supervisor"):
        return None
    if request.headers.get("hx-request") == "true":
        page.ctx.actor.require("supervisor")
    return render(request, "settings/forbidden.html", lang=page.lang, page=page,
                  status_code=403, sections=[])


@router.get("")
async def reports_home() -> Response:
    return RedirectResponse("/reports/analysis", status_code=303)


@router.get("/analysis")
async def analysis_report(request: Request, page: WebPage, days: int = 30) -> Response:
    if refused := _forbidden_unless_supervisor(request, page):
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
