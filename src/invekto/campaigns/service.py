"""Broadcast campaigns: an audience (a segment of the contacts, an uploaded list, or both),
planned into one row per recipient in a few statements, then sent at the channel's pace by
dispatcher jobs that any number of workers may run side by side.

Delivery is at most once per recipient (decision 0017): a recipient is taken (``sending``) and
committed before the provider is called, and its result recorded after. A worker that dies in
between leaves recipients ``sending``; WhatsApp echoes our recipient id in its status webhooks
(``biz_opaque_callback_data``), which settle them, and ``reconcile_unconfirmed`` sends again
only those the provider never reported after ``UNCONFIRMED_GRACE``. Channels without such an
echo mark them failed (``delivery_unknown``) instead: seen, never sent twice.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    and_,
    any_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.campaigns import lists
from invekto.campaigns.models import (
    RECIPIENT_STATES,
    Campaign,
    CampaignRecipient,
    RecipientList,
    RecipientListRow,
)
from invekto.campaigns.schemas import CampaignIn, CampaignOut, PlanOut, ReportOut, Segment
from invekto.channels import pacing
from invekto.channels import service as channels
from invekto.channels.adapters.base import (
    ChannelAccount,
    OutboundMessage,
    PermanentFailure,
    ProviderTemplate,
    SendResult,
    Sent,
    TemporaryFailure,
)
from invekto.channels.adapters.whatsapp import fill_template
from invekto.channels.models import Channel
from invekto.contacts.models import (
    Contact,
    ContactConsent,
    ContactIdentity,
    CustomFieldDefinition,
    SmsOptOut,
)
from invekto.core import jobs
from invekto.core.actor import Actor, Permission
from invekto.core.errors import Conflict, UpstreamUnavailable, ValidationFailed
from invekto.core.i18n import N_
from invekto.core.text import clean_text
from invekto.db.queries import get_in_tenant
from invekto.inbox import service as inbox
from invekto.replies import variables
from invekto.templates.models import MessageTemplate
from invekto.tenants.models import Tenant

WHATSAPP_KINDS = ("whatsapp_cloud", "whatsapp_bsp")
SMS_KINDS = ("sms_twilio", "sms_netgsm")
# Channels a business may write to first, in bulk. Messenger and Instagram allow no marketing
# outside the customer's 24-hour window, web chat has no address to write to.
BROADCAST_KINDS = (*WHATSAPP_KINDS, *SMS_KINDS, "telegram")
# Providers that echo a value of ours in their status callbacks, so a send whose answer was
# lost can be confirmed (or not) later instead of guessed.
ECHOING_KINDS = WHATSAPP_KINDS
# How long a taken recipient may wait for its provider's word before it is sent again (echoing
# providers) or marked delivery_unknown. WhatsApp reports "sent" within seconds.
UNCONFIRMED_GRACE = timedelta(minutes=10)
CALLBACK_PREFIX = "campaign:"
# Recipient states in the order a message moves through them; a status never moves one back.
_PROGRESS = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4, "replied": 5}
EDITABLE = ("draft", "scheduled")


def _now() -> datetime:
    return datetime.now(UTC)


# ---- campaigns ---------------------------------------------------------------------------------

async def list_campaigns(session: AsyncSession, actor: Actor, *, limit: int = 200
                         ) -> list[Campaign]:
    actor.require(Permission.MANAGE_CAMPAIGNS)
    return list((await session.scalars(select(Campaign).where(
        Campaign.tenant_id == actor.tenant_id
    ).order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit))).all())


async def get(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID) -> Campaign:
    actor.require(Permission.MANAGE_CAMPAIGNS)
    return await get_in_tenant(session, Campaign, actor.tenant_id, campaign_id,
                               what=N_("campaign"))


async def create(session: AsyncSession, actor: Actor, data: CampaignIn) -> Campaign:
    actor.require(Permission.MANAGE_CAMPAIGNS)
    campaign = Campaign(tenant_id=actor.tenant_id, created_by=actor.user_id)
    await _apply(session, actor, campaign, data)
    session.add(campaign)
    await session.flush()
    await _audit(session, actor, "campaign.created", campaign)
    return campaign


async def update_campaign(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID,
                          data: CampaignIn) -> Campaign:
    campaign = await get(session, actor, campaign_id)
    _require_status(campaign, EDITABLE, "a campaign can be changed only before it starts")
    await _apply(session, actor, campaign, data)
    campaign.planned_at = None
    await session.flush()
    await _audit(session, actor, "campaign.updated", campaign)
    return campaign


async def delete_campaign(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID) -> None:
    campaign = await get(session, actor, campaign_id)
    _require_status(campaign, ("draft", "scheduled", "cancelled"),
                    "a campaign that has sent messages is kept for its report")
    if await session.scalar(select(exists().where(
            CampaignRecipient.tenant_id == actor.tenant_id,
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state.not_in(("queued", "excluded"))))):
        raise Conflict("a campaign that has sent messages is kept for its report",
                       code="campaign_sent")
    await _audit(session, actor, "campaign.deleted", campaign)
    await session.delete(campaign)
    await session.flush()


async def _audit(session: AsyncSession, actor: Actor, action: str, campaign: Campaign) -> None:
    await audit.record(session, actor, action, target_type="campaign", target_id=campaign.id,
                       data={"name": campaign.name, "status": campaign.status})


def _require_status(campaign: Campaign, allowed: tuple[str, ...], message: str) -> None:
    if campaign.status not in allowed:
        raise Conflict(message, field="status", code="campaign_" + campaign.status)


async def _apply(session: AsyncSession, actor: Actor, campaign: Campaign,
                 data: CampaignIn) -> None:
    channel = await get_in_tenant(session, Channel, actor.tenant_id, data.channel_id,
                                  what=N_("channel"), field="channel_id")
    if channel.kind not in BROADCAST_KINDS:
        raise ValidationFailed("campaigns can be sent on WhatsApp, SMS and Telegram channels",
                               field="channel_id")
    recipient_list = (await get_in_tenant(session, RecipientList, actor.tenant_id, data.list_id,
                                          what=N_("recipient list"), field="list_id")
                      if data.list_id else None)
    if data.segment is None and recipient_list is None:
        raise ValidationFailed("choose who the campaign is for: a segment, a list or both",
                               field="segment")
    if (data.quiet_start is None) != (data.quiet_end is None):
        raise ValidationFailed("give both ends of the quiet hours, or neither",
                               field="quiet_end")
    custom_keys = tuple((await session.scalars(select(CustomFieldDefinition.key).where(
        CustomFieldDefinition.tenant_id == actor.tenant_id))).all())
    row_keys = tuple(recipient_list.columns) if recipient_list else None
    if data.segment:
        for position, condition in enumerate(data.segment.fields):
            if condition.key not in custom_keys:
                raise ValidationFailed("there is no custom field %(key)s",
                                       field=f"segment.fields.{position}.key",
                                       params={"key": condition.key})
    body = clean_text(data.body)
    parameters = {key: clean_text(value) for key, value in data.template_parameters.items()}
    if data.content_kind == "text":
        if not body:
            raise ValidationFailed("write the message", field="body")
        if channel.kind in WHATSAPP_KINDS:
            raise ValidationFailed("WhatsApp lets businesses write first only with an approved "
                                   "template", field="content_kind")
        variables.check(body, custom_keys, field="body", row_keys=row_keys)
    else:
        if channel.kind not in WHATSAPP_KINDS:
            raise ValidationFailed("templates are sent on WhatsApp channels", field="content_kind")
        if not data.template_name or not data.template_language:
            raise ValidationFailed("choose a template", field="template_name")
        parameters = parameters or await _mapped_parameters(
            session, channel, data.template_name, data.template_language)
        for key, value in parameters.items():
            variables.check(value, custom_keys, field=f"template_parameters.{key}",
                            row_keys=row_keys)
        known = await _check_template(channel, data.template_name, data.template_language,
                                      parameters)
    campaign.name = clean_text(data.name)
    campaign.channel_id = channel.id
    campaign.content_kind = data.content_kind
    # A template's own text (placeholders kept), to show each recipient's message as they read it.
    campaign.body = body if data.content_kind == "text" else known.body
    campaign.template_name = data.template_name if data.content_kind == "template" else None
    campaign.template_language = (data.template_language if data.content_kind == "template"
                                  else None)
    campaign.template_parameters = parameters if data.content_kind == "template" else {}
    campaign.segment = data.segment.model_dump(mode="json") if data.segment else None
    campaign.list_id = recipient_list.id if recipient_list else None
    campaign.commercial = data.commercial
    campaign.quiet_start, campaign.quiet_end = data.quiet_start, data.quiet_end
    campaign.reply_tag = (clean_text(data.reply_tag or "") or _default_tag(campaign.name))[:50]


async def _mapped_parameters(session: AsyncSession, channel: Channel, name: str,
                             language: str) -> dict[str, str]:
    """The variables the template's own settings map to its body placeholders (settings →
    Templates), for a campaign that names none of its own."""
    template = await session.scalar(select(MessageTemplate).where(
        MessageTemplate.tenant_id == channel.tenant_id, MessageTemplate.channel_id == channel.id,
        MessageTemplate.name == name, MessageTemplate.language == language))
    mapping = template.variables if template is not None else {}
    return {key.removeprefix("body."): value for key, value in mapping.items()
            if key.startswith("body.")}


def _default_tag(name: str) -> str:
    return "kampanya-" + "-".join(name.lower().split())[:40]


async def _check_template(channel: Channel, name: str, language: str,
                          parameters: dict[str, str]) -> ProviderTemplate:
    """The template is one the channel may send, and every placeholder has a value."""
    known = next((t for t in await inbox.channel_templates(channel)
                  if (t.name, t.language) == (name, language)), None)
    if known is None:
        raise ValidationFailed("there is no approved template %(name)s (%(language)s)",
                               field="template_name",
                               params={"name": name, "language": language})
    for placeholder in known.parameters:
        if not parameters.get(placeholder):
            raise ValidationFailed("fill in {{%(placeholder)s}}",
                                   field=f"template_parameters.{placeholder}",
                                   params={"placeholder": placeholder})
    return known


# ---- lists --------------------------------------------------------------------------------------

async def import_list(session: AsyncSession, actor: Actor, *, name: str, filename: str,
                      data: bytes, phone_column: str | None = None,
                      name_column: str | None = None) -> RecipientList:
    """An uploaded CSV or XLSX as a list: every row kept, each bad one with its error."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    table = lists.read_table(filename, data)
    guessed_phone, guessed_name = lists.guess_columns(table.columns)
    phone_column = phone_column or guessed_phone
    if phone_column is None:
        raise ValidationFailed("choose the column with the phone numbers", field="phone_column")
    name_column = name_column if name_column is not None else guessed_name
    rows = lists.parse_rows(table, phone_column, name_column or None)
    recipient_list = RecipientList(
        tenant_id=actor.tenant_id, name=clean_text(name) or filename, filename=filename[:255],
        columns=table.columns, phone_column=phone_column, name_column=name_column or None,
        row_count=len(rows), error_count=sum(1 for r in rows if r.error),
        created_by=actor.user_id)
    session.add(recipient_list)
    await session.flush()
    for start in range(0, len(rows), 5000):
        await session.execute(RecipientListRow.__table__.insert(), [
            {"tenant_id": actor.tenant_id, "list_id": recipient_list.id,
             "row_number": r.row_number, "phone": r.phone, "name": r.name, "values": r.values,
             "error": r.error} for r in rows[start:start + 5000]])
    return recipient_list


