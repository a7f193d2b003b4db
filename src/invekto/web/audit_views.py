"""Settings → Audit log: the company's audit trail, searched by action, person, record, IP and
dates, with each change's before and after values, and an export of what is shown. Everything
goes through ``audit.service``, which checks the "Manage security" permission."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pydantic
from starlette.datastructures import ImmutableMultiDict

from invekto.audit import service
from invekto.audit.schemas import AuditFilters
from invekto.core.errors import ValidationFailed
from invekto.users import service as users
from invekto.web.rendering import Page, error_message

FILTER_FIELDS = ("action", "actor_id", "target_id", "ip")


def _day(params: ImmutableMultiDict, name: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """A date field as the start of that day (or of the next, for the end) on the company's
    clock."""
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed("not a date", field=name) from exc
    return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=zone)


def filters_from(params: ImmutableMultiDict, zone: ZoneInfo) -> AuditFilters:
    values: dict[str, Any] = {name: params[name].strip() for name in FILTER_FIELDS
                              if (params.get(name) or "").strip()}
    try:
        return AuditFilters(**values, since=_day(params, "since", zone, end=False),
                            until=_day(params, "until", zone, end=True))
    except pydantic.ValidationError as exc:
        raise ValidationFailed("this filter is not valid",
                               field=str(exc.errors()[0]["loc"][0])) from exc


async def audit_section(page: Page, params: ImmutableMultiDict) -> dict[str, Any]:
    session, actor = page.ctx.session, page.ctx.actor
    zone = ZoneInfo(page.tenant.timezone)
    chosen = {name: (params.get(name) or "").strip() for name in (*FILTER_FIELDS, "since",
                                                                   "until")}
    error = None
    try:
        filters = filters_from(params, zone)
    except ValidationFailed as exc:
        filters, error = AuditFilters(), error_message(exc, page.lang)
    events, next_cursor = await service.search(session, actor, filters,
                                               cursor=params.get("cursor") or None, limit=50)
    query = {name: value for name, value in chosen.items() if value}
    return {
        "events": events, "chosen": chosen, "filter_error": error,
        "actions": await service.actions_seen(session, actor),
        "people": await users.list_users(session, actor, include_inactive=True),
        "older_url": (f"/settings/audit?{urlencode({**query, 'cursor': next_cursor})}"
                      if next_cursor else None),
        "export_query": urlencode({**query_filters(filters)}),
    }


def query_filters(filters: AuditFilters) -> dict[str, str]:
    """The filters as the API's export takes them."""
    return {name: value.isoformat() if isinstance(value, datetime) else str(value)
            for name, value in filters.model_dump(exclude_none=True).items()}
