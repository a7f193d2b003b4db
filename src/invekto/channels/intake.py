"""Webhook intake, shared by every provider that pushes to us: verify, store raw, ingest later.

The request path does as little as possible and answers fast (providers time out and retry): it
checks the signature, stores the body keyed by its SHA-256 (a retried delivery is then a no-op)
and, in the same statement, makes sure an ``ingest`` job for the channel is waiting. That job
takes the channel's waiting deliveries oldest first, a batch per transaction (contacts,
conversations and messages in a fixed number of statements per batch), so one transaction and
one job serve hundreds of deliveries. A job claims its batch for a while (``claimed_until``):
jobs of one channel can run side by side without taking the same delivery, and one that died
leaves its batch to the next after the claim runs out. See docs/decisions/0011-batched-ingest.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import psycopg
import structlog
from pydantic import ValidationError
from sqlalchemy import any_, delete, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.campaigns import service as campaigns
from invekto.channels import service as channels
from invekto.channels.adapters import adapter_for, twilio_voice
from invekto.channels.adapters.base import (
    CallRecording,
    ChannelAccount,
    InboundEvent,
    MediaRef,
    ReceiptWatermark,
    StatusEvent,
    TemplateStatusEvent,
    WebhookAdapter,
)
from invekto.channels.adapters.twilio_sms import signature_matches
from invekto.channels.adapters.whatsapp import verify_signature
from invekto.channels.models import Channel, WebhookEvent
from invekto.channels.service import WebhookChannel
from invekto.core.actor import Actor
from invekto.core.errors import AppError, Unauthenticated
from invekto.core.i18n import N_
from invekto.core.storage import Storage
from invekto.db.base import new_id
from invekto.db.session import Database
from invekto.inbox import calls
from invekto.inbox import service as inbox
from invekto.inbox.schemas import InboundMessage
from invekto.templates import service as templates

log = structlog.get_logger(__name__)

# Meta's three messaging products sign with the app secret (X-Hub-Signature-256).
META_SIGNED = ("whatsapp_cloud", "messenger", "instagram")
# A BSP (360dialog) does not sign per-number webhooks; we register the webhook with a header of
# our own carrying this channel's secret token (see docs/decisions/0010-webhook-intake.md).
TOKEN_HEADER = "x-invekto-webhook-token"
# Telegram sends back the secret_token we gave setWebhook in its own header (no body signature).
TOKEN_HEADERS = {"whatsapp_bsp": TOKEN_HEADER, "telegram": "x-telegram-bot-api-secret-token",
                 "voice": TOKEN_HEADER}
# Deliveries per ingest transaction: large enough that per-statement costs vanish, small enough
# that a transaction stays well under a second.
BATCH_SIZE = 250
# How long a job has to download a batch's media and store it before another job may take the
# batch (the job is assumed dead then).
CLAIM = timedelta(minutes=2)


def handshake(channel: WebhookChannel, mode: str | None, token: str | None) -> bool:
    """Meta's subscription check: ``hub.mode=subscribe`` with this channel's verify token."""
    expected = str(channel.credentials.get("verify_token") or "")
    return (mode == "subscribe" and bool(expected) and token is not None
            and hmac.compare_digest(token.encode(), expected.encode()))


def check_signature(channel: WebhookChannel, body: bytes, headers: dict[str, str],
                    url: str = "") -> None:
    """Refuse (401) a delivery not provably from the provider; nothing is stored then. ``url``:
    the address the provider posted to, which Twilio signs with the form."""
    if channel.kind in TWILIO_SIGNED:
        params = _form(body)
        if params is None or not signature_matches(
                str(channel.credentials.get("auth_token") or ""), url, params,
                headers.get("x-twilio-signature")):
            raise Unauthenticated("the webhook signature is missing or wrong",
                                  code="bad_signature")
        return
    if channel.kind in META_SIGNED:
        secret = str(channel.credentials.get("app_secret") or "")
        if not secret or not verify_signature(secret, body,
                                              headers.get("x-hub-signature-256")):
            raise Unauthenticated("the webhook signature is missing or wrong",
                                  code="bad_signature")
        return
    expected = str(channel.credentials.get("webhook_token") or "")
    sent = headers.get(TOKEN_HEADERS[channel.kind], "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Unauthenticated("the webhook token is missing or wrong", code="bad_signature")


def _form(body: bytes) -> dict[str, str | list[str]] | None:
    """A form-encoded body as {name: value}, a repeated name as the list of its values; None
    when it is not one."""
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name in form:
            previous = form[name]
            form[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            form[name] = value
    return form


# What each provider's delivery must be to be kept: Meta's object with an ``entry`` list unless
# said otherwise here (the words name the shape in a refusal).
_ENVELOPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "telegram": (lambda p: isinstance(p, dict) and isinstance(p.get("update_id"), int),
                 N_("a JSON object with an 'update_id'")),
    "voice": (lambda p: isinstance(p, dict) and bool(p.get("call_id")),
              N_("a JSON object with a 'call_id'")),
    # Twilio posts a form; a message (or its status) has a MessageSid.
    "sms_twilio": (lambda p: isinstance(p, dict)
                   and isinstance(p.get("MessageSid") or p.get("SmsSid"), str),
                   N_("a form with a 'MessageSid'")),
    # Every Twilio Voice request (a call, its statuses, its recordings) names its call.
    "voice_twilio": (lambda p: isinstance(p, dict) and isinstance(p.get("CallSid"), str),
                     N_("a form with a 'CallSid'")),
}
_META_ENVELOPE = (lambda p: isinstance(p, dict) and isinstance(p.get("entry"), list),
                  N_("a JSON object with an 'entry' list"))
FORM_ENCODED = ("sms_twilio", "voice_twilio")
# Twilio signs its form and the URL it posted to with the account's Auth Token.
TWILIO_SIGNED = ("sms_twilio", "voice_twilio")
# Where a form-encoded delivery keeps the query of the URL it was posted to: Twilio Voice's
# callbacks carry our own context there (signed with the URL).
QUERY_KEY = twilio_voice.QUERY


def parse_body(channel: WebhookChannel, body: bytes, query: str = "") -> dict[str, Any]:
    """The envelope the channel's provider sends (JSON, or a form for Twilio, with the URL's
    ``query`` under ``QUERY_KEY``). A body that is not is refused (400) and logged: a provider
    changing its format must be noticed."""
    if channel.kind in FORM_ENCODED:
        payload: Any = _form(body)
        if payload is not None and query:
            payload[QUERY_KEY] = dict(parse_qsl(query, keep_blank_values=True))
    else:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
    valid, shape = _ENVELOPES.get(channel.kind, _META_ENVELOPE)
    if not valid(payload):
        log.warning("webhook.malformed", channel_id=str(channel.channel_id), kind=channel.kind,
                    size=len(body))
        raise AppError("the body is not a webhook envelope (%(shape)s)", field="body",
                       code="malformed_body", params={"shape": shape})
    return payload


async def store(db: Database, channel: WebhookChannel, body: bytes,
                payload: dict[str, Any]) -> bool:
    """Keep the delivery and make sure its channel's ingest job is waiting; False when this
    exact body was already kept. One database round trip (the ``store_webhook_event`` function,
    migration 0005): the intake's throughput is mostly round trips."""
    from invekto.channels import tasks

    task = tasks.ingest_webhooks
    # One waiting job per channel is enough: it takes every delivery stored before it starts.
    queueing_lock = f"ingest:{channel.channel_id}"
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return bool(await autocommit.scalar(text(
            "SELECT store_webhook_event(:id, :tenant, :channel, :key, CAST(:body AS jsonb), "
            ":queue, :task, :queueing_lock, CAST(:args AS jsonb))"), {
            "id": new_id(), "tenant": channel.tenant_id, "channel": channel.channel_id,
            "key": hashlib.sha256(body).hexdigest(), "body": json.dumps(payload),
            "queue": task.queue, "task": task.name, "queueing_lock": queueing_lock,
            "args": json.dumps({"tenant_id": str(channel.tenant_id),
                                "channel_id": str(channel.channel_id)})}))


