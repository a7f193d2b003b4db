"""The reports pages (supervisors and admins; the menu's "Reports"): the chat analysis report,
with the hot leads (conversations whose customer showed purchase intent) and each agent's
average quality score, over the last 7, 30 or 90 days. The numbers come from ``ai.analysis``;
every closed conversation is analysed by itself, so the report fills without anyone's help."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from invekto.ai import analysis, quality
from invekto.core.errors import ValidationFailed
from invekto.users import service as users
from invekto.web.automation_views import forbidden_unless_supervisor
from invekto.web.rendering import WebPage, render_page

router = APIRouter(prefix="/reports", include_in_schema=False)

PERIODS = (7, 30, 90)  # days
HOT_LEADS_SHOWN = 100




@router.get("")
async def reports_home() -> Response:
    return RedirectResponse("/reports/analysis", status_code=303)


@router.get("/analysis")
async def analysis_report(request: Request, page: WebPage, days: int = 30) -> Response:
    if refused := forbidden_unless_supervisor(request, page, in_settings=False):
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