async def get_list(session: AsyncSession, actor: Actor, list_id: uuid.UUID) -> RecipientList:
    actor.require(Permission.MANAGE_CAMPAIGNS)
    return await get_in_tenant(session, RecipientList, actor.tenant_id, list_id,
                               what=N_("recipient list"))


async def list_lists(session: AsyncSession, actor: Actor) -> list[RecipientList]:
    actor.require(Permission.MANAGE_CAMPAIGNS)
    return list((await session.scalars(select(RecipientList).where(
        RecipientList.tenant_id == actor.tenant_id
    ).order_by(RecipientList.created_at.desc()).limit(200))).all())


async def list_errors(session: AsyncSession, actor: Actor, list_id: uuid.UUID, *,
                      limit: int = 500) -> list[tuple[int, str, str]]:
    """(row number, the phone cell as written, error code) of the list's bad rows."""
    recipient_list = await get_list(session, actor, list_id)
    rows = (await session.execute(select(
        RecipientListRow.row_number, RecipientListRow.values, RecipientListRow.error
    ).where(RecipientListRow.tenant_id == actor.tenant_id,
            RecipientListRow.list_id == list_id, RecipientListRow.error.is_not(None)
            ).order_by(RecipientListRow.row_number).limit(limit))).all()
    return [(number, str(values.get(recipient_list.phone_column, "")), error)
            for number, values, error in rows]