# How long an ingested delivery's raw body is kept (for a replay, or to see what a provider sent).
KEEP_DELIVERIES = timedelta(days=30)


async def prune(session: AsyncSession) -> int:
    """Delete raw deliveries ingested more than ``KEEP_DELIVERIES`` ago; how many went."""
    result = await session.execute(delete(WebhookEvent).where(
        WebhookEvent.processed_at < func.now() - KEEP_DELIVERIES))
    return result.rowcount


# ---- the ingest job ----------------------------------------------------------------------------

@dataclass
class _Delivery:
    """One stored delivery, parsed: the messages and statuses it holds, or why it could not be."""

    event_id: uuid.UUID
    # Each message with the adapter's reference to its file, until that is downloaded.
    inbound: list[tuple[InboundMessage, MediaRef | None]] = field(default_factory=list)
    # What the business sent from elsewhere (echoes), in the same form.
    echoes: list[tuple[InboundMessage, MediaRef | None]] = field(default_factory=list)
    statuses: list[StatusEvent] = field(default_factory=list)
    watermarks: list[ReceiptWatermark] = field(default_factory=list)
    # Calls whose later events complete their entry (Twilio Voice), and calls' recordings.
    call_updates: list[InboundMessage] = field(default_factory=list)
    recordings: list[tuple[calls.RecordingIn, MediaRef]] = field(default_factory=list)
    # Meta's decisions on the business account's message templates (WhatsApp).
    template_statuses: list[TemplateStatusEvent] = field(default_factory=list)
    error: str | None = None

    def messages(self) -> list[tuple[InboundMessage, MediaRef | None]]:
        return self.inbound + self.echoes


