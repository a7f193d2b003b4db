"""Payment links: made with a connected provider (iyzico, PayTR) from a conversation, sent in it
as the agent's message, and settled by the provider's verified callback.

A link is paid once: a callback that says so again (providers repeat them) changes nothing. A
payment whose amount or currency is not the link's is not accepted: the link is marked failed
with the reason, for the team to look at. Paid and failed results are written into the
conversation (a note for the team and a line in the thread), published live, audited, and
raised as the automation events ``payment_received`` / ``payment_failed``.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from html import escape

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.automation import service as automation
from invekto.automation.events import Event
from invekto.contacts.models import Contact
from invekto.core import realtime
from invekto.core.actor import Actor, Permission
from invekto.core.errors import Conflict, NotFound, ValidationFailed
from invekto.core.i18n import N_, text
from invekto.db.base import new_id
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, ConversationEvent, Note
from invekto.inbox.schemas import MessageSend
from invekto.integrations import events, service
from invekto.integrations.base import (
    Capability,
    Connection,
    IntegrationError,
    PaymentRequest,
    PaymentResult,
    WebhookReply,
)
from invekto.integrations.orders import money
from invekto.integrations.payments.models import PaymentLinkRecord
from invekto.integrations.payments.schemas import PaymentLinkIn
from invekto.tenants.models import Tenant

log = structlog.get_logger()

MAX_AMOUNT = Decimal("1000000.00")
DESCRIPTION_LENGTH = 120
# What every provider here takes; an adapter may narrow it (``currencies``).
CURRENCIES = ("TRY", "USD", "EUR", "GBP")
# A link's life when the provider does not say: the provider's own limit is the adapter's.
LINK_MINUTES = 60 * 24
OPEN_STATUSES = ("created", "sent")


def _now() -> datetime:
    return datetime.now(UTC)


def new_reference() -> str:
    """Ours for one link: letters and digits only (PayTR's merchant_oid), unguessable."""
    return "IVK" + secrets.token_hex(10).upper()


# ---- making one --------------------------------------------------------------------------------

def checked_amount(value: Decimal | str | float) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValidationFailed("the amount must be a number", field="amount") from exc
    if not amount.is_finite() or amount <= 0:
        raise ValidationFailed("the amount must be more than zero", field="amount")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationFailed("the amount may have at most two decimals", field="amount")
    if amount > MAX_AMOUNT:
        raise ValidationFailed("the amount may be at most %(max)s", field="amount",
                               params={"max": f"{MAX_AMOUNT:,.2f}"})
    return amount.quantize(Decimal("0.01"))


def checked_description(value: str) -> str:
    description = " ".join(value.split())
    if not description:
        raise ValidationFailed("write what the payment is for", field="description")
    if len(description) > DESCRIPTION_LENGTH:
        raise ValidationFailed("the description may be at most %(max)s characters",
                               field="description", params={"max": DESCRIPTION_LENGTH})
    return description


async def payment_connections(session: AsyncSession, tenant_id: uuid.UUID) -> list[Connection]:
    return await service.connections_with(session, tenant_id, Capability.PAYMENT_LINK)


def _chosen(connections: list[Connection], provider: str | None) -> Connection:
    if not connections:
        raise ValidationFailed("no payment provider is connected; an admin connects iyzico "
                               "or PayTR in Settings → Integrations", field="provider")
    if not provider:
        return connections[0]
    for conn in connections:
        if conn.kind == provider:
            return conn
    raise ValidationFailed("%(provider)s is not connected", field="provider",
                           params={"provider": provider})


async def create_link(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID,
                      data: PaymentLinkIn, *, public_url: str
                      ) -> tuple[PaymentLinkRecord, bool]:
    """Make a link with the provider and send it in the conversation as the agent's message.
    Returns (link, created); the same ``idempotency_key`` again returns the first link."""
    actor.require(Permission.HANDLE_CONVERSATIONS)
    await inbox.check_can_reply(session, actor, conversation_id)
    if data.idempotency_key:
        existing = await _by_idempotency_key(session, actor.tenant_id, data.idempotency_key)
        if existing is not None:
            return _same_conversation(existing, conversation_id), False
    amount = checked_amount(data.amount)
    description = checked_description(data.description)
    currency = data.currency.upper()
    conn = _chosen(await payment_connections(session, actor.tenant_id), data.provider)
    provider = service.adapter(conn.kind)
    if currency not in getattr(provider, "currencies", CURRENCIES):
        raise ValidationFailed("%(provider)s does not take %(currency)s", field="currency",
                               params={"provider": provider.label, "currency": currency})
    conversation = await session.get_one(Conversation, conversation_id)
    contact = await session.get_one(Contact, conversation.contact_id)

    link_id = new_id()
    reference = new_reference()
    inserted = await session.scalar(insert(PaymentLinkRecord).values(
        id=link_id, tenant_id=actor.tenant_id, reference=reference,
        conversation_id=conversation_id, contact_id=contact.id,
        integration_id=conn.integration_id, provider=conn.kind, amount=amount,
        currency=currency, description=description, status="created",
        idempotency_key=data.idempotency_key, created_by=actor.user_id,
    ).on_conflict_do_nothing(
        index_elements=["tenant_id", "idempotency_key"],
        index_where=PaymentLinkRecord.idempotency_key.is_not(None),
    ).returning(PaymentLinkRecord.id))
    if inserted is None:  # the same key's other request made it meanwhile
        existing = await _by_idempotency_key(session, actor.tenant_id, data.idempotency_key or "")
        assert existing is not None
        return _same_conversation(existing, conversation_id), False
    link = await session.get_one(PaymentLinkRecord, link_id)

    request = PaymentRequest(
        reference=reference, amount=amount, currency=currency, description=description,
        customer_name=contact.name, customer_phone=contact.phone, customer_email=contact.email,
        callback_url=service.webhook_url(public_url, conn, "callback"),
        return_url=service.webhook_url(public_url, conn, "return"),
        expires_minutes=LINK_MINUTES)
    try:
        made = await service.call(session, conn,
                                  lambda a, c: a.create_payment_link(c, request))
    except IntegrationError as exc:
        log.warning("payments.link_failed", kind=conn.kind, error=exc.message)
        raise service.unavailable(exc, provider.label) from exc
    link.provider_token = made.provider_reference
    link.url = made.url
    link.expires_at = made.expires_at or _now() + timedelta(minutes=LINK_MINUTES)

    language = await _language(session, actor.tenant_id)
    body = text(language, "Your payment link: %(amount)s — %(description)s",
                amount=money(amount, currency, language),
                description=description) + "\n" + made.url
    message, _ = await inbox.send_message(session, actor, conversation_id, MessageSend(
        body=body, client_message_id=f"payment-link-{link.id}"))
    link.message_id = message.id
    link.status = "sent"
    await session.flush()
    await audit.record(session, actor, "payment_link.created", target_type="payment_link",
                       target_id=link.id, data={
                           "reference": reference, "provider": conn.kind,
                           "amount": str(amount), "currency": currency,
                           "conversation_id": str(conversation_id)})
    return link, True


async def _by_idempotency_key(session: AsyncSession, tenant_id: uuid.UUID, key: str
                              ) -> PaymentLinkRecord | None:
    return await session.scalar(select(PaymentLinkRecord).where(
        PaymentLinkRecord.tenant_id == tenant_id, PaymentLinkRecord.idempotency_key == key))


def _same_conversation(link: PaymentLinkRecord, conversation_id: uuid.UUID
                       ) -> PaymentLinkRecord:
    if link.conversation_id != conversation_id:
        raise Conflict("idempotency_key was used for another conversation",
                       field="idempotency_key")
    return link


async def _language(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    tenant = await session.get_one(Tenant, tenant_id)
    return tenant.default_language or "tr"


# ---- reading -----------------------------------------------------------------------------------

async def _expire(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Links whose provider page has lapsed unpaid are shown as expired."""
    await session.execute(update(PaymentLinkRecord).where(
        PaymentLinkRecord.tenant_id == tenant_id,
        PaymentLinkRecord.status.in_(OPEN_STATUSES),
        PaymentLinkRecord.expires_at < _now()).values(status="expired"))


async def list_links(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                     ) -> list[PaymentLinkRecord]:
    """The conversation's links, newest first."""
    actor.require(Permission.HANDLE_CONVERSATIONS)
    await inbox.get_conversation(session, actor, conversation_id)
    await _expire(session, actor.tenant_id)
    return list((await session.scalars(select(PaymentLinkRecord).where(
        PaymentLinkRecord.tenant_id == actor.tenant_id,
        PaymentLinkRecord.conversation_id == conversation_id).order_by(
        PaymentLinkRecord.created_at.desc(), PaymentLinkRecord.id.desc()))).all())


async def get_link(session: AsyncSession, actor: Actor, link_id: uuid.UUID
                   ) -> PaymentLinkRecord:
    actor.require(Permission.HANDLE_CONVERSATIONS)
    await _expire(session, actor.tenant_id)
    link = await session.scalar(select(PaymentLinkRecord).where(
        PaymentLinkRecord.tenant_id == actor.tenant_id, PaymentLinkRecord.id == link_id))
    if link is None:
        raise NotFound("payment link not found")
    if link.conversation_id is not None:
        try:
            await inbox.get_conversation(session, actor, link.conversation_id)
        except NotFound:
            raise NotFound("payment link not found") from None
    elif not actor.sees_whole_tenant:
        raise NotFound("payment link not found")
    return link


# ---- what the provider said --------------------------------------------------------------------

async def link_by_reference(session: AsyncSession, conn: Connection, reference: str
                            ) -> PaymentLinkRecord | None:
    return await session.scalar(select(PaymentLinkRecord).where(
        PaymentLinkRecord.tenant_id == conn.tenant_id, PaymentLinkRecord.reference == reference,
        PaymentLinkRecord.provider == conn.kind))


async def link_by_token(session: AsyncSession, conn: Connection, token: str
                        ) -> PaymentLinkRecord | None:
    return await session.scalar(select(PaymentLinkRecord).where(
        PaymentLinkRecord.tenant_id == conn.tenant_id, PaymentLinkRecord.provider == conn.kind,
        PaymentLinkRecord.provider_token == token))


@dataclass(frozen=True)
class Settled:
    link: PaymentLinkRecord | None
    changed: bool  # False: unknown link, or it already said this


async def apply_result(session: AsyncSession, conn: Connection, result: PaymentResult
                       ) -> Settled:
    """A verified provider result for one of our links (in its tenant's session)."""
    link = await session.scalar(select(PaymentLinkRecord).where(
        PaymentLinkRecord.tenant_id == conn.tenant_id,
        PaymentLinkRecord.reference == result.reference,
        PaymentLinkRecord.provider == conn.kind).with_for_update())
    if link is None:
        log.warning("payments.unknown_reference", kind=conn.kind, reference=result.reference)
        return Settled(None, False)
    if link.status == "paid":
        return Settled(link, False)  # paid once; a repeat or a late failure changes nothing
    reason = result.failure_reason
    paid = result.paid
    if paid and (result.amount != link.amount or (result.currency or link.currency)
                 != link.currency):
        paid = False
        reason = (f"amount_mismatch: paid {result.amount} {result.currency or ''}, "
                  f"asked {link.amount} {link.currency}").strip()
    if not paid and link.status == "failed" and link.failure_reason == (reason or "failed"):
        return Settled(link, False)
    before = {"status": link.status}
    if paid:
        link.status = "paid"
        link.paid_amount = result.amount
        link.paid_at = _now()
        link.failure_reason = None
    else:
        link.status = "failed"
        link.paid_amount = result.amount if result.paid else None
        link.failure_reason = (reason or "failed")[:500]
    link.provider_payment_id = result.provider_payment_id or link.provider_payment_id
    await session.flush()
    system = Actor.system(conn.tenant_id)
    await audit.record(session, system, "payment_link.paid" if paid else "payment_link.failed",
                       target_type="payment_link", target_id=link.id,
                       data={"reference": link.reference, "provider": link.provider,
                             "amount": str(result.amount) if result.amount is not None else None,
                             "reason": None if paid else link.failure_reason},
                       before=before, after={"status": link.status})
    await _tell_conversation(session, link, paid)
    return Settled(link, True)


async def _tell_conversation(session: AsyncSession, link: PaymentLinkRecord, paid: bool) -> None:
    if link.conversation_id is None:
        return
    conversation = await session.get(Conversation, link.conversation_id)
    if conversation is None:
        return
    provider = service.adapter(link.provider).label
    language = await _language(session, link.tenant_id)
    amount = money(link.paid_amount if paid else link.amount, link.currency, language)
    if paid:
        body = text(language, "Payment received: %(amount)s (%(provider)s)", amount=amount,
                    provider=provider)
    else:
        body = text(language, "Payment failed: %(amount)s (%(provider)s): %(reason)s",
                    amount=amount, provider=provider, reason=link.failure_reason or "")
    body += f" — {link.description} [{link.reference}]"
    note = Note(tenant_id=link.tenant_id, contact_id=conversation.contact_id,
                conversation_id=conversation.id, author_id=None, body=body)
    session.add(note)
    data = {"status": link.status, "reference": link.reference, "amount": str(link.amount),
            "paid_amount": str(link.paid_amount) if link.paid_amount is not None else None,
            "currency": link.currency, "provider": link.provider,
            "description": link.description, "reason": link.failure_reason,
            # As the line in the thread shows them (in the company's language).
            "shown_amount": amount, "provider_label": provider}
    event = ConversationEvent(tenant_id=link.tenant_id, conversation_id=conversation.id,
                              contact_id=conversation.contact_id, actor_user_id=None,
                              kind="payment", data=data)
    session.add(event)
    await session.flush()
    audience = {"assignee_id": conversation.assignee_id, "group_id": conversation.group_id}
    ids = {"conversation_id": str(conversation.id), "contact_id": str(conversation.contact_id)}
    await realtime.publish_many(session, [
        realtime.Event(tenant_id=link.tenant_id, type="note.created",
                       data={**ids, "note_id": str(note.id)}, **audience),
        realtime.Event(tenant_id=link.tenant_id, type="conversation.updated",
                       data={**ids, "status": conversation.status, "action": "payment",
                             "event_id": str(event.id), "payment_link_id": str(link.id),
                             "payment_status": link.status}, **audience)])
    automation_data = {"reference": link.reference,
                       "amount": str(link.paid_amount if paid else link.amount),
                       "currency": link.currency, "provider": link.provider,
                       "description": link.description}
    if not paid:
        automation_data["reason"] = link.failure_reason
    await automation.emit(session, [Event(
        events.PAYMENT_RECEIVED if paid else events.PAYMENT_FAILED, link.tenant_id,
        conversation_id=conversation.id, contact_id=conversation.contact_id,
        data=automation_data, occurrence=f"payment:{link.reference}:{link.status}")])


# Shown to the customer's browser after a provider's page (not a confirmation: the provider's
# server-to-server callback is).
RETURN_TITLE = N_("Thank you")
RETURN_TEXT = N_("Your payment is being confirmed. You can close this page and return to the "
                 "conversation.")


def customer_page(title: str, body: str, *, status: int = 200, language: str = "tr"
                  ) -> WebhookReply:
    """A plain page for the customer's browser coming back from a provider's payment page (no
    scripts: the security headers forbid them)."""
    shown_title = escape(text(language, title))
    page = (f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{shown_title}</title></head><body><main><h1>{shown_title}</h1>"
            f"<p>{escape(text(language, body))}</p></main></body></html>")
    return WebhookReply(status=status, body=page, media_type="text/html")


PAID_TITLE = N_("Payment received")
PAID_TEXT = N_("Thank you, your payment was received. You can close this page and return to "
               "the conversation.")
FAILED_TITLE = N_("Payment not completed")
FAILED_TEXT = N_("Your payment could not be completed. You can try again with the same link "
                 "or write to us in the conversation.")
UNKNOWN_TITLE = N_("Payment not found")
UNKNOWN_TEXT = N_("We could not find this payment. Please write to us in the conversation.")