# ---- planning -----------------------------------------------------------------------------------

async def plan(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID) -> PlanOut:
    """Who the campaign is for, one row each: the segment's contacts and the list's rows
    (contacts made for new numbers), the same person once, and those who must not get it
    (blocked, opted out, no consent, no İYS consent for commercial SMS, no address on the
    channel) kept as ``excluded`` with the reason, counted before anything is sent."""
    campaign = await get(session, actor, campaign_id)
    _require_status(campaign, EDITABLE, "a campaign can be changed only before it starts")
    return await plan_recipients(session, campaign)


async def plan_recipients(session: AsyncSession, campaign: Campaign) -> PlanOut:
    tenant_id = campaign.tenant_id
    channel = await session.get_one(Channel, campaign.channel_id)
    tenant = await session.get_one(Tenant, tenant_id)
    segment = Segment.model_validate(campaign.segment) if campaign.segment else None
    await session.execute(delete(CampaignRecipient).where(
        CampaignRecipient.tenant_id == tenant_id, CampaignRecipient.campaign_id == campaign.id))
    if campaign.list_id:
        await _contacts_for_list(session, tenant_id, campaign.list_id)
    sources = []
    if segment is not None:
        sources.append(select(Contact.id.label("contact_id"),
                              literal(None, JSONB).label("row_values"),
                              literal(0).label("source")).where(
            Contact.tenant_id == tenant_id,
            *_segment_clauses(segment, tenant_id, channel.id, tenant.timezone)))
    if campaign.list_id:
        # Labelled as the segment's: a list alone is the union's first (and only) select.
        sources.append(select(Contact.id.label("contact_id"),
                              RecipientListRow.values.label("row_values"),
                              literal(1).label("source")).join(
            Contact, and_(Contact.tenant_id == RecipientListRow.tenant_id,
                          Contact.phone == RecipientListRow.phone)).where(
            RecipientListRow.tenant_id == tenant_id,
            RecipientListRow.list_id == campaign.list_id,
            RecipientListRow.phone.is_not(None)))
    candidates = (sources[0] if len(sources) == 1 else sources[0].union_all(*sources[1:])
                  ).subquery("candidates")
    candidate_count = await session.scalar(select(func.count()).select_from(candidates))
    # The same contact from the segment and the list: once, with the list row's values.
    chosen = select(candidates.c.contact_id, candidates.c.row_values).ext(
        distinct_on(candidates.c.contact_id)).order_by(candidates.c.contact_id,
                                          candidates.c.source.desc()).subquery("chosen")
    planned = select(
        Contact.id.label("contact_id"), _handle_of(channel, tenant_id).label("handle"),
        Contact.phone.label("phone"),
        func.coalesce(chosen.c.row_values, text("'{}'::jsonb")).label("row_values"),
        _exclusion(campaign, channel, segment, tenant_id,
                   marketing_template=await _sends_marketing_template(campaign, channel)
                   ).label("reason"),
    ).join(Contact, and_(Contact.tenant_id == tenant_id, Contact.id == chosen.c.contact_id)
           ).subquery("planned")
    await session.execute(insert(CampaignRecipient).from_select(
        ["tenant_id", "campaign_id", "contact_id", "handle", "phone", "values", "state",
         "reason"],
        select(literal(tenant_id), literal(campaign.id), planned.c.contact_id, planned.c.handle,
               planned.c.phone, planned.c.row_values,
               case((planned.c.reason.is_(None), "queued"), else_="excluded"),
               planned.c.reason)))
    campaign.planned_at = _now()
    await session.flush()
    return await plan_summary(session, campaign, candidate_count or 0)


async def plan_summary(session: AsyncSession, campaign: Campaign,
                       candidate_count: int | None = None) -> PlanOut:
    counts = dict((await session.execute(select(
        func.coalesce(CampaignRecipient.reason, ""), func.count()
    ).where(CampaignRecipient.tenant_id == campaign.tenant_id,
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state.in_(("queued", "excluded"))
            ).group_by(CampaignRecipient.reason))).all())
    planned = sum(counts.values())
    invalid = 0
    if campaign.list_id:
        invalid = await session.scalar(select(func.count()).where(
            RecipientListRow.tenant_id == campaign.tenant_id,
            RecipientListRow.list_id == campaign.list_id,
            RecipientListRow.error.in_(("missing_phone", "invalid_phone")))) or 0
        in_list = await session.scalar(select(func.count()).where(
            RecipientListRow.tenant_id == campaign.tenant_id,
            RecipientListRow.list_id == campaign.list_id,
            RecipientListRow.error == "duplicate")) or 0
    else:
        in_list = 0
    duplicates = in_list + max((candidate_count or planned) - planned, 0)
    return PlanOut(recipients=counts.pop("", 0), excluded=counts, duplicates=duplicates,
                   invalid_rows=invalid)


async def _contacts_for_list(session: AsyncSession, tenant_id: uuid.UUID,
                             list_id: uuid.UUID) -> None:
    """A contact for each of the list's numbers the company does not know yet (one statement;
    numbers it knows keep their contact and its name)."""
    await session.execute(text(
        "INSERT INTO contacts (id, tenant_id, name, phone) "
        "SELECT uuidv7(), tenant_id, name, phone FROM recipient_list_rows "
        "WHERE tenant_id = :tenant AND list_id = :list AND phone IS NOT NULL "
        "ON CONFLICT (tenant_id, phone) WHERE phone IS NOT NULL DO NOTHING"),
        {"tenant": tenant_id, "list": list_id})