async def ingest_pending(db: Database, storage: Storage, tenant_id: uuid.UUID,
                         channel_id: uuid.UUID, *, max_attachment_bytes: int,
                         batch_size: int = BATCH_SIZE) -> int:
    """Ingest the channel's waiting deliveries, oldest first, until none is left unclaimed;
    returns how many deliveries were finished. Safe to run twice, or beside another job: a
    claimed or finished delivery is not taken again, and messages are unique per provider id."""
    async with db.tenant_session(tenant_id) as session:
        channel = await session.get(Channel, channel_id)
        if channel is None:
            return 0  # deleted, and its deliveries with it
        account = channels.account_of(channel)
    adapter = adapter_for(account.kind)
    finished = 0
    while True:
        taken, deliveries, storing, stored = [], [], False, False
        try:
            async with db.tenant_session(tenant_id) as session:
                taken = await _take(session, tenant_id, channel_id, batch_size)
                deliveries = [_parse(adapter, account, channel_id, event_id, payload)
                              for event_id, payload in taken]
                if any(media for d in deliveries for _, media in d.messages()) or any(
                        d.recordings for d in deliveries):
                    # Files are downloaded outside any transaction (a slow provider must not
                    # hold a connection): the batch is claimed and stored after the downloads.
                    await _claim(session, tenant_id, [event_id for event_id, _ in taken])
                elif deliveries:
                    storing = True
                    await _store(session, tenant_id, channel_id, deliveries)
                    stored = True
        except (DBAPIError, psycopg.Error) as exc:
            if _is_transient(exc) or not storing:
                raise  # the job's retry takes the batch again
            for delivery in deliveries:  # find the one that cannot be stored; keep the rest
                await _store_alone(db, tenant_id, channel_id, delivery)
            stored = True
        if not taken:
            return finished
        if not stored:
            await _fetch_and_store(db, storage, adapter, account, tenant_id, channel_id,
                                   deliveries, max_attachment_bytes=max_attachment_bytes)
        await _acknowledge(adapter, account, deliveries)
        finished += len(taken)
        if len(taken) < batch_size:
            # All that waited is taken; anything stored since this job started has had a job
            # of its own deferred (the queueing lock only merges jobs not started yet).
            return finished


