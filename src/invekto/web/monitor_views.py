"""The supervisors' live monitor: every agent's presence and the conversations they hold."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import Response

from invekto.contacts import service as contacts
from invekto.inbox import service as inbox
from invekto.inbox.schemas import ConversationFilters
from invekto.routing import service as routing
from invekto.web.inbox_views import COUNT_CAP, Directory
from invekto.web.rendering import WebPage, render_page

router = APIRouter(prefix="/monitor", include_in_schema=False)
_PRESENCE_ORDER = {"online": 0, "away": 1, "offline": 2}


async def _context(page: WebPage) -> dict:
    session, actor = page.ctx.session, page.ctx.actor
    held = await inbox.workload(session, actor)
    by_agent = defaultdict(list)
    for conversation in held:
        by_agent[conversation.assignee_id].append(conversation)
    directory = await Directory.load(page)
    agents = sorted(directory.active_users, key=lambda u: (_PRESENCE_ORDER[u.presence],
                                                          -len(by_agent[u.id]),
                                                          u.display_name.casefold()))
    return {
        "agents": agents, "by_agent": by_agent, "directory": directory,
        "contacts": await contacts.get_contacts(session, actor, [c.contact_id for c in held]),
        "unassigned": await inbox.count_conversations(
            session, actor, ConversationFilters(status="open", assignee="none"), cap=COUNT_CAP),
        "queues": await routing.queue_lengths(session, actor),
    }


@router.get("")
async def monitor_page(request: Request, page: WebPage) -> Response:
    return render_page(request, page, "monitor.html", **await _context(page))


@router.get("/board")
async def monitor_board(request: Request, page: WebPage) -> Response:
    return render_page(request, page, "_monitor_board.html", **await _context(page))