def _segment_clauses(segment: Segment, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                     zone: str) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if segment.tags_any:
        clauses.append(Contact.tags.overlap(segment.tags_any))
    if segment.tags_none:
        clauses.append(not_(Contact.tags.overlap(segment.tags_none)))
    if segment.known_on_channel:
        clauses.append(exists().where(ContactIdentity.tenant_id == tenant_id,
                                      ContactIdentity.contact_id == Contact.id,
                                      ContactIdentity.channel_id == channel_id))
    for condition in segment.fields:
        value = Contact.custom_fields[condition.key].astext
        if condition.op == "is":
            clauses.append(func.lower(value) == condition.value.lower())
        elif condition.op == "is_not":
            clauses.append(func.coalesce(func.lower(value), "") != condition.value.lower())
        elif condition.op == "contains":
            clauses.append(func.lower(func.unaccent(value)).contains(
                condition.value.lower(), autoescape=True))
        elif condition.op == "set":
            clauses.append(func.coalesce(value, "") != "")
        else:
            clauses.append(func.coalesce(value, "") == "")
    local = ZoneInfo(zone)
    if segment.last_contact_after:
        clauses.append(Contact.last_activity_at >= datetime.combine(
            segment.last_contact_after, time(), local))
    if segment.last_contact_before:
        clauses.append(Contact.last_activity_at < datetime.combine(
            segment.last_contact_before, time(), local) + timedelta(days=1))
    return clauses


def _handle_of(channel: Channel, tenant_id: uuid.UUID) -> ColumnElement[Any]:
    """Where the channel reaches a contact: their phone (WhatsApp, SMS) or the chat it knows
    them by (Telegram)."""
    if channel.kind in (*WHATSAPP_KINDS, *SMS_KINDS):
        return Contact.phone
    return select(ContactIdentity.handle).where(
        ContactIdentity.tenant_id == tenant_id, ContactIdentity.contact_id == Contact.id,
        ContactIdentity.channel_id == channel.id
    ).order_by(ContactIdentity.created_at.desc()).limit(1).scalar_subquery()


async def _sends_marketing_template(campaign: Campaign, channel: Channel) -> bool:
    """Whether the campaign sends a WhatsApp template of Meta's MARKETING category (Meta's
    policy and Turkish law both want the customer's opt-in for it). When the templates cannot
    be read now, it is taken for one: leaving out those without consent is the safe mistake."""
    if campaign.content_kind != "template" or channel.kind not in WHATSAPP_KINDS:
        return False
    try:
        known = await inbox.channel_templates(channel)
    except UpstreamUnavailable:
        return True
    template = next((t for t in known if (t.name, t.language) == (
        campaign.template_name, campaign.template_language)), None)
    return template is None or template.category == "MARKETING"