async def _acknowledge(adapter: WebhookAdapter | None, account: ChannelAccount,
                       deliveries: list[_Delivery]) -> None:
    """Tell the provider a stored button tap was received (Telegram shows a spinner on the
    customer's button until then). Best effort: the tap is stored whatever happens here."""
    answer = getattr(adapter, "answer_callback", None)
    if answer is None:
        return
    for message, _ in (m for d in deliveries for m in d.inbound):
        if query_id := message.payload.get("callback_query_id"):
            await answer(account, str(query_id))


async def _take(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                batch_size: int) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """The channel's oldest waiting deliveries that no other job holds, locked."""
    return [(event_id, payload) for event_id, payload in (await session.execute(
        select(WebhookEvent.id, WebhookEvent.payload).where(
            WebhookEvent.tenant_id == tenant_id, WebhookEvent.channel_id == channel_id,
            WebhookEvent.processed_at.is_(None),
            or_(WebhookEvent.claimed_until.is_(None), WebhookEvent.claimed_until < func.now()),
        ).order_by(WebhookEvent.received_at).limit(batch_size).with_for_update(skip_locked=True)
    )).all()]


async def _claim(session: AsyncSession, tenant_id: uuid.UUID, event_ids: list[uuid.UUID]
                 ) -> None:
    """Keep other jobs off these deliveries for ``CLAIM``, beyond this transaction."""
    await session.execute(update(WebhookEvent).where(
        WebhookEvent.tenant_id == tenant_id, WebhookEvent.id == any_(event_ids)
    ).values(claimed_until=func.now() + CLAIM))


async def _fetch_and_store(db: Database, storage: Storage, adapter: WebhookAdapter | None,
                           account: ChannelAccount, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                           deliveries: list[_Delivery], *, max_attachment_bytes: int) -> None:
    """A claimed batch with files: download them, then store the batch."""
    try:
        await _fetch_media(db, storage, adapter, account, tenant_id, channel_id, deliveries,
                           max_attachment_bytes=max_attachment_bytes)
        try:
            await _store_batch(db, tenant_id, channel_id, deliveries)
        except (DBAPIError, psycopg.Error) as exc:
            if _is_transient(exc):
                raise
            for delivery in deliveries:
                await _store_alone(db, tenant_id, channel_id, delivery)
    except BaseException:
        # The job's retry (or the next job) takes the batch again at once.
        await _release(db, tenant_id, [d.event_id for d in deliveries])
        raise


async def _release(db: Database, tenant_id: uuid.UUID, event_ids: list[uuid.UUID]) -> None:
    async with db.tenant_session(tenant_id) as session:
        await session.execute(update(WebhookEvent).where(
            WebhookEvent.tenant_id == tenant_id, WebhookEvent.id == any_(event_ids),
            WebhookEvent.processed_at.is_(None)).values(claimed_until=None))


def _parse(adapter: WebhookAdapter | None, account: ChannelAccount, channel_id: uuid.UUID,
           event_id: uuid.UUID, payload: dict[str, Any]) -> _Delivery:
    delivery = _Delivery(event_id)
    if adapter is None or not hasattr(adapter, "parse_webhook"):
        delivery.error = f"no webhook adapter for {account.kind}"
        return delivery
    try:
        events = adapter.parse_webhook(payload)
    except ValueError as exc:
        log.warning("webhook.unparseable", channel_id=str(channel_id), error=str(exc))
        delivery.error = f"unparseable: {exc}"
        return delivery
    for event in events:
        # An event that does not name the account (a Twilio call's recording) is the
        # channel's: its signature proved where it came from.
        if account.external_id and event.account_id and event.account_id != account.external_id:
            log.warning("webhook.other_account", channel_id=str(channel_id),
                        account_id=event.account_id)
        elif isinstance(event, StatusEvent):
            delivery.statuses.append(event)
        elif isinstance(event, TemplateStatusEvent):
            waba_id = str((account.settings or {}).get("waba_id") or "")
            if waba_id and event.waba_id and event.waba_id != waba_id:
                log.warning("webhook.other_business_account", channel_id=str(channel_id),
                            waba_id=event.waba_id)
            else:
                delivery.template_statuses.append(event)
        elif isinstance(event, ReceiptWatermark):
            delivery.watermarks.append(event)
        elif isinstance(event, CallRecording):
            delivery.recordings.append((calls.RecordingIn(
                event.call_id, event.recording_id, event.duration_seconds), event.media))
        elif isinstance(event, InboundEvent):
            try:
                message = _inbound_message(channel_id, event)
                (delivery.echoes if event.echo else delivery.inbound).append(
                    (message, event.media))
                if event.content_kind == "call" and getattr(adapter, "updates_calls", False):
                    delivery.call_updates.append(message)
            except ValidationError as exc:
                log.warning("webhook.invalid_message", channel_id=str(channel_id),
                            error=str(exc))
                delivery.error = f"invalid message: {exc}"[:1000]
    return delivery


