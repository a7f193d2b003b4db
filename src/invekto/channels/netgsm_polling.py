"""Netgsm does not push: every minute we ask it for each active ``sms_netgsm`` channel's inbound
SMS and for the delivery reports of its recent sends, and store what it says through the webhook
intake (`intake.store`) as if it had been pushed. The ingest job then does the rest exactly as
for a webhook: contacts, conversations, messages, the SMS opt-out words, statuses; and the
intake's body hash plus the messages' unique provider ids make a second poll of the same thing
a no-op.

* Inbound (``GET /sms/rest/v2/inbox``): always with a date window, so nothing is consumed on
  Netgsm's side. The window runs from the last poll (less `OVERLAP`, for messages Netgsm lists a
  little late) to now. Where the last poll ended is kept in the channel's settings JSON
  (``poll_inbox_until``, no migration needed): after a worker outage the next poll catches up,
  at most `CATCH_UP` back. Windows overlap on purpose; each message is one delivery whose body
  is its canonical JSON, and its provider id a hash of (sender, datetime, message), so a
  message polled again adds nothing.
* Reports (``POST /sms/rest/v2/report``, 10 queries a minute per account): at most one query a
  minute per channel (its time kept in the channel's settings, ``poll_reports_at``, taken under
  a row lock so two polls at once cannot both query), for up to `REPORT_PAGE` of the channel's
  messages still ``sent`` from the last `REPORT_LOOKBACK`, newest first. Only final statuses
  are stored (delivered, or one that is certainly a failure); the others are asked about again.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.channels import intake
from invekto.channels import service as channels
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import ChannelAccount
from invekto.channels.adapters.netgsm import (
    REPORT_PAGE,
    NetgsmAdapter,
    PollFailed,
    delivery_body,
    inbox_delivery,
    national_number,
    report_delivery,
)
from invekto.channels.models import Channel
from invekto.channels.service import WebhookChannel
from invekto.db.session import Database
from invekto.inbox import service as inbox

log = structlog.get_logger(__name__)

KIND = "sms_netgsm"
INBOX_CURSOR = "poll_inbox_until"  # settings key: the end of the last inbox window polled
REPORTS_AT = "poll_reports_at"  # settings key: when the channel's reports were last queried
OVERLAP = timedelta(minutes=10)
FIRST_WINDOW = timedelta(hours=1)  # a new channel's first look back
CATCH_UP = timedelta(days=2)
CLOCK_SKEW = timedelta(minutes=2)  # the window's end is a little ahead of our clock
# "Once a minute", with room for the periodic job starting a few seconds early or late.
REPORT_EVERY = timedelta(seconds=55)
REPORT_LOOKBACK = timedelta(days=2)


@dataclass
class PollResult:
    inbound: int = 0  # new inbound deliveries stored
    statuses: int = 0  # new final statuses stored
    reports_queried: bool = False
    errors: list[str] = field(default_factory=list)


async def channels_to_poll(db: Database) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant id, channel id) of every active Netgsm channel, across tenants."""
    async with db.system_session() as session:
        rows = await session.execute(select(Channel.tenant_id, Channel.id).where(
            Channel.kind == KIND, Channel.is_active.is_(True)).order_by(Channel.id))
        return [(tenant_id, channel_id) for tenant_id, channel_id in rows]


async def poll_all(db: Database, *, now: datetime | None = None) -> int:
    """Poll every active Netgsm channel, one after the other; a channel that fails is logged and
    the others still polled. Returns how many were polled without error."""
    polled = 0
    for tenant_id, channel_id in await channels_to_poll(db):
        try:
            result = await poll_channel(db, tenant_id, channel_id, now=now)
        except Exception:  # one channel's trouble must not starve the others
            log.exception("netgsm.poll_crashed", channel_id=str(channel_id))
            continue
        polled += not result.errors
    return polled


async def poll_channel(db: Database, tenant_id: uuid.UUID, channel_id: uuid.UUID, *,
                       now: datetime | None = None) -> PollResult:
    """Ask Netgsm for the channel's new inbound SMS and its sends' delivery reports, and store
    them for the ingest job. ``now``: the poll's time (the windows' end)."""
    now = now or datetime.now(UTC)
    result = PollResult()
    adapter = adapter_for(KIND)
    if not isinstance(adapter, NetgsmAdapter):
        return result
    async with db.tenant_session(tenant_id) as session:
        channel = await session.scalar(select(Channel).where(
            Channel.tenant_id == tenant_id, Channel.id == channel_id, Channel.kind == KIND,
            Channel.is_active.is_(True)))
        if channel is None:
            return result  # deleted or switched off since it was listed
        account = channels.account_of(channel)
    target = WebhookChannel(tenant_id, channel_id, KIND, account.credentials)
    await _poll_inbox(db, adapter, account, target, now, result)
    await _poll_reports(db, adapter, account, target, now, result)
    return result