def _exclusion(campaign: Campaign, channel: Channel, segment: Segment | None,
               tenant_id: uuid.UUID, *, marketing_template: bool = False
               ) -> ColumnElement[Any]:
    """The first reason a contact must not get the campaign (SQL CASE), or NULL. Commercial
    SMS needs the number's İYS approval (ONAY) whether or not the company lets us talk to İYS
    for it (the law asks it of every commercial SMS; a company without the integration records
    İYS's status through the API); a WhatsApp marketing template and a commercial Telegram
    message need the contact's message consent."""
    def consent(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        return exists().where(ContactConsent.tenant_id == tenant_id,
                              ContactConsent.contact_id == Contact.id,
                              ContactConsent.consent_type == "message", *conditions)

    opted_out = or_(
        consent(ContactConsent.granted.is_(False)),
        exists().where(SmsOptOut.tenant_id == tenant_id, SmsOptOut.phone == Contact.phone))
    whens: list[tuple[ColumnElement[bool], str]] = [
        (Contact.blocked_at.is_not(None), "blocked"),
        (opted_out, "opted_out"),
        (_handle_of(channel, tenant_id).is_(None), "unreachable"),
    ]
    # Law 6563 asks opt-in for every commercial electronic message; on Telegram nothing else
    # (no İYS, no template category) stands for it, so the recorded consent must.
    commercial_chat = campaign.commercial and channel.kind == "telegram"
    if (segment is not None and segment.consent_required) or marketing_template \
            or commercial_chat:
        whens.append((not_(consent(ContactConsent.granted.is_(True))), "no_consent"))
    if campaign.commercial and channel.kind in SMS_KINDS:
        whens.append((not_(consent(ContactConsent.iys_status == "ONAY")), "no_iys_consent"))
    return case(*whens, else_=None)


async def exclude_withdrawn(session: AsyncSession, tenant_id: uuid.UUID,
                            contact_ids: Iterable[uuid.UUID]) -> int:
    """Contacts who just withdrew their message consent (a keyword, İYS, a person): left out,
    as ``opted_out``, of every campaign not yet finished that has them queued, so a running
    campaign does not reach them after all. A recipient a dispatcher has already taken is
    sent (its row lock is waited for, and it is no longer queued). Returns how many."""
    result = await session.execute(update(CampaignRecipient).where(
        CampaignRecipient.tenant_id == tenant_id,
        CampaignRecipient.contact_id == any_(list(contact_ids)),
        CampaignRecipient.state == "queued",
        CampaignRecipient.campaign_id.in_(select(Campaign.id).where(
            Campaign.tenant_id == tenant_id,
            Campaign.status.in_(("draft", "scheduled", "running", "paused"))))
    ).values(state="excluded", reason="opted_out"))
    return result.rowcount


# ---- starting, pausing, stopping ---------------------------------------------------------------

async def send_now(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID) -> Campaign:
    campaign = await get(session, actor, campaign_id)
    _require_status(campaign, EDITABLE, "this campaign has already started")
    await _start(session, campaign)
    await _audit(session, actor, "campaign.sent", campaign)
    return campaign


async def schedule(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID,
                   at: datetime) -> Campaign:
    """Send at ``at``: an aware instant, or a naive local time in the company's time zone."""
    campaign = await get(session, actor, campaign_id)
    _require_status(campaign, EDITABLE, "this campaign has already started")
    if at.tzinfo is None:
        tenant = await session.get_one(Tenant, actor.tenant_id)
        at = at.replace(tzinfo=ZoneInfo(tenant.timezone))
    if at <= _now():
        raise ValidationFailed("choose a time in the future", field="at")
    if campaign.planned_at is None:
        await plan_recipients(session, campaign)
    campaign.status = "scheduled"
    campaign.scheduled_at = at.astimezone(UTC)
    await session.flush()
    await _audit(session, actor, "campaign.scheduled", campaign)
    return campaign


async def unschedule(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID) -> Campaign:
    campaign = await get(session, actor, campaign_id)
    _require_status(campaign, ("scheduled",), "this campaign is not scheduled")
    campaign.status, campaign.scheduled_at = "draft", None
    await session.flush()
    await _audit(session, actor, "campaign.unscheduled", campaign)
    return campaign


async def pause(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID) -> Campaign:
    """Dispatchers stop after the batch they are sending; what is queued stays queued."""
    campaign = await get(session, actor, campaign_id)
    _require_status(campaign, ("running",), "only a running campaign can be paused")
    campaign.status = "paused"
    await session.flush()
    await _audit(session, actor, "campaign.paused", campaign)
    return campaign


async def resume(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID) -> Campaign:
    campaign = await get(session, actor, campaign_id)
    _require_status(campaign, ("paused",), "only a paused campaign can be resumed")
    campaign.status = "running"
    await session.flush()
    await _defer_dispatch(session, campaign)
    await _audit(session, actor, "campaign.resumed", campaign)
    return campaign


async def cancel(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID) -> Campaign:
    """Nobody still queued is sent to; what was sent stays in the report."""
    campaign = await get(session, actor, campaign_id)
    _require_status(campaign, ("draft", "scheduled", "running", "paused"),
                    "this campaign has already finished")
    campaign.status = "cancelled"
    campaign.finished_at = _now()
    await session.flush()
    await _publish_finished(session, campaign)
    await _audit(session, actor, "campaign.cancelled", campaign)
    return campaign


async def _publish_finished(session: AsyncSession, campaign: Campaign) -> None:
    """The "campaign.finished" webhook event (completed or cancelled)."""
    from invekto.outgoing_webhooks import service as outgoing_webhooks  # local: it reads us

    await outgoing_webhooks.publish_campaign_finished(session, campaign.tenant_id, campaign.id,
                                                      campaign.status)


async def _start(session: AsyncSession, campaign: Campaign) -> None:
    """Plan again (someone may have opted out since the preview), then send."""
    await plan_recipients(session, campaign)
    campaign.status = "running"
    campaign.started_at = _now()
    await session.flush()
    await _defer_dispatch(session, campaign)


async def _defer_dispatch(session: AsyncSession, campaign: Campaign) -> None:
    from invekto.campaigns import tasks  # tasks import this module

    for lane in range(DISPATCHERS):
        await jobs.defer(session, tasks.dispatch, queueing_lock=f"campaign.{campaign.id}.{lane}",
                         tenant_id=str(campaign.tenant_id), campaign_id=str(campaign.id))


# Dispatcher jobs per campaign: together they keep the pacing row's slots taken ahead, so the
# channel's rate is reached; more would only queue on that row.
DISPATCHERS = 4


# ---- the minute tick ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DueCampaign:
    tenant_id: uuid.UUID
    campaign_id: uuid.UUID
    status: str


async def active_campaigns(session: AsyncSession) -> list[DueCampaign]:
    """Across companies (system scope): the scheduled and running campaigns."""
    rows = (await session.execute(select(Campaign.tenant_id, Campaign.id, Campaign.status).where(
        Campaign.status.in_(("scheduled", "running"))))).all()
    return [DueCampaign(*row) for row in rows]


async def tick(session: AsyncSession, tenant_id: uuid.UUID, campaign_id: uuid.UUID, *,
               now: datetime | None = None) -> str:
    """One campaign's minute: start it when its time has come; settle recipients left
    ``sending`` by a worker that died; make sure a running one has its dispatchers (a worker
    that died took its job along), unless in quiet hours; finish it when nobody is left.
    Returns what it did (for the log)."""
    now = now or _now()
    campaign = await session.scalar(select(Campaign).where(
        Campaign.tenant_id == tenant_id, Campaign.id == campaign_id).with_for_update(
        skip_locked=True))
    if campaign is None:
        return "busy"
    if campaign.status == "scheduled":
        if campaign.scheduled_at is None or campaign.scheduled_at > now:
            return "waiting"
        await _start(session, campaign)
        return "started"
    if campaign.status != "running":
        return campaign.status
    await reconcile_unconfirmed(session, campaign, now=now)
    left = dict((await session.execute(select(CampaignRecipient.state, func.count()).where(
        CampaignRecipient.tenant_id == tenant_id, CampaignRecipient.campaign_id == campaign.id,
        CampaignRecipient.state.in_(("queued", "sending"))
    ).group_by(CampaignRecipient.state))).all())
    if not left:
        campaign.status, campaign.finished_at = "completed", now
        await session.flush()
        await _publish_finished(session, campaign)
        return "completed"
    if left.get("queued") and not await in_quiet_hours(session, campaign, now):
        await _defer_dispatch(session, campaign)
        return "dispatching"
    return "sending"


async def reconcile_unconfirmed(session: AsyncSession, campaign: Campaign, *,
                                now: datetime) -> int:
    """Recipients taken longer than ``UNCONFIRMED_GRACE`` ago with no result: the worker died
    while the provider had them, or before. An echoing provider (WhatsApp) would have reported
    every one it took by now, so the rest go back to the queue; otherwise they are failed as
    ``delivery_unknown`` rather than risk a second message."""
    channel = await session.get_one(Channel, campaign.channel_id)
    stale = and_(CampaignRecipient.tenant_id == campaign.tenant_id,
                 CampaignRecipient.campaign_id == campaign.id,
                 CampaignRecipient.state == "sending",
                 CampaignRecipient.claimed_at < now - UNCONFIRMED_GRACE)
    if channel.kind in ECHOING_KINDS:
        values: dict[str, Any] = {"state": "queued", "claimed_at": None}
    else:
        values = {"state": "failed", "reason": "delivery_unknown"}
    result = await session.execute(update(CampaignRecipient).where(stale).values(**values))
    return result.rowcount


async def in_quiet_hours(session: AsyncSession, campaign: Campaign, now: datetime) -> bool:
    if campaign.quiet_start is None or campaign.quiet_end is None:
        return False
    tenant = await session.get_one(Tenant, campaign.tenant_id)
    local = now.astimezone(ZoneInfo(tenant.timezone)).time()
    start, end = campaign.quiet_start, campaign.quiet_end
    return start <= local < end if start < end else (local >= start or local < end)


# ---- dispatching --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    """Recipients taken for sending, and what their messages need."""

    campaign: Campaign
    account: ChannelAccount
    kind: str
    company_name: str
    today: str
    recipients: list[Any]  # rows: id, handle, phone, values, name, email, custom_fields


async def batch_size(session: AsyncSession, tenant_id: uuid.UUID, campaign_id: uuid.UUID,
                     seconds: float, *, fallback_rate: float, most: int) -> int:
    """How many recipients to take at once: ``seconds`` of the channel's pace."""
    row = (await session.execute(select(Channel.kind, Channel.settings).join(
        Campaign, and_(Campaign.tenant_id == Channel.tenant_id,
                       Campaign.channel_id == Channel.id)).where(
        Campaign.tenant_id == tenant_id, Campaign.id == campaign_id))).first()
    if row is None:
        return 0
    rate = pacing.rate_for(row.kind, row.settings) or fallback_rate
    return max(1, min(most, int(rate * seconds)))


# What a recipient's message is made of: where it goes and the values its variables take.
_FOR_SENDING = (CampaignRecipient.id, CampaignRecipient.handle, CampaignRecipient.phone,
                CampaignRecipient.values, Contact.name, Contact.email, Contact.custom_fields)


async def take_batch(session: AsyncSession, tenant_id: uuid.UUID, campaign_id: uuid.UUID,
                     size: int, *, now: datetime | None = None) -> Batch | None:
    """Up to ``size`` queued recipients, marked ``sending`` (the caller commits before calling
    the provider); None when the campaign is not running, is in quiet hours or has nobody
    queued."""
    now = now or _now()
    campaign = await session.scalar(select(Campaign).where(
        Campaign.tenant_id == tenant_id, Campaign.id == campaign_id))
    if campaign is None or campaign.status != "running":
        return None
    if await in_quiet_hours(session, campaign, now):
        return None
    # The queue's head in a CTE of its own: PostgreSQL runs it once. As an ``IN (subquery)``
    # the planner re-ran it per row, each run locking the next unlocked rows: a batch took
    # three times its size and a minute (measured with four dispatchers, 6,000 recipients).
    taken = select(CampaignRecipient.id).where(
        CampaignRecipient.tenant_id == tenant_id, CampaignRecipient.campaign_id == campaign_id,
        CampaignRecipient.state == "queued"
    ).order_by(CampaignRecipient.id).limit(size).with_for_update(skip_locked=True).cte("taken")
    marked = update(CampaignRecipient).where(
        CampaignRecipient.tenant_id == tenant_id, CampaignRecipient.id == taken.c.id
    ).values(state="sending", claimed_at=func.clock_timestamp()).returning(
        CampaignRecipient.id, CampaignRecipient.contact_id).cte("marked")
    rows = (await session.execute(select(*_FOR_SENDING).join(marked, and_(
        marked.c.id == CampaignRecipient.id)).join(Contact, and_(
            Contact.tenant_id == tenant_id, Contact.id == marked.c.contact_id)).where(
        CampaignRecipient.tenant_id == tenant_id).order_by(CampaignRecipient.id))).all()
    if not rows:
        return None
    return await _batch(session, campaign, list(rows), now)


async def _batch(session: AsyncSession, campaign: Campaign, recipients: list[Any],
                 now: datetime) -> Batch:
    channel = await session.get_one(Channel, campaign.channel_id)
    tenant = await session.get_one(Tenant, campaign.tenant_id)
    return Batch(campaign=campaign, kind=channel.kind, account=ChannelAccount(
        kind=channel.kind, external_id=channel.external_id, settings=channel.settings,
        credentials=channels.credentials_of(channel)), company_name=tenant.name,
        today=variables.today_text(now.astimezone(ZoneInfo(tenant.timezone)).date()),
        recipients=recipients)


def outbound_for(batch: Batch, recipient: Any) -> OutboundMessage:
    """One recipient's message, its variables filled from their contact and list row."""
    campaign = batch.campaign
    payload: dict[str, Any] = {"callback_data": f"{CALLBACK_PREFIX}{recipient.id}"}
    if campaign.content_kind == "template":
        filled = filled_parameters(batch, recipient)
        template: dict[str, Any] = {"name": campaign.template_name,
                                    "language": campaign.template_language}
        if filled:
            template["components"] = [{"type": "body", "parameters": [
                {"type": "text", "text": value, **({} if key.isdigit() else
                                                    {"parameter_name": key})}
                for key, value in sorted(filled.items(), key=lambda kv: _placeholder_order(kv[0]))
            ]}]
        payload["template"] = template
        body = fill_template(campaign.body, filled)
    else:
        body = variables.render(campaign.body, _values_of(batch, recipient))
    return OutboundMessage(message_id=recipient.id, recipient_handle=recipient.handle or "",
                           recipient_phone=recipient.phone, content_kind=campaign.content_kind,
                           body=body, payload=payload)


def _values_of(batch: Batch, recipient: Any) -> variables.Values:
    return variables.Values(
        contact_name=recipient.name or "", contact_phone=recipient.phone or "",
        contact_email=recipient.email or "", custom=recipient.custom_fields or {},
        company_name=batch.company_name, today=batch.today, row=recipient.values or {})


def filled_parameters(batch: Batch, recipient: Any) -> dict[str, str]:
    """A template campaign's placeholders with this recipient's values ("-" for an empty
    one: WhatsApp refuses an empty parameter)."""
    values = _values_of(batch, recipient)
    return {key: variables.render(value, values) or "-"
            for key, value in batch.campaign.template_parameters.items()}


def _placeholder_order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (0, key)


@dataclass(frozen=True)
class Preview:
    """The message as one recipient will read it, shown before sending."""

    contact_name: str
    phone: str | None
    text: str


async def preview(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID
                  ) -> Preview | None:
    """The campaign's content rendered for its first queued recipient (the one a dispatcher
    would take first), through ``outbound_for`` as it will be sent; a template's body with its
    placeholders filled. None while nobody is queued."""
    campaign = await get(session, actor, campaign_id)
    recipient = (await session.execute(select(*_FOR_SENDING).join(Contact, and_(
        Contact.tenant_id == CampaignRecipient.tenant_id,
        Contact.id == CampaignRecipient.contact_id)).where(
        CampaignRecipient.tenant_id == actor.tenant_id,
        CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.state == "queued"
    ).order_by(CampaignRecipient.id).limit(1))).first()
    if recipient is None:
        return None
    batch = await _batch(session, campaign, [recipient], _now())
    text_ = outbound_for(batch, recipient).body  # a template's own text, placeholders filled
    return Preview(contact_name=recipient.name or "", phone=recipient.phone, text=text_)


@dataclass(frozen=True)
class SendOutcome:
    recipient_id: uuid.UUID
    result: SendResult
    body: str  # the message as sent, kept for the thread and the report


async def record_results(session: AsyncSession, tenant_id: uuid.UUID,
                         outcomes: list[SendOutcome]) -> None:
    """What the provider said for each recipient of a batch, in three statements. A status
    webhook may have come first (settled through the echo): its state is kept."""
    sent = [o for o in outcomes if isinstance(o.result, Sent)]
    failed = [(o.recipient_id, o.result) for o in outcomes
              if isinstance(o.result, PermanentFailure)
              and o.result.code != "delivery_unknown"]  # unknown: left for reconcile_unconfirmed
    retry = [o.recipient_id for o in outcomes if isinstance(o.result, TemporaryFailure)]
    if sent:
        await session.execute(text(
            "UPDATE campaign_recipients r SET provider_message_id = s.pid, body = s.body, "
            "sent_at = coalesce(r.sent_at, clock_timestamp()), "
            "state = CASE WHEN r.state = 'sending' THEN 'sent' ELSE r.state END "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:pids AS text[]), CAST(:bodies AS text[])) "
            "AS s(id, pid, body) WHERE r.tenant_id = :tenant AND r.id = s.id"),
            {"tenant": tenant_id, "ids": [o.recipient_id for o in sent],
             "pids": [o.result.provider_message_id for o in sent],
             "bodies": [o.body for o in sent]})
    if failed:
        await session.execute(text(
            "UPDATE campaign_recipients r SET state = 'failed', reason = f.code, "
            "detail = f.detail FROM unnest(CAST(:ids AS uuid[]), CAST(:codes AS text[]), "
            "CAST(:details AS text[])) AS f(id, code, detail) "
            "WHERE r.tenant_id = :tenant AND r.id = f.id AND r.state = 'sending'"),
            {"tenant": tenant_id, "ids": [rid for rid, _ in failed],
             "codes": [r.code[:100] for _, r in failed],
             "details": [r.message[:1000] for _, r in failed]})
    if retry:
        await session.execute(update(CampaignRecipient).where(
            CampaignRecipient.tenant_id == tenant_id, CampaignRecipient.id == any_(retry),
            CampaignRecipient.state == "sending").values(state="queued", claimed_at=None))