def _inbound_message(channel_id: uuid.UUID, event: InboundEvent) -> InboundMessage:
    return InboundMessage(
        channel_id=channel_id, handle=event.handle,
        provider_message_id=event.provider_message_id, phone=event.phone,
        contact_name=event.contact_name, content_kind=event.content_kind, body=event.body,
        payload=dict(event.payload), sent_at=event.sent_at, referral=event.referral)


async def _fetch_media(db: Database, storage: Storage, adapter: WebhookAdapter | None,
                       account: ChannelAccount, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                       deliveries: list[_Delivery], *, max_attachment_bytes: int) -> None:
    await _fetch_recordings(db, storage, adapter, account, tenant_id, channel_id, deliveries,
                            max_attachment_bytes=max_attachment_bytes)
    with_media = [(m, ref) for d in deliveries for m, ref in d.messages() if ref is not None]
    if not with_media or adapter is None:
        return
    async with db.tenant_session(tenant_id) as session:
        stored = await inbox.stored_provider_ids(session, tenant_id, channel_id,
                                                 [m.provider_message_id for m, _ in with_media])
    for message, reference in with_media:
        if message.provider_message_id in stored:
            continue  # a redelivered event: its file is already here
        try:
            media = await adapter.fetch_media(account, reference)
        except Exception as exc:
            log.warning("webhook.media_failed", channel_id=str(channel_id), error=str(exc))
            message.payload["media_error"] = str(exc)[:300]
            continue
        async with db.tenant_session(tenant_id) as session:
            attachment = await inbox.store_attachment(
                session, Actor.system(tenant_id), storage,
                filename=media.filename or reference.filename or "file",
                content_type=media.mime_type, data=media.data, max_bytes=max_attachment_bytes)
        message.attachment_id = attachment.id


async def _fetch_recordings(db: Database, storage: Storage, adapter: WebhookAdapter | None,
                            account: ChannelAccount, tenant_id: uuid.UUID,
                            channel_id: uuid.UUID, deliveries: list[_Delivery], *,
                            max_attachment_bytes: int) -> None:
    """Download each call recording not kept yet (once per recording id) into our storage."""
    wanted = [(r, ref) for d in deliveries for r, ref in d.recordings]
    if not wanted or adapter is None:
        return
    async with db.tenant_session(tenant_id) as session:
        kept = await calls.stored_recording_ids(session, tenant_id, channel_id,
                                                [r.recording_id for r, _ in wanted])
    fetched: dict[str, uuid.UUID] = {}
    for recording, reference in wanted:
        if recording.recording_id in kept:
            continue  # a redelivered callback: the file is already here
        if recording.recording_id in fetched:  # twice in this batch
            recording.attachment_id = fetched[recording.recording_id]
            continue
        try:
            media = await adapter.fetch_media(account, reference)
            async with db.tenant_session(tenant_id) as session:
                attachment = await inbox.store_attachment(
                    session, Actor.system(tenant_id), storage,
                    filename=media.filename or reference.filename or "recording.mp3",
                    content_type=media.mime_type, data=media.data,
                    max_bytes=max_attachment_bytes)
        except Exception as exc:
            log.warning("webhook.recording_failed", channel_id=str(channel_id), error=str(exc))
            recording.error = str(exc)[:300]
            continue
        recording.attachment_id = fetched[recording.recording_id] = attachment.id