async def _poll_inbox(db: Database, adapter: NetgsmAdapter, account: ChannelAccount,
                      target: WebhookChannel, now: datetime, result: PollResult) -> None:
    last = _time(account.settings.get(INBOX_CURSOR))
    start = max(last - OVERLAP if last else now - FIRST_WINDOW, now - CATCH_UP)
    try:
        messages = await adapter.fetch_inbox(account, start, now + CLOCK_SKEW)
    except PollFailed as exc:
        log.warning("netgsm.inbox_failed", channel_id=str(target.channel_id), code=exc.code,
                    detail=exc.detail)
        result.errors.append(f"inbox: {exc}")
        return  # the cursor stays: the next poll asks for this window again
    ours = account.external_id or ""
    wanted = national_number(ours) or ours
    for message in messages:
        receiver = str(message.get("receiver") or "")
        if wanted and (national_number(receiver) or receiver) != wanted:
            continue  # to another number of the same Netgsm account
        payload = inbox_delivery(message, ours)
        result.inbound += await intake.store(db, target, delivery_body(payload), payload)
    await _remember(db, target, {INBOX_CURSOR: now.isoformat()})


async def _poll_reports(db: Database, adapter: NetgsmAdapter, account: ChannelAccount,
                        target: WebhookChannel, now: datetime, result: PollResult) -> None:
    since = now - REPORT_LOOKBACK
    async with db.tenant_session(target.tenant_id) as session:
        jobids = await inbox.awaiting_delivery(session, target.tenant_id, target.channel_id,
                                               since=since, limit=REPORT_PAGE)
    if not jobids or not await _take_report_turn(db, target, now):
        return
    result.reports_queried = True
    try:
        jobs = await adapter.fetch_reports(account, jobids, since, now + CLOCK_SKEW)
    except PollFailed as exc:
        log.warning("netgsm.report_failed", channel_id=str(target.channel_id), code=exc.code,
                    detail=exc.detail)
        result.errors.append(f"report: {exc}")
        return
    asked = set(jobids)
    for job in jobs:
        if str(job.get("jobid") or "") not in asked:
            continue
        payload = report_delivery(job, account.external_id or "")
        try:
            final = adapter.parse_webhook(payload)
        except ValueError as exc:
            log.warning("netgsm.report_unparseable", channel_id=str(target.channel_id),
                        error=str(exc))
            continue
        if final:  # delivered or failed; a status still in flight is asked about again
            result.statuses += await intake.store(db, target, delivery_body(payload), payload)


async def _take_report_turn(db: Database, target: WebhookChannel, now: datetime) -> bool:
    """Whether this poll may query the channel's reports: none did in the last `REPORT_EVERY`
    (Netgsm answers 80 beyond 10 queries a minute). Marked taken in the same transaction, the
    channel's row locked: of two polls at once, one queries."""
    async with db.tenant_session(target.tenant_id) as session:
        settings = await session.scalar(select(Channel.settings).where(
            Channel.tenant_id == target.tenant_id, Channel.id == target.channel_id
        ).with_for_update())
        last = _time((settings or {}).get(REPORTS_AT))
        if last is not None and abs(now - last) < REPORT_EVERY:
            return False
        await _merge_settings(session, target, {REPORTS_AT: now.isoformat()})
    return True


async def _remember(db: Database, target: WebhookChannel, values: dict[str, Any]) -> None:
    async with db.tenant_session(target.tenant_id) as session:
        await _merge_settings(session, target, values)


async def _merge_settings(session: AsyncSession, target: WebhookChannel,
                          values: dict[str, Any]) -> None:
    """Merge ``values`` into the channel's settings in SQL: an admin's concurrent edit of other
    settings is not overwritten (and the channel's ``updated_at`` is left alone)."""
    await session.execute(text(
        "UPDATE channels SET settings = settings || CAST(:values AS jsonb) "
        "WHERE tenant_id = :tenant AND id = :channel"),
        {"values": json.dumps(values), "tenant": target.tenant_id,
         "channel": target.channel_id})


def _time(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)