# ---- what happened next: statuses and replies --------------------------------------------------

@dataclass(frozen=True)
class RecipientStatus:
    provider_message_id: str
    status: str  # sent | delivered | read | failed
    at: datetime
    callback_data: str | None = None
    error_code: str | None = None
    error: str | None = None


async def apply_statuses(session: AsyncSession, tenant_id: uuid.UUID,
                         statuses: list[RecipientStatus]) -> set[str]:
    """Provider statuses of campaign messages, matched by provider id or by our echoed
    recipient id (a send whose answer was lost); returns the provider ids that were campaign
    messages (the rest are the inbox's). Never moves a recipient back."""
    echoed = [s.callback_data.removeprefix(CALLBACK_PREFIX) for s in statuses
              if s.callback_data and s.callback_data.startswith(CALLBACK_PREFIX)]
    echo_ids = [uuid.UUID(key) for key in echoed if _is_uuid(key)]
    provider_ids = [s.provider_message_id for s in statuses]
    rows = (await session.execute(select(
        CampaignRecipient.id, CampaignRecipient.provider_message_id, CampaignRecipient.state
    ).where(CampaignRecipient.tenant_id == tenant_id, or_(
        CampaignRecipient.provider_message_id == any_(provider_ids),
        CampaignRecipient.id == any_(echo_ids) if echo_ids else literal(False)))
        .with_for_update())).all()
    matched: set[str] = set()
    for rid, pid, state in rows:
        echo = f"{CALLBACK_PREFIX}{rid}"
        found = [s for s in statuses if s.provider_message_id == pid or s.callback_data == echo]
        for status in sorted(found, key=lambda s: _PROGRESS.get(s.status, 9)):
            matched.add(status.provider_message_id)
            state = await _apply_status(session, tenant_id, rid, state, status)
    return matched


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def _apply_status(session: AsyncSession, tenant_id: uuid.UUID, recipient_id: uuid.UUID,
                        state: str, status: RecipientStatus) -> str:
    column = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at"}.get(
        status.status)
    values: dict[str, Any] = {"provider_message_id": status.provider_message_id}
    if status.status == "failed":
        if state in ("failed", "replied", "read"):
            return state
        values.update(state="failed", reason=(status.error_code or "failed")[:100],
                      detail=status.error)
    elif _PROGRESS.get(status.status, 0) > _PROGRESS.get(state, 0) and state != "failed":
        values["state"] = status.status
    if column:
        values[column] = func.coalesce(getattr(CampaignRecipient, column), status.at)
    await session.execute(update(CampaignRecipient).where(
        CampaignRecipient.tenant_id == tenant_id, CampaignRecipient.id == recipient_id
    ).values(**values))
    return values.get("state", state)