async def _store_batch(db: Database, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                       deliveries: list[_Delivery]) -> None:
    """Store deliveries taken in an earlier transaction (claimed, or failed in a batch)."""
    async with db.tenant_session(tenant_id) as session:
        # Still waiting? A job that outlived its claim may find some finished by another.
        waiting = set((await session.scalars(select(WebhookEvent.id).where(
            WebhookEvent.tenant_id == tenant_id,
            WebhookEvent.id == any_([d.event_id for d in deliveries]),
            WebhookEvent.processed_at.is_(None)
        ).order_by(WebhookEvent.id).with_for_update())).all())
        await _store(session, tenant_id, channel_id,
                     [d for d in deliveries if d.event_id in waiting])


async def _store(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                 deliveries: list[_Delivery]) -> None:
    """Messages and statuses of deliveries this transaction holds, and the deliveries marked
    finished: a crash leaves all of them waiting, none half-done."""
    inbound = [m for d in deliveries for m, _ in d.inbound]
    if inbound:
        await inbox.receive_inbound_batch(session, tenant_id, channel_id, inbound)
    for echo in (m for d in deliveries for m, _ in d.echoes):
        await inbox.record_echo(session, tenant_id, echo)
    statuses = [s for d in deliveries for s in d.statuses]
    broadcast = await campaigns.apply_statuses(session, tenant_id, [campaigns.RecipientStatus(
        s.provider_message_id, s.status, s.at, s.callback_data, s.error_code, s.error_title)
        for s in statuses]) if statuses else set()
    for status in (s for s in statuses if s.provider_message_id not in broadcast):
        await inbox.apply_provider_status(
            session, tenant_id, channel_id=channel_id,
            provider_message_id=status.provider_message_id, status=status.status,
            error_code=status.error_code, error=status.error_title)
    for template_status in (t for d in deliveries for t in d.template_statuses):
        await templates.apply_status(session, tenant_id, channel_id, template_status)
    for mark in (w for d in deliveries for w in d.watermarks):
        await inbox.apply_receipt_watermark(session, tenant_id, channel_id=channel_id,
                                            handle=mark.handle, status=mark.status, at=mark.at)
    updates = [m for d in deliveries for m in d.call_updates]
    recordings = [r for d in deliveries for r, _ in d.recordings]
    if updates:
        await calls.merge_call_events(session, tenant_id, channel_id, updates)
    if updates or recordings:
        await calls.store_recordings(session, tenant_id, channel_id, recordings,
                                     [m.provider_message_id for m in updates])
    for error in {d.error for d in deliveries}:
        await session.execute(update(WebhookEvent).where(
            WebhookEvent.tenant_id == tenant_id,
            WebhookEvent.id == any_([d.event_id for d in deliveries if d.error == error])
        ).values(processed_at=func.now(), error=error))


async def _store_alone(db: Database, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                       delivery: _Delivery) -> None:
    """One delivery of a batch that failed: stored alone, or, if it alone fails, finished with
    its error (kept raw for a replay) so that it does not hold up the channel."""
    try:
        await _store_batch(db, tenant_id, channel_id, [delivery])
    except (DBAPIError, psycopg.Error) as exc:
        if _is_transient(exc):
            raise
        log.error("webhook.ingest_failed", channel_id=str(channel_id),
                  event_id=str(delivery.event_id), error=str(exc)[:300])
        await _store_batch(db, tenant_id, channel_id, [_Delivery(
            delivery.event_id, error=f"could not be stored: {exc}"[:1000])])


def _is_transient(exc: Exception) -> bool:
    """A lost connection or a deadlock: worth the job's retry, unlike bad data."""
    original = getattr(exc, "orig", exc)
    return isinstance(original, psycopg.OperationalError) or getattr(
        original, "sqlstate", None) in ("40001", "40P01")
