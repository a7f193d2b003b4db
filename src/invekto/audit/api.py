from __future__ import annotations

import json
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from invekto.audit import service
from invekto.audit.schemas import AuditEventOut, AuditFilters, AuditPage
from invekto.core import tables
from invekto.http.deps import Scoped
from invekto.tenants.models import Tenant

router = APIRouter(tags=["audit"])

Filters = Annotated[AuditFilters, Depends()]
EXPORT_COLUMNS = ("occurred_at", "action", "actor_kind", "actor_name", "actor_id",
                  "target_type", "target_id", "ip", "user_agent", "data", "before", "after")


@router.get("/audit-events", response_model=AuditPage)
async def search_audit_events(ctx: Scoped, filters: Filters, cursor: str | None = None,
                              limit: Annotated[int, Query(ge=1, le=200)] = 50):
    """The company's audit log, newest first; ``action`` ending in a dot matches a domain."""
    items, next_cursor = await service.search(ctx.session, ctx.actor, filters, cursor=cursor,
                                              limit=limit)
    return AuditPage(items=items, next_cursor=next_cursor)


def _export_row(event: AuditEventOut) -> list:
    def as_json(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    return [event.occurred_at, event.action, event.actor_kind, event.actor_name,
            str(event.actor_id or ""), event.target_type or "", str(event.target_id or ""),
            event.ip or "", event.user_agent or "", as_json(event.data), as_json(event.before),
            as_json(event.after)]


@router.get("/audit-events/export")
async def export_audit_events(ctx: Scoped, filters: Filters,
                              format: Annotated[Literal["csv", "xlsx"], Query()] = "csv"
                              ) -> Response:
    """Everything matching the filters as CSV or XLSX (the company's clock); recorded."""
    events = await service.for_export(ctx.session, ctx.actor, filters)
    zone = ZoneInfo((await ctx.session.get_one(Tenant, ctx.actor.tenant_id)).timezone)
    data, media_type = tables.export(format, EXPORT_COLUMNS, map(_export_row, events),
                                     title="audit", zone=zone)
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="audit-log.{format}"',
        "Cache-Control": "no-store"})
