"""Zoho CRM's jobs: pushing one changed contact, and pulling each company's changed records."""

from __future__ import annotations

import uuid

import procrastinate
import structlog

from invekto import runtime
from invekto.integrations.zoho import sync

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()

# Zoho unavailable or rate limiting: tried again with growing waits (procrastinate's
# exponential_wait) for about an hour before the change waits for the contact's next one.
PUSH_ATTEMPTS = 8


class ZohoUnavailable(Exception):
    """Raised to have procrastinate push the contact again later."""


@blueprint.task(name="push_contact", queue="default",
                retry=procrastinate.RetryStrategy(max_attempts=PUSH_ATTEMPTS, exponential_wait=4,
                                                  retry_exceptions={ZohoUnavailable}))
async def push_contact(tenant_id: str, contact_id: str) -> str:
    """Send one contact's mapped values to Zoho CRM (deferred with each change, one waiting job
    per contact: the queueing lock ``zoho.push.<contact>``)."""
    company = uuid.UUID(tenant_id)
    async with runtime.current().db.tenant_session(company) as session:
        outcome = await sync.push(session, company, uuid.UUID(contact_id))
    if outcome == "retry":
        raise ZohoUnavailable(contact_id)
    return outcome


@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(name="pull_zoho_changes", queue="default", queueing_lock="zoho.pull")
async def pull_zoho_changes(timestamp: int) -> int:
    """Every five minutes: each company's records changed in Zoho CRM since its last pull.
    Returns how many contacts were created or changed."""
    db = runtime.current().db
    async with db.system_session() as session:
        companies = await sync.pull_tenants(session)
    applied = 0
    for company in companies:
        try:
            async with db.tenant_session(company) as session:
                applied += await sync.pull(session, company)
        except Exception:
            # One company's pull that breaks (a bug) must not keep the others' from running.
            log.exception("zoho.pull_crashed", tenant_id=str(company))
    return applied