# How long after a campaign message a customer's message counts as its reply; and how much
# earlier it may seem, its provider's clock (whole seconds) against ours.
REPLY_WINDOW = timedelta(days=7)
CLOCK_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class CampaignReply:
    conversation_id: uuid.UUID
    campaign_id: uuid.UUID
    campaign_name: str
    reply_tag: str
    body: str  # what the campaign said to this customer
    sent_at: datetime


async def note_replies(session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID,
                       replies: list[tuple[uuid.UUID, uuid.UUID, datetime]]
                       ) -> list[CampaignReply]:
    """Customers' messages (contact, conversation, when) on a channel: the first that follows a
    campaign message sent to them in the ``REPLY_WINDOW`` before marks it replied. Returns the
    conversations that answered a campaign."""
    if not replies:
        return []
    candidates = (await session.execute(select(
        CampaignRecipient.id, CampaignRecipient.contact_id, CampaignRecipient.sent_at,
        CampaignRecipient.body, Campaign.id.label("campaign_id"), Campaign.name,
        Campaign.reply_tag
    ).join(Campaign, and_(Campaign.tenant_id == CampaignRecipient.tenant_id,
                          Campaign.id == CampaignRecipient.campaign_id)).where(
        CampaignRecipient.tenant_id == tenant_id,
        CampaignRecipient.contact_id == any_(list({contact for contact, _, _ in replies})),
        Campaign.channel_id == channel_id,
        CampaignRecipient.state.in_(("sent", "delivered", "read")),
        CampaignRecipient.sent_at.is_not(None),
    ).order_by(CampaignRecipient.sent_at.desc()))).all()
    answered: list[CampaignReply] = []
    taken: set[uuid.UUID] = set()
    for contact_id, conversation_id, at in replies:
        match = next((c for c in candidates if c.contact_id == contact_id
                      and c.id not in taken and -CLOCK_SLACK <= at - c.sent_at <= REPLY_WINDOW
                      ), None)
        if match is None:
            continue
        taken.add(match.id)
        answered.append(CampaignReply(conversation_id, match.campaign_id, match.name,
                                      match.reply_tag, match.body or "", match.sent_at))
        await session.execute(update(CampaignRecipient).where(
            CampaignRecipient.tenant_id == tenant_id, CampaignRecipient.id == match.id
        ).values(state="replied", replied_at=at, conversation_id=conversation_id))
    return answered


