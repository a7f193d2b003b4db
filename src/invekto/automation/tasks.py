"""Jobs of the automation domain: the minute scan for timers and schedules, and the webhooks
rules call (outside the transaction that fired them, retried with backoff)."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime

import httpx
import procrastinate
import structlog

from invekto import runtime
from invekto.automation import service
from invekto.core import outbound
from invekto.core.crypto import secret_box

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()

SIGNATURE_HEADER = "X-Invekto-Signature"
WEBHOOK_TIMEOUT_SECONDS = 10
# Retries after the first attempt, waiting 3, 9, 27, 81 and 243 seconds: about six minutes.
WEBHOOK_RETRIES = 5


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="tick", queue="default", queueing_lock="automation.tick")
async def tick(timestamp: int) -> int:
    """Every minute: rules waiting for a silence (no customer / no agent reply for N minutes)
    and scheduled rules whose minute came (decisions/0016)."""
    return await run_tick(datetime.now(UTC))


async def run_tick(now: datetime, *, tenant_id: uuid.UUID | None = None) -> int:
    """One scan at ``now`` (tests move it; ``tenant_id``: one company's only): listed across
    companies, then each fired in its company's scope, checked again there. One company's
    failure is logged and does not stop the others'. Returns how many it acted on."""
    db = runtime.current().db
    acted = 0
    async with db.system_session() as session:
        timers = await service.due_timers(session, now=now, tenant_id=tenant_id)
    for due in timers:
        try:
            async with db.tenant_session(due.tenant_id) as session:
                acted += await service.fire_timer(session, due, now=now)
        except Exception:
            log.exception("automation.timer_failed", rule_id=str(due.rule_id),
                          conversation_id=str(due.conversation_id))
    async with db.system_session() as session:
        schedules = await service.due_schedules(session, now=now, tenant_id=tenant_id)
    for company, rule_id, due_at in schedules:
        try:
            async with db.tenant_session(company) as session:
                acted += await service.run_schedule(session, company, rule_id, due_at, now=now)
        except Exception:
            log.exception("automation.schedule_failed", rule_id=str(rule_id))
    if acted:
        log.info("automation.ticked", count=acted)
    return acted


class WebhookUnavailable(Exception):
    """Raised to have procrastinate try a webhook again later."""


@blueprint.task(name="call_webhook", queue="default", pass_context=True,
                retry=procrastinate.RetryStrategy(max_attempts=WEBHOOK_RETRIES,
                                                  exponential_wait=3,
                                                  retry_exceptions={WebhookUnavailable}))
async def call_webhook(context: procrastinate.JobContext, tenant_id: str, run_id: str,
                       index: int, url: str, body: str, sealed_secret: str | None = None
                       ) -> str:
    """POST a rule's JSON to its webhook; the run's entry for the action records the answer.
    A timeout, a network error, 429 or a 5xx is tried again; another 4xx is final."""
    attempt = context.job.attempts if context.job else 0
    outcome = await deliver_webhook(tenant_id=uuid.UUID(tenant_id), run_id=uuid.UUID(run_id),
                                    index=index, url=url, body=body,
                                    sealed_secret=sealed_secret, attempt=attempt,
                                    final=attempt >= WEBHOOK_RETRIES)
    if outcome == "retry":
        raise WebhookUnavailable(url)
    return outcome


def signature(secret: str, body: str, timestamp: int) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: the receiver recomputes it with
    the shared secret and refuses old timestamps (replays)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


async def deliver_webhook(*, tenant_id: uuid.UUID, run_id: uuid.UUID, index: int, url: str,
                          body: str, sealed_secret: str | None, attempt: int = 0,
                          final: bool = True) -> str:
    """One attempt: "done", "failed" (final), or "retry" (the job raises for its retry)."""
    headers = {"Content-Type": "application/json; charset=utf-8",
               "User-Agent": "Invekto-Webhook/1"}
    if sealed_secret:
        secret = secret_box().decrypt_json(sealed_secret)["secret"]
        headers[SIGNATURE_HEADER] = signature(secret, body, int(time.time()))
    try:
        async with outbound.client(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
            response = await client.post(url, content=body.encode(), headers=headers)
    except outbound.RefusedAddress as exc:
        # Final: the address is not one we call (its name may point elsewhere later, but
        # retrying for six minutes would not make it ours to call).
        outcome, detail = "failed", str(exc)[:300]
    except httpx.HTTPError as exc:
        outcome, detail = "retry", f"{type(exc).__name__}: {exc}"[:300]
    else:
        detail = f"HTTP {response.status_code}"
        outcome = ("done" if response.is_success else "retry"
                   if response.status_code in (408, 429) or response.status_code >= 500
                   else "failed")
    if outcome == "retry" and final:
        outcome = "failed"
    status = {"done": "done", "failed": "failed", "retry": "queued"}[outcome]
    if outcome == "retry":
        detail = f"attempt {attempt + 1} failed ({detail}); trying again"
    async with runtime.current().db.tenant_session(tenant_id) as session:
        await service.record_webhook_result(session, tenant_id, run_id, index, status=status,
                                            detail=detail)
    log.info("automation.webhook", run_id=str(run_id), outcome=outcome, detail=detail)
    return outcome