# ---- the report ---------------------------------------------------------------------------------

async def report(session: AsyncSession, actor: Actor, campaign_id: uuid.UUID) -> ReportOut:
    campaign = await get(session, actor, campaign_id)
    states, failures = await report_counts(session, actor, campaign)
    return ReportOut(campaign=CampaignOut.model_validate(campaign), total=sum(states.values()),
                     states={state: states.get(state, 0) for state in RECIPIENT_STATES},
                     rates=rates(states), failures=failures)


async def report_counts(session: AsyncSession, actor: Actor, campaign: Campaign
                        ) -> tuple[dict[str, int], dict[str, int]]:
    """(recipients by state, failures by reason)."""
    rows = (await session.execute(select(
        CampaignRecipient.state, CampaignRecipient.reason, func.count()
    ).where(CampaignRecipient.tenant_id == actor.tenant_id,
            CampaignRecipient.campaign_id == campaign.id
            ).group_by(CampaignRecipient.state, CampaignRecipient.reason))).all()
    states: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for state, reason, count in rows:
        states[state] += count
        if state == "failed":
            failures[reason or "failed"] += count
    return dict(states), dict(failures)


# The states of a message the provider took (``sent`` and every state after it).
TAKEN_STATES = ("sent", "delivered", "read", "replied", "failed")


def reached(states: dict[str, int]) -> dict[str, int]:
    """How many got at least as far as each step: a read message was delivered, a replied one
    read (or at least delivered), so each step counts the states beyond it too; ``sent`` is
    every message the provider took, failed ones included."""
    return {name: sum(states.get(s, 0) for s in group) for name, group in {
        "sent": TAKEN_STATES,
        "delivered": ("delivered", "read", "replied"),
        "read": ("read", "replied"),
        "replied": ("replied",),
        "failed": ("failed",)}.items()}


def rates(states: dict[str, int]) -> dict[str, float]:
    """Shares of those the provider took (``reached``)."""
    steps = reached(states)
    base = steps.pop("sent")
    return {name: round(count / base, 4) if base else 0.0 for name, count in steps.items()}


async def progress(session: AsyncSession, actor: Actor, campaign_ids: list[uuid.UUID]
                   ) -> dict[uuid.UUID, tuple[int, int]]:
    """(sent, to send) of each campaign, in one query: those the provider took of the
    recipients not left out."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    if not campaign_ids:
        return {}
    taken = CampaignRecipient.state.in_(TAKEN_STATES)
    rows = (await session.execute(select(
        CampaignRecipient.campaign_id, func.count().filter(taken),
        func.count().filter(CampaignRecipient.state != "excluded")
    ).where(CampaignRecipient.tenant_id == actor.tenant_id,
            CampaignRecipient.campaign_id == any_(campaign_ids)
            ).group_by(CampaignRecipient.campaign_id))).all()
    return {campaign_id: (sent, total) for campaign_id, sent, total in rows}


REPORT_COLUMNS = ("phone", "name", "state", "reason", "detail", "sent_at", "delivered_at",
                  "read_at", "replied_at")


async def report_rows(session: AsyncSession, actor: Actor, campaign: Campaign
                      ) -> list[tuple[Any, ...]]:
    """Every recipient, for the export."""
    return [tuple(row) for row in (await session.execute(select(
        CampaignRecipient.phone, Contact.name, CampaignRecipient.state,
        CampaignRecipient.reason, CampaignRecipient.detail, CampaignRecipient.sent_at,
        CampaignRecipient.delivered_at, CampaignRecipient.read_at, CampaignRecipient.replied_at
    ).join(Contact, and_(Contact.tenant_id == CampaignRecipient.tenant_id,
                         Contact.id == CampaignRecipient.contact_id)).where(
        CampaignRecipient.tenant_id == actor.tenant_id,
        CampaignRecipient.campaign_id == campaign.id
    ).order_by(CampaignRecipient.id))).all()]

