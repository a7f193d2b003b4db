"""Every /api/v1 route in one table: who may call it, and what everyone else gets.

``ROWS`` names each route once (method, path template, the least role that may call it, a builder
for a valid request and the success status). The tests run that table against:

* the app's real routes (a new endpoint without a row fails ``test_every_api_route_has_a_row``);
* no credentials (401 ``unauthenticated``) and a browser session without its CSRF token;
* each role, as a logged-in person and as an API key of that role (success or 403 ``forbidden``);
* Charlie's admin using the home company's ids in the path or in the body (404 / 422);
* the inbox visibility rules, where an agent's limit is what they can see, not their role.

Every refusal also checks that nothing changed: the home admin reads the touched objects before
and after. The read-mostly checks share one company per module; every call that changes something
gets fresh objects from its builder, so the order of the tests does not matter.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from invekto.ai import analysis, knowledge
from invekto.ai.schemas import ArticleIn
from invekto.auth import service as auth
from invekto.auth import totp, two_factor
from invekto.auth.models import UserSession
from invekto.automation import service as automation
from invekto.automation.schemas import RuleIn
from invekto.campaigns import service as campaigns
from invekto.campaigns.schemas import CampaignIn, Segment
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.whatsapp import WABA_ID, create_simulator
from invekto.consent import sync as iys_sync
from invekto.consent.schemas import IysSettingsIn
from invekto.consent.simulator import BRAND_CODE, IYS_CODE
from invekto.consent.simulator import PASSWORD as IYS_PASSWORD
from invekto.consent.simulator import USERNAME as IYS_USERNAME
from invekto.consent.simulator import create_simulator as create_iys_simulator
from invekto.contacts import service as contacts
from invekto.contacts.models import CustomFieldDefinition
from invekto.contacts.schemas import ContactCreate, ContactUpdate, CustomFieldCreate, TagCreate
from invekto.core.actor import ROLE_RANK, Permission
from invekto.flows import service as flows
from invekto.flows.schemas import FlowCreate, FlowDraft, FlowTriggers
from invekto.follow_ups import service as follow_ups
from invekto.follow_ups.schemas import SequenceIn, StepIn
from invekto.inbox import service as inbox
from invekto.inbox.models import ScheduledMessage
from invekto.integrations import service as integrations_service
from invekto.integrations.payments import service as payment_links
from invekto.integrations.payments.schemas import PaymentLinkIn
from invekto.integrations.paytr import simulator as paytr_simulator
from invekto.mail import service as mail
from invekto.mail.schemas import SmtpSettingsIn, SummarySettingsIn
from invekto.outgoing_webhooks import service as outgoing_webhooks
from invekto.outgoing_webhooks.schemas import SubscriptionIn
from invekto.routing import service as routing
from invekto.routing import sla
from invekto.routing.schemas import (
    BusinessHoursIn,
    HolidayIn,
    RoutingIn,
    ShiftExceptionIn,
    ShiftPlanIn,
    SlaPolicyIn,
)
from invekto.templates import service as templates
from invekto.templates.schemas import TemplateIn
from invekto.users import roles
from invekto.users import service as users
from invekto.users.schemas import GroupCreate, RoleIn, UserCreate
from tests.factories import PASSWORD, Company, World
from tests.mail.support import free_port
from tests.processes import serving

API = "/api/v1"
ROLES = ("agent", "supervisor", "admin")
CAST = {"agent": "bora", "supervisor": "sevgi", "admin": "ayla"}
NEW_PASSWORD = "yepyeni-parola-2024"
_sequence = itertools.count(1)


def fresh(prefix: str) -> str:
    """A name no other call in this run uses (usernames, group, channel and tag names...)."""
    return f"{prefix}-{next(_sequence)}-{uuid.uuid4().hex[:6]}"


# ---- building objects through the service layer ------------------------------------------------

async def as_system(company: Company, work: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await work(session, company.system)


async def new_user(company: Company, role: str = "agent") -> uuid.UUID:
    user, _ = await as_system(company, lambda s, a: users.create_user(s, a, UserCreate(
        username=fresh("kullanici"), display_name="Geçici Kullanıcı", role=role,
        password=PASSWORD)))
    return user.id


async def new_group(company: Company) -> uuid.UUID:
    group = await as_system(company, lambda s, a: users.create_group(
        s, a, GroupCreate(name=fresh("grup"))))
    return group.id


async def new_channel(company: Company) -> uuid.UUID:
    channel = await as_system(company, lambda s, a: channels.create_channel(
        s, a, ChannelCreate(kind="webchat", name=fresh("kanal"))))
    return channel.id


async def new_contact(company: Company) -> uuid.UUID:
    contact = await as_system(company, lambda s, a: contacts.create_contact(
        s, a, ContactCreate(name="Geçici Müşteri")))
    return contact.id


async def new_tag(company: Company) -> tuple[uuid.UUID, str]:
    tag = await as_system(company, lambda s, a: contacts.create_tag(
        s, a, TagCreate(name=fresh("etiket"))))
    return tag.id, tag.name


async def free_custom_field_slots(company: Company) -> None:
    """A company may define only ten custom fields; the shared company makes many."""
    async def clear(session, actor):
        for field_id in (await session.scalars(select(CustomFieldDefinition.id).where(
                CustomFieldDefinition.tenant_id == actor.tenant_id))).all():
            await contacts.delete_custom_field(session, actor, field_id)
    await as_system(company, clear)


def fresh_key() -> str:
    return f"alan_{next(_sequence)}_{uuid.uuid4().hex[:6]}"


async def new_custom_field(company: Company) -> tuple[uuid.UUID, str]:
    await free_custom_field_slots(company)
    definition = await as_system(company, lambda s, a: contacts.create_custom_field(
        s, a, CustomFieldCreate(key=fresh_key(), label="Alan", field_type="text")))
    return definition.id, definition.key


async def new_api_key(company: Company, role: str = "agent") -> uuid.UUID:
    key, _ = await as_system(company, lambda s, a: auth.create_api_key(
        s, a, name=fresh("anahtar"), role=role))
    return key.id


async def new_attachment(company: Company) -> uuid.UUID:
    rt = company.rt
    attachment = await as_system(company, lambda s, a: inbox.store_attachment(
        s, a, rt.storage, filename="randevu.txt", content_type="text/plain",
        data=b"randevu belgesi", max_bytes=rt.settings.max_attachment_bytes))
    return attachment.id


@dataclass(frozen=True)
class Conv:
    id: uuid.UUID
    contact_id: uuid.UUID


PLACEMENTS = ("shared", "group", "colleague", "group_colleague", "bora")


async def new_conversation(company: Company, placement: str = "shared", *,
                           closed: bool = False) -> Conv:
    """A customer's fresh conversation, then put where the test needs it:

    shared: unassigned, no group (every agent sees it); group: in the Resepsiyon queue (Bora's);
    colleague: assigned to Deniz, no group; group_colleague: Deniz's, in Bora's group; bora: Bora's.
    """
    assert placement in PLACEMENTS
    message = await company.inbound(fresh("Merhaba"))
    conversation_id = message.conversation_id

    async def place(session, actor):
        people = company.people
        if placement == "colleague":
            await inbox.assign(session, actor, conversation_id, people["deniz"].user_id)
        elif placement == "bora":
            await inbox.assign(session, actor, conversation_id, people["bora"].user_id)
        elif placement == "group":
            await inbox.transfer(session, actor, conversation_id, user_id=None,
                                 group_id=company.group_id)
        elif placement == "group_colleague":
            await inbox.transfer(session, actor, conversation_id,
                                 user_id=people["deniz"].user_id, group_id=company.group_id)
        if closed:
            await inbox.close(session, actor, conversation_id)
    await as_system(company, place)
    return Conv(conversation_id, message.contact_id)


# ---- the table ---------------------------------------------------------------------------------

@dataclass
class Target:
    """For whom a request is built: ``ids`` owns the objects in the path, ``body`` the ids the
    body refers to (the caller's company); ``caller`` is user, api_key or anonymous."""

    ids: Company
    body: Company
    role: str = "admin"
    caller: str = "user"
    placement: str = "shared"

    async def conversation(self, *, closed: bool = False) -> Conv:
        return await new_conversation(self.ids, self.placement, closed=closed)


@dataclass
class Call:
    params: dict[str, uuid.UUID] = field(default_factory=dict)
    json: Any = None
    files: dict | None = None
    query: dict[str, str] | None = None
    client: httpx.AsyncClient | None = None  # a fresh person's session (logout, password)


Builder = Callable[[Target], Awaitable[Call]]


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    min_role: str
    build: Builder
    ok: int
    # "role": the least role decides; "person": any logged-in person, an API key gets key_status.
    rule: str = "role"
    key_status: int | None = None
    key_code: str | None = None
    listing: str | None = None  # for creates: what the home admin reads to see nothing was made
    watch: str | None = None  # a company's setting: what the home admin reads to see it unchanged

    @property
    def id(self) -> str:
        return f"{self.method} {self.path.removeprefix(API)}"

    def url(self, call: Call) -> str:
        return self.path.format(**call.params)

    def allows(self, role: str) -> bool:
        return ROLE_RANK[role] >= ROLE_RANK[self.min_role]


async def _plain(t: Target) -> Call:
    return Call()


async def _topic(t: Target) -> Call:
    return Call(params={"topic": "channels"})


async def _period(t: Target) -> Call:
    return Call(query={"since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"})


async def _fresh_session(t: Target) -> httpx.AsyncClient | None:
    if t.caller != "user":
        return None
    return (await t.ids.add_person(fresh("kisi"), t.role)).client


async def _logout(t: Target) -> Call:
    return Call(client=await _fresh_session(t))


async def _password(t: Target) -> Call:
    return Call(client=await _fresh_session(t),
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})


async def _create_key(t: Target) -> Call:
    return Call(json={"name": fresh("anahtar"), "role": "agent"})


async def _key(t: Target) -> Call:
    return Call({"key_id": await new_api_key(t.ids)})


async def _create_user(t: Target) -> Call:
    return Call(json={"username": fresh("kullanici"), "display_name": "Yeni Kişi",
                      "role": "agent", "password": PASSWORD,
                      "group_ids": [str(t.body.group_id)]})


async def _existing_user(t: Target) -> Call:
    return Call({"user_id": t.ids.people["ayla"].user_id})


async def _update_user(t: Target) -> Call:
    return Call({"user_id": await new_user(t.ids)}, json={"display_name": "Değişti"})


async def _create_group(t: Target) -> Call:
    return Call(json={"name": fresh("grup"), "member_ids": [str(t.body.people["ayla"].user_id)]})


async def _existing_group(t: Target) -> Call:
    return Call({"group_id": t.ids.group_id})


async def _update_group(t: Target) -> Call:
    return Call({"group_id": await new_group(t.ids)}, json={"description": "değişti"})


async def _group(t: Target) -> Call:
    return Call({"group_id": await new_group(t.ids)})


async def new_role(company: Company) -> uuid.UUID:
    role = await as_system(company, lambda s, a: roles.create_role(s, a, RoleIn(
        name=fresh("rol"), permissions=[Permission.HANDLE_CONVERSATIONS])))
    return role.id


async def _create_role(t: Target) -> Call:
    return Call(json={"name": fresh("rol"), "permissions": ["conversations.handle",
                                                            "reports.see"]})


async def _existing_role(t: Target) -> Call:
    return Call({"role_id": await new_role(t.ids)})


async def _update_role(t: Target) -> Call:
    return Call({"role_id": await new_role(t.ids)},
                json={"name": fresh("rol"), "permissions": ["reports.see"]})


async def _create_channel(t: Target) -> Call:
    return Call(json={"kind": "webchat", "name": fresh("kanal")})


async def _existing_channel(t: Target) -> Call:
    return Call({"channel_id": t.ids.channel_id})


async def _update_channel(t: Target) -> Call:
    return Call({"channel_id": await new_channel(t.ids)}, json={"name": fresh("kanal")})


async def _channel(t: Target) -> Call:
    return Call({"channel_id": await new_channel(t.ids)})


async def _whatsapp_channel(t: Target) -> Call:
    """A webhook channel; its connection test finds nothing listening (no provider needed)."""
    channel = await as_system(t.ids, lambda s, a: channels.create_channel(s, a, ChannelCreate(
        kind="whatsapp_cloud", name=fresh("kanal"), external_id="109876543210987",
        settings={"api_base_url": "http://127.0.0.1:9"}, credentials={"access_token": "t"})))
    return Call({"channel_id": channel.id})


async def _telegram_channel(t: Target) -> Call:
    """A Telegram bot whose API address answers nothing: connecting it reports that, no 5xx."""
    channel = await as_system(t.ids, lambda s, a: channels.create_channel(s, a, ChannelCreate(
        kind="telegram", name=fresh("bot"), settings={"api_base_url": "http://127.0.0.1:9"},
        credentials={"bot_token": "123456789:AAbbccddeeffgghhiijjkkll"})))
    return Call({"channel_id": channel.id})


async def _create_contact(t: Target) -> Call:
    return Call(json={"name": "Yeni Müşteri"})


async def _contact(t: Target) -> Call:
    return Call({"contact_id": await new_contact(t.ids)})


async def _update_contact(t: Target) -> Call:
    return Call({"contact_id": await new_contact(t.ids)}, json={"name": "Değişti"})


async def _set_consent(t: Target) -> Call:
    return Call({"contact_id": await new_contact(t.ids), "consent_type": "message"},
                json={"granted": True, "source": "manual"})


async def _create_tag(t: Target) -> Call:
    return Call(json={"name": fresh("etiket")})


async def _update_tag(t: Target) -> Call:
    return Call({"tag_id": (await new_tag(t.ids))[0]}, json={"color": "#123456"})


async def _tag(t: Target) -> Call:
    return Call({"tag_id": (await new_tag(t.ids))[0]})


async def _create_custom_field(t: Target) -> Call:
    await free_custom_field_slots(t.body)
    return Call(json={"key": fresh_key(), "label": "Alan", "field_type": "text"})


async def _update_custom_field(t: Target) -> Call:
    return Call({"field_id": (await new_custom_field(t.ids))[0]}, json={"label": "Değişti"})


async def _custom_field(t: Target) -> Call:
    return Call({"field_id": (await new_custom_field(t.ids))[0]})


async def _conversation(t: Target) -> Call:
    return Call({"conversation_id": (await t.conversation()).id})


async def _assign_to_admin(t: Target) -> Call:
    """Assigning to someone else is what needs a supervisor (agents may only take or release)."""
    return Call({"conversation_id": (await t.conversation()).id},
                json={"assignee_id": str(t.body.people["ayla"].user_id)})


async def _transfer_to_group(t: Target) -> Call:
    return Call({"conversation_id": (await t.conversation()).id},
                json={"group_id": str(t.body.group_id)})


async def _closed_conversation(t: Target) -> Call:
    return Call({"conversation_id": (await t.conversation(closed=True)).id})


async def _set_pending(t: Target) -> Call:
    return Call({"conversation_id": (await t.conversation()).id}, json={"status": "pending"})


async def _tag_conversation(t: Target) -> Call:
    _, name = await new_tag(t.body)
    return Call({"conversation_id": (await t.conversation()).id}, json={"add": [name]})


async def _send(t: Target) -> Call:
    return Call({"conversation_id": (await t.conversation()).id},
                json={"body": "Merhaba, nasıl yardımcı olabilirim?"})


async def _start_conversation(t: Target) -> Call:
    """Write first to a new number, on an SMS line of the caller's company."""
    channel = await as_system(t.body, lambda s, a: channels.create_channel(s, a, ChannelCreate(
        kind="sms_netgsm", name=fresh("sms"))))
    return Call(json={"channel_id": str(channel.id), "phone": f"+90532{next(_sequence):07d}",
                      "message": {"body": "Merhaba, randevunuzu hatırlatırız."}})


def _tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


async def _schedule(t: Target) -> Call:
    return Call({"conversation_id": (await t.conversation()).id},
                json={"send_at": _tomorrow(), "message": {"body": "Yarın görüşürüz"}})


async def _scheduled(t: Target, json: dict | None = None) -> Call:
    """A message scheduled on a conversation by the caller (its author may change it)."""
    conversation = await t.conversation()
    author = t.ids.people[CAST[t.role]].user_id if t.caller == "user" else None

    async def add(session, actor):
        scheduled = ScheduledMessage(
            tenant_id=actor.tenant_id, conversation_id=conversation.id, author_id=author,
            spec={"body": "Yarın görüşürüz"}, send_at=datetime.now(UTC) + timedelta(days=1),
            status="scheduled")
        session.add(scheduled)
        await session.flush()
        return scheduled.id
    return Call({"conversation_id": conversation.id,
                 "scheduled_id": await as_system(t.ids, add)}, json=json)


async def _edit_scheduled(t: Target) -> Call:
    return await _scheduled(t, {"body": "Öbür gün görüşürüz"})


async def _conversation_note(t: Target) -> Call:
    return Call({"conversation_id": (await t.conversation()).id}, json={"body": "İç not"})


async def _conversation_contact(t: Target) -> Call:
    return Call({"contact_id": (await t.conversation()).contact_id})


async def _contact_note(t: Target) -> Call:
    return Call({"contact_id": (await t.conversation()).contact_id}, json={"body": "Kişi notu"})


# Where the company's PBX takes click-to-call requests (``pbx_originate``, a real server that
# accepts them): the call route's success needs a provider that says yes.
_PBX: dict[str, str] = {}


async def _call_contact(t: Target) -> Call:
    """A visible contact with a phone number, and a PBX line that can place calls."""
    conversation = await t.conversation()

    async def prepare(session, actor):
        if not _PBX.get(str(actor.tenant_id)):
            await channels.create_channel(session, actor, ChannelCreate(
                kind="voice", name=fresh("santral"), settings={"originate_url": _PBX["url"]}))
            _PBX[str(actor.tenant_id)] = "ready"
        await contacts.update_contact(session, actor, conversation.contact_id,
                                      ContactUpdate(phone=f"+90532{next(_sequence):07d}"))
    await as_system(t.ids, prepare)
    return Call({"contact_id": conversation.contact_id})


async def _routing(t: Target) -> Call:
    """A channel routed to the caller's company's group."""
    channel_id = await new_channel(t.ids)
    await as_system(t.ids, lambda s, a: routing.set_routing(s, a, channel_id, RoutingIn(
        group_ids=[t.ids.group_id])))
    return Call({"channel_id": channel_id})


async def _set_routing(t: Target) -> Call:
    return Call({"channel_id": await new_channel(t.ids)},
                json={"group_ids": [str(t.body.group_id)], "algorithm": "least_today"})


async def _set_operations(t: Target) -> Call:
    return Call({"channel_id": await new_channel(t.ids)},
                json={"welcome_new": "Hoş geldiniz", "idle_minutes": 15})


_WEEKDAYS = {str(d): [["09:00", "18:00"]] for d in range(5)}


async def _hours(t: Target) -> Call:
    return Call(json={"schedule": _WEEKDAYS, "away_message": "Mesai dışı"})


async def _channel_hours(t: Target) -> Call:
    """A channel with hours of its own."""
    channel_id = await new_channel(t.ids)
    await as_system(t.ids, lambda s, a: routing.set_business_hours(
        s, a, BusinessHoursIn(schedule=_WEEKDAYS), channel_id))
    return Call({"channel_id": channel_id})


async def _set_channel_hours(t: Target) -> Call:
    return Call({"channel_id": await new_channel(t.ids)}, json={"schedule": _WEEKDAYS})


async def _add_holiday(t: Target) -> Call:
    # A day no other call used (the public holidays fetched are those of 2030 to 2089).
    day = date(2200, 1, 1) + timedelta(days=next(_sequence))
    return Call(json={"day": day.isoformat(), "name": fresh("tatil")})


async def _public_holidays(t: Target) -> Call:
    return Call(query={"year": str(2030 + next(_sequence) % 60)})


async def _holiday(t: Target) -> Call:
    holiday = await as_system(t.ids, lambda s, a: routing.add_holiday(s, a, HolidayIn(
        day=date(2300, 1, 1) + timedelta(days=next(_sequence)), name=fresh("tatil"))))
    return Call({"holiday_id": holiday.id})


async def _shift_plan(t: Target) -> Call:
    """A colleague with a shift plan."""
    user_id = await new_user(t.ids)
    await as_system(t.ids, lambda s, a: routing.set_shift_plan(s, a, user_id, ShiftPlanIn(
        schedule=_WEEKDAYS)))
    return Call({"user_id": user_id})


async def _set_shift_plan(t: Target) -> Call:
    return Call({"user_id": await new_user(t.ids)}, json={"schedule": _WEEKDAYS})


async def _set_shift_exception(t: Target) -> Call:
    return Call({"user_id": await new_user(t.ids)}, json={"day": "2026-12-24", "note": "İzin"})


async def _shift_exception(t: Target) -> Call:
    user_id = await new_user(t.ids)
    found = await as_system(t.ids, lambda s, a: routing.set_shift_exception(
        s, a, user_id, ShiftExceptionIn(day="2026-12-25")))
    return Call({"exception_id": found.id})


async def _create_sla(t: Target) -> Call:
    return Call(json={"name": fresh("sla"), "first_response_minutes": 30})


async def _sla_policy(t: Target) -> Call:
    policy = await as_system(t.ids, lambda s, a: sla.save_policy(s, a, SlaPolicyIn(
        name=fresh("sla"), resolution_minutes=600)))
    return Call({"policy_id": policy.id})


async def _update_sla(t: Target) -> Call:
    call = await _sla_policy(t)
    return Call(call.params, json={"name": fresh("sla"), "first_response_minutes": 15})


async def _create_follow_up(t: Target) -> Call:
    return Call(json={"name": fresh("takip"), "trigger": "conversation_closed",
                      "channel_id": str(await new_channel(t.body)),
                      "steps": [{"delay_minutes": 60, "body": "Memnun kaldınız mı?"}]})


async def _follow_up(t: Target) -> Call:
    sequence = await as_system(t.ids, lambda s, a: follow_ups.save_sequence(s, a, SequenceIn(
        name=fresh("takip"), trigger="conversation_closed",
        steps=[StepIn(delay_minutes=30, body="Merhaba")])))
    return Call({"sequence_id": sequence.id})


async def _update_follow_up(t: Target) -> Call:
    call = await _follow_up(t)
    return Call(call.params, json={"name": fresh("takip"), "trigger": "conversation_closed",
                                   "steps": [{"delay_minutes": 5, "body": "Yeniden merhaba"}]})


async def _set_csat(t: Target) -> Call:
    return Call({"channel_id": await new_channel(t.ids)},
                json={"enabled": True, "question_text": "Puanınız?", "delay_minutes": 10})


async def _upload(t: Target) -> Call:
    return Call(files={"file": ("rapor.txt", b"tahlil sonucu", "text/plain")})


async def _attachment(t: Target) -> Call:
    return Call({"attachment_id": await new_attachment(t.ids)})


# The companies' WhatsApp provider (``whatsapp_provider``, a real server): templates are
# submitted to it, listed from it and deleted there. Each template's channel, for ``probe``.
_WHATSAPP: dict[str, str] = {}
_TEMPLATE_CHANNELS: dict[uuid.UUID, uuid.UUID] = {}


def _template_spec() -> dict:
    """A template name no other call in this run uses (the provider is shared)."""
    return {"name": f"sablon_{next(_sequence)}_{uuid.uuid4().hex[:6]}", "language": "tr",
            "category": "UTILITY", "components": [
                {"type": "BODY", "text": "Merhaba {{1}}, randevunuz yarın.",
                 "example": {"body_text": [["Ayşe"]]}}]}


async def new_whatsapp_channel(company: Company) -> uuid.UUID:
    """A WhatsApp channel whose templates live at the shared simulator."""
    channel = await as_system(company, lambda s, a: channels.create_channel(s, a, ChannelCreate(
        kind="whatsapp_cloud", name=fresh("whatsapp"), external_id="109876543210987",
        settings={"api_base_url": _WHATSAPP["url"], "waba_id": WABA_ID},
        credentials={"access_token": "EAAG-test"})))
    return channel.id


async def _templates_channel(t: Target) -> Call:
    return Call({"channel_id": await new_whatsapp_channel(t.ids)})


async def _create_template(t: Target) -> Call:
    call = await _templates_channel(t)
    return Call(call.params, json=_template_spec())


async def _template(t: Target) -> Call:
    """A draft template on a fresh WhatsApp channel."""
    call = await _templates_channel(t)
    channel_id = call.params["channel_id"]
    template = await as_system(t.ids, lambda s, a: templates.create_template(
        s, a, channel_id, TemplateIn(**_template_spec())))
    _TEMPLATE_CHANNELS[template.id] = channel_id
    return Call({"channel_id": channel_id, "template_id": template.id})


async def _template_variables(t: Target) -> Call:
    call = await _template(t)
    return Call(call.params, json={"variables": {"body.1": "{{ contact.first_name }}"}})


def _campaign_spec(channel_id: uuid.UUID) -> CampaignIn:
    return CampaignIn(name=fresh("kampanya"), channel_id=channel_id, content_kind="template",
                      template_name="randevu_hatirlatma", template_language="tr",
                      template_parameters={"1": "{{ contact.first_name }}", "2": "yarın"},
                      segment=Segment())


async def _create_campaign(t: Target) -> Call:
    return Call(json=_campaign_spec(await new_whatsapp_channel(t.body)).model_dump(mode="json"))


async def _campaign(t: Target, then=None) -> Call:
    """A draft campaign on a fresh WhatsApp channel (``then`` moves it on: started...)."""
    channel_id = await new_whatsapp_channel(t.ids)

    async def make(session, actor):
        made = await campaigns.create(session, actor, _campaign_spec(channel_id))
        if then is not None:
            await then(session, actor, made.id)
        return made
    return Call({"campaign_id": (await as_system(t.ids, make)).id})


async def _update_campaign(t: Target) -> Call:
    call = await _campaign(t)
    return Call(call.params,
                json=_campaign_spec(await new_whatsapp_channel(t.body)).model_dump(mode="json"))


async def _schedule_campaign(t: Target) -> Call:
    call = await _campaign(t)
    return Call(call.params, json={"at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})


async def _scheduled_campaign(t: Target) -> Call:
    return await _campaign(t, lambda s, a, c: campaigns.schedule(
        s, a, c, datetime.now(UTC) + timedelta(days=1)))


async def _running_campaign(t: Target) -> Call:
    return await _campaign(t, lambda s, a, c: campaigns.send_now(s, a, c))


async def _paused_campaign(t: Target) -> Call:
    async def pause(session, actor, campaign_id):
        await campaigns.send_now(session, actor, campaign_id)
        await campaigns.pause(session, actor, campaign_id)
    return await _campaign(t, pause)


_LIST_CSV = "Ad Soyad;Telefon\nAyşe Yılmaz;0532 000 00 01\nHatalı;123\n".encode()


async def _upload_list(t: Target) -> Call:
    return Call(files={"file": ("liste.csv", _LIST_CSV, "text/csv")})


async def _recipient_list(t: Target) -> Call:
    made = await as_system(t.ids, lambda s, a: campaigns.import_list(
        s, a, name=fresh("liste"), filename="liste.csv", data=_LIST_CSV))
    return Call({"list_id": made.id})


def _rule_spec(**changes) -> dict:
    """A rule that cannot fire here, even switched on (the campaign it listens for does not
    exist), so the company's other tests never see its note."""
    return {"name": fresh("kural"), "enabled": False, "event": "campaign_replied",
            "event_options": {"campaign_id": str(uuid.uuid4())},
            "conditions": {"all": [{"field": "message.text", "op": "contains_any",
                                    "value": ["teşekkür"]}]},
            "actions": [{"type": "add_note", "body": "Kampanyaya yanıt: {{ contact.name }}"}],
            **changes}


async def new_rule(company: Company) -> uuid.UUID:
    rule = await as_system(company, lambda s, a: automation.create_rule(
        s, a, RuleIn(**_rule_spec())))
    return rule.id


async def _create_rule(t: Target) -> Call:
    return Call(json=_rule_spec())


async def _rule(t: Target) -> Call:
    return Call({"rule_id": await new_rule(t.ids)})


async def _update_rule(t: Target) -> Call:
    return Call({"rule_id": await new_rule(t.ids)},
                json=_rule_spec(description="Yanıt verenlere not düş"))


async def _enable_rule(t: Target) -> Call:
    return Call({"rule_id": await new_rule(t.ids)}, json={"enabled": True})


async def _move_rule(t: Target) -> Call:
    return Call({"rule_id": await new_rule(t.ids)}, json={"position": 0})


async def _dry_run(t: Target) -> Call:
    """What the caller's rules would do to one of the caller's conversations."""
    conversation = await new_conversation(t.body)
    return Call(json={"conversation_id": str(conversation.id), "event": "message_received"})


# Asks a name and waits for it (no timeout): a conversation it runs in stays with the bot.
# No trigger: it starts only when started (``flows.start_flow``), never on the company's
# other conversations.
_ASKS_NAME = {"start": "ad", "nodes": {"ad": {
    "type": "input", "text": "Adınız nedir?", "save_to": "var.ad", "validate": "text",
    "next": "tesekkur", "x": 40, "y": 80}, "tesekkur": {
    "type": "end", "text": "Teşekkürler {{ var.ad }}!", "x": 40, "y": 200}}}


async def new_flow(company: Company, *, publish: bool = True) -> uuid.UUID:
    """A flow whose draft is complete; published unless told otherwise."""
    async def make(session, actor):
        flow = await flows.create_flow(session, actor, FlowCreate(name=fresh("akis")))
        await flows.save_draft(session, actor, flow.id, FlowDraft(
            graph=_ASKS_NAME, triggers=FlowTriggers()))
        if publish:
            await flows.publish(session, actor, flow.id)
        return flow.id
    return await as_system(company, make)


async def _create_flow(t: Target) -> Call:
    return Call(json={"name": fresh("akis"), "template": "clinic"})


async def _flow(t: Target) -> Call:
    return Call({"flow_id": await new_flow(t.ids)})


async def _unpublished_flow(t: Target) -> Call:
    return Call({"flow_id": await new_flow(t.ids, publish=False)})


async def _save_flow_draft(t: Target) -> Call:
    graph = {**_ASKS_NAME, "nodes": {**_ASKS_NAME["nodes"], "ad": {
        **_ASKS_NAME["nodes"]["ad"], "text": "Adınızı yazar mısınız?"}}}
    return Call({"flow_id": await new_flow(t.ids)},
                json={"name": fresh("akis"), "graph": graph, "triggers": {"keywords": ["randevu"]}})


async def _test_flow(t: Target) -> Call:
    return Call({"flow_id": await new_flow(t.ids)}, json={"text": "Merhaba"})


async def _disable_flow(t: Target) -> Call:
    return Call({"flow_id": await new_flow(t.ids)}, json={"enabled": False})


async def _bot_settings(t: Target) -> Call:
    return Call(json={"escape_words": ["temsilci", "insan", fresh("yetkili")]})


async def _ai_settings(t: Target) -> Call:
    return Call(json={"suggestions_enabled": True, "tag_threshold": 0.65,
                      "answer_threshold": 0.8})


async def _mail_server(t: Target) -> Call:
    return Call(json={"host": "smtp.example.com", "port": 587, "security": "starttls",
                      "username": "rapor@example.com", "password": fresh("parola"),
                      "from_address": "rapor@example.com"})


async def _summary_settings(t: Target) -> Call:
    return Call(json={"enabled": False, "recipients": [f"{fresh('ekip')}@example.com"],
                      "weekday": 2, "hour": 9})


async def _unanswered_mail_server(company: Company) -> None:
    """A mail server nobody answers at, and a recipient: a send fails at once, and that
    failure is the call's answer (200, ``ok`` false)."""
    async def save(session, actor):
        await mail.save_smtp(session, actor, SmtpSettingsIn(
            host="127.0.0.1", port=free_port(), security="none",
            from_address="rapor@example.com"))
        await mail.save_summary_settings(session, actor, SummarySettingsIn(
            recipients=["mudur@example.com"]))
    await as_system(company, save)


async def _test_email(t: Target) -> Call:
    await _unanswered_mail_server(t.body)
    return Call(json={"to": "ayla@example.com"})


async def _send_summary(t: Target) -> Call:
    await _unanswered_mail_server(t.body)
    return Call()


# ---- integrations ------------------------------------------------------------------------------

# A marketplace account whose API address nobody answers at: its test fails at once (200, ``ok``
# false) and no test reaches the internet.
_TRENDYOL = {"seller_id": "123456", "api_key": "matrix-key", "api_secret": "matrix-secret",
             "base_url": f"http://127.0.0.1:{free_port()}"}


async def _connect_trendyol(company: Company) -> None:
    from invekto.integrations import service as integrations

    await as_system(company, lambda s, a: integrations.save_integration(
        s, a, "trendyol", _TRENDYOL))


async def _integration(t: Target) -> Call:
    return Call(params={"kind": "trendyol"})


async def _save_integration(t: Target) -> Call:
    return Call(params={"kind": "trendyol"}, json={"settings": {**_TRENDYOL,
                                                                "seller_id": "654321"}})


async def _connected_integration(t: Target) -> Call:
    await _connect_trendyol(t.body)
    return Call(params={"kind": "trendyol"})


async def _order_number(t: Target) -> Call:
    return Call(query={"number": "10654321987"})


# ---- two-factor authentication, sessions, security settings ------------------------------------

# Whose each session is (``probe`` reads a session through its person's list).
_SESSION_OWNERS: dict[uuid.UUID, uuid.UUID] = {}


def _totp_now(secret: str) -> str:
    return totp.code_at(secret, datetime.now(UTC))


async def _two_factor_on(company: Company, user_id: uuid.UUID) -> list[str]:
    """Two-factor authentication set up for the user as they would; their recovery codes."""
    async def enrol(session, _system):
        user_actor = await _person_actor(session, company, user_id)
        setup = await two_factor.start_enrolment(session, user_actor)
        return await two_factor.confirm_enrolment(session, user_actor, _totp_now(setup.secret))
    return await as_system(company, enrol)


async def _person_actor(session, company: Company, user_id: uuid.UUID):
    user = await users.get_user(session, company.system, user_id)
    return await roles.actor_for(session, user)


async def _newest_session(company: Company, user_id: uuid.UUID) -> uuid.UUID:
    session_id = await as_system(company, lambda s, a: s.scalar(
        select(UserSession.id).where(UserSession.user_id == user_id)
        .order_by(UserSession.created_at.desc()).limit(1)))
    _SESSION_OWNERS[session_id] = user_id
    return session_id


async def _two_factor_setup(t: Target) -> Call:
    return Call(client=await _fresh_session(t))


async def _two_factor_enable(t: Target) -> Call:
    client = await _fresh_session(t)
    if client is None:
        return Call(json={"code": "123456"})
    setup = await client.post(f"{API}/auth/2fa/setup")
    assert setup.status_code == 200, setup.text
    return Call(client=client, json={"code": _totp_now(setup.json()["secret"])})


async def _two_factor_person(t: Target) -> Call:
    """A fresh person with two-factor authentication on, and one of their recovery codes."""
    if t.caller != "user":
        return Call(json={"code": "abcde-fghjk"})
    person = await t.ids.add_person(fresh("kisi"), t.role)
    codes = await _two_factor_on(t.ids, person.user_id)
    return Call(client=person.client, json={"code": codes[0]})


async def _user_with_two_factor(t: Target) -> Call:
    user_id = await new_user(t.ids)
    await _two_factor_on(t.ids, user_id)
    return Call({"user_id": user_id})


async def _my_other_session(t: Target) -> Call:
    """Another session of the caller's cast member (a login elsewhere): theirs to end."""
    username = CAST[t.role]
    user_id = t.ids.people[username].user_id
    await (await t.ids.login(username)).aclose()
    return Call({"session_id": await _newest_session(t.ids, user_id)})


async def _user_with_session(t: Target) -> Call:
    user_id = await new_user(t.ids)
    username = (await as_system(t.ids, lambda s, a: users.get_user(s, a, user_id))).username
    await (await t.ids.login(username)).aclose()
    return Call({"user_id": user_id})


async def _user_session(t: Target) -> Call:
    call = await _user_with_session(t)
    user_id = call.params["user_id"]
    return Call({"user_id": user_id, "session_id": await _newest_session(t.ids, user_id)})


def _security_policy() -> dict[str, Any]:
    return {"require_two_factor": False, "session_idle_minutes": 720,
            "session_absolute_hours": 336, "password_min_length": 10,
            "password_needs_letters_and_digits": False}


async def _save_security(t: Target) -> Call:
    return Call(json=_security_policy())


async def _save_sso(t: Target) -> Call:
    return Call(json={"enabled": False, "display_name": "Kurum", "issuer": "",
                      "client_id": "", "client_secret": None, "create_users": False,
                      "default_role": "agent", "sso_only": False})


# ---- outgoing webhooks (a company's subscriptions; their jobs are not run here) -----------

def _subscription_body() -> dict[str, Any]:
    return {"url": "https://hooks.example.com/invekto", "events": ["contact.created"],
            "description": fresh("abonelik")}


async def new_subscription(company: Company) -> uuid.UUID:
    subscription, _ = await as_system(company, lambda s, a: outgoing_webhooks.create_subscription(
        s, a, SubscriptionIn(**_subscription_body())))
    return subscription.id


async def _create_subscription(t: Target) -> Call:
    return Call(json=_subscription_body())


async def _subscription(t: Target) -> Call:
    return Call({"subscription_id": await new_subscription(t.ids)})


async def _update_subscription(t: Target) -> Call:
    return Call({"subscription_id": await new_subscription(t.ids)},
                json={"events": ["*"], "enabled": False})


async def _delivery(t: Target) -> Call:
    subscription_id = await new_subscription(t.ids)
    delivery = await as_system(t.ids, lambda s, a: outgoing_webhooks.send_test(
        s, a, subscription_id))
    return Call({"delivery_id": delivery.id})


async def _update_key(t: Target) -> Call:
    return Call({"key_id": await new_api_key(t.ids)},
                json={"scopes": ["conversations.handle"], "rate_limit_per_minute": 100})


# Where the companies' PayTR is (``paytr_provider``: the PayTR simulator), for payment links.
_PAYTR: dict[str, str] = {}


async def _paytr_on(company: Company) -> None:
    await as_system(company, lambda s, a: integrations_service.save_integration(s, a, "paytr", {
        "merchant_id": paytr_simulator.MERCHANT_ID,
        "merchant_key": paytr_simulator.MERCHANT_KEY,
        "merchant_salt": paytr_simulator.MERCHANT_SALT, "test_mode": "1",
        "base_url": _PAYTR["url"]}))


async def _make_payment_link(t: Target) -> Call:
    """A payment link for the conversation's company (PayTR connected there)."""
    conversation = await t.conversation()
    await _paytr_on(t.ids)
    return Call({"conversation_id": conversation.id},
                json={"amount": "150.00", "description": "Kapora"})


async def _payment_link(t: Target) -> Call:
    conversation = await t.conversation()
    await _paytr_on(t.ids)
    link, _ = await as_system(t.ids, lambda s, a: payment_links.create_link(
        s, a, conversation.id, PaymentLinkIn(amount=Decimal("150"), description="Kapora"),
        public_url="http://testserver"))
    return Call({"link_id": link.id})


# Where the companies' İYS is (``iys_provider``: the İYS simulator).
_IYS: dict[str, str] = {}


def _iys_settings_body() -> dict[str, Any]:
    return {"enabled": True, "base_url": _IYS["url"], "iys_code": IYS_CODE,
            "brand_code": BRAND_CODE, "username": IYS_USERNAME, "password": IYS_PASSWORD}


async def _iys_on(company: Company) -> None:
    await as_system(company, lambda s, a: iys_sync.save_settings(
        s, a, IysSettingsIn(**_iys_settings_body())))


async def _save_iys(t: Target) -> Call:
    return Call(json=_iys_settings_body())


async def _iys_account(t: Target) -> Call:
    """The caller's company with its İYS account saved (the login test logs in to it)."""
    await _iys_on(t.body)
    return Call()


async def _iys_check(t: Target) -> Call:
    """A contact with a number, asked about at the caller's company's İYS (which holds
    nothing for it: the answer says so)."""
    await _iys_on(t.body)
    contact = await as_system(t.ids, lambda s, a: contacts.create_contact(s, a, ContactCreate(
        name="Geçici Müşteri", phone=f"+90532{next(_sequence):07d}")))
    return Call({"contact_id": contact.id, "consent_type": "message"})


async def _consent_file(t: Target) -> Call:
    phone = f"+90533{next(_sequence):07d}"
    return Call(files={"file": ("izinler.csv", f"Telefon;İzin\n{phone};evet\n".encode(),
                                "text/csv")})


async def _bot_conversation(t: Target) -> Call:
    """A conversation (placed as the target says) that a bot is talking in."""
    conversation = await t.conversation()
    flow_id = await new_flow(t.ids)

    async def start(session, actor):
        held = await inbox.get_conversation(session, actor, conversation.id, for_update=True)
        started = await flows.start_flow(session, held, flow_id, started_by="rule")
        assert started is not None and started.state == "waiting", started
    await as_system(t.ids, start)
    return Call({"conversation_id": conversation.id})


async def _auto_answer_conversation(t: Target) -> Call:
    """A conversation (placed as the target says) that the AI answers first in."""
    conversation = await t.conversation()

    async def take(session, actor):
        from invekto.ai import auto_answer

        held = await inbox.get_conversation(session, actor, conversation.id, for_update=True)
        await auto_answer.take(session, held)
    await as_system(t.ids, take)
    return Call({"conversation_id": conversation.id})


async def _analysed_conversation(t: Target) -> Call:
    """A conversation (placed as the target says) with its stored analysis."""
    conversation = await t.conversation()
    db = t.ids.rt.db
    await as_system(t.ids, lambda s, a: analysis.analyse(s, a, conversation.id, db))
    return Call({"conversation_id": conversation.id})


async def _analysis_batch(t: Target) -> Call:
    return Call(json={"conversation_ids": [str((await new_conversation(t.body)).id)]})


async def new_article(company: Company) -> uuid.UUID:
    article = await as_system(company, lambda s, a: knowledge.save_article(s, a, ArticleIn(
        kind="faq", title=fresh("Otopark var mı"), body="Binamızın altında ücretsiz.")))
    return article.id


async def _create_article(t: Target) -> Call:
    return Call(json={"kind": "faq", "title": fresh("Taksit var mı"), "body": "9 taksit.",
                      "channel_id": str(t.body.channel_id)})


async def _article(t: Target) -> Call:
    return Call({"article_id": await new_article(t.ids)})


async def _update_article(t: Target) -> Call:
    return Call({"article_id": await new_article(t.ids)},
                json={"kind": "faq", "title": fresh("Otopark ücretli mi"), "body": "Hayır."})


_KB_CSV = "Soru;Cevap\nOtopark var mı?;Binamızın altında ücretsiz.\n".encode()


async def _upload_kb_document(t: Target) -> Call:
    return Call(files={"file": ("sss.csv", _KB_CSV, "text/csv")})


async def _kb_document(t: Target) -> Call:
    document = await as_system(t.ids, lambda s, a: knowledge.import_document(
        s, a, "sss.csv", _KB_CSV))
    return Call({"document_id": document.id})


async def _kb_search(t: Target) -> Call:
    return Call(query={"q": "otopark var mı"})


async def _erase_contact(t: Target) -> Call:
    """A fresh contact (no conversation to close first), its id repeated as the confirmation."""
    contact_id = await new_contact(t.ids)
    return Call({"contact_id": contact_id}, json={"confirm": str(contact_id)})


async def _retention_policy(t: Target) -> Call:
    return Call(json={"attachment_days": 90, "conversation_months": 24, "audit_days": 365})


def row(method: str, path: str, min_role: str, build: Builder, ok: int = 200, **extra) -> Row:
    return Row(method, API + path, min_role, build, ok, **extra)


LOGIN = ("POST", f"{API}/auth/login")  # public; tested on its own below
# Public too: a login's second step, with the token the first gave (tests/auth).
LOGIN_2FA = ("POST", f"{API}/auth/login/2fa")

ROWS: list[Row] = [
    # auth: a person's own session; an API key has no person behind it
    row("POST", "/auth/logout", "agent", _logout, 204, rule="person", key_status=204),
    row("GET", "/auth/me", "agent", _plain, rule="person", key_status=401,
        key_code="unauthenticated"),
    row("POST", "/auth/password", "agent", _password, 204, rule="person", key_status=422,
        key_code="validation_failed"),
    row("GET", "/api-keys", "admin", _plain),
    row("POST", "/api-keys", "admin", _create_key, 201, listing="/api-keys"),
    row("DELETE", "/api-keys/{key_id}", "admin", _key, 204),
    row("PATCH", "/api-keys/{key_id}", "admin", _update_key),
    # Two-factor authentication and sessions: a person's own (an API key has neither; its
    # "own session" to end is never found); another user's for who manages users (and the
    # reset of their second factor for who manages security).
    row("GET", "/auth/2fa", "agent", _plain, rule="person", key_status=422,
        key_code="validation_failed"),
    row("POST", "/auth/2fa/setup", "agent", _two_factor_setup, rule="person", key_status=422,
        key_code="validation_failed"),
    row("POST", "/auth/2fa/enable", "agent", _two_factor_enable, rule="person",
        key_status=422, key_code="validation_failed"),
    row("POST", "/auth/2fa/disable", "agent", _two_factor_person, 204, rule="person",
        key_status=422, key_code="validation_failed"),
    row("POST", "/auth/2fa/recovery-codes", "agent", _two_factor_person, rule="person",
        key_status=422, key_code="validation_failed"),
    row("DELETE", "/users/{user_id}/2fa", "admin", _user_with_two_factor, 204),
    row("GET", "/me/sessions", "agent", _plain, rule="person", key_status=422,
        key_code="validation_failed"),
    row("DELETE", "/me/sessions/{session_id}", "agent", _my_other_session, 204, rule="person",
        key_status=404, key_code="not_found"),
    row("POST", "/me/sessions/end-others", "agent", _two_factor_setup, rule="person",
        key_status=422, key_code="validation_failed"),
    row("GET", "/users/{user_id}/sessions", "admin", _existing_user),
    row("DELETE", "/users/{user_id}/sessions/{session_id}", "admin", _user_session, 204),
    row("DELETE", "/users/{user_id}/sessions", "admin", _user_with_session),
    # The company's security policy and single sign-on (its client secret): admins only.
    row("GET", "/settings/security", "admin", _plain),
    row("PUT", "/settings/security", "admin", _save_security, watch="/settings/security"),
    row("PUT", "/settings/security/sso", "admin", _save_sso, watch="/settings/security"),
    # users and groups: everyone reads (agents transfer to colleagues), admins change
    row("GET", "/users", "agent", _plain),
    row("POST", "/users", "admin", _create_user, 201, listing="/users?include_inactive=true"),
    row("GET", "/users/{user_id}", "agent", _existing_user),
    row("PATCH", "/users/{user_id}", "admin", _update_user),
    row("GET", "/groups", "agent", _plain),
    row("POST", "/groups", "admin", _create_group, 201, listing="/groups"),
    row("GET", "/groups/{group_id}", "agent", _existing_group),
    row("PATCH", "/groups/{group_id}", "admin", _update_group),
    row("DELETE", "/groups/{group_id}", "admin", _group, 204),
    # audit log
    row("GET", "/audit-events", "admin", _plain),
    row("GET", "/audit-events/export", "admin", _plain),
    # roles
    row("GET", "/permissions", "agent", _plain),
    row("GET", "/roles", "admin", _plain),
    row("POST", "/roles", "admin", _create_role, 201, listing="/roles"),
    row("GET", "/roles/{role_id}", "admin", _existing_role),
    row("PUT", "/roles/{role_id}", "admin", _update_role),
    row("DELETE", "/roles/{role_id}", "admin", _existing_role, 204),
    # channels
    row("GET", "/channels", "agent", _plain),
    row("POST", "/channels", "admin", _create_channel, 201, listing="/channels"),
    row("GET", "/channels/{channel_id}", "agent", _existing_channel),
    row("PATCH", "/channels/{channel_id}", "admin", _update_channel),
    row("DELETE", "/channels/{channel_id}", "admin", _channel, 204),
    row("POST", "/channels/{channel_id}/webhook-secret", "admin", _whatsapp_channel),
    row("POST", "/channels/{channel_id}/test", "admin", _whatsapp_channel),
    row("POST", "/channels/{channel_id}/connect", "admin", _telegram_channel),
    # contacts, tags, custom fields
    row("GET", "/contacts", "agent", _plain),
    row("POST", "/contacts", "agent", _create_contact, 201, listing="/contacts?limit=200"),
    row("GET", "/contacts/{contact_id}", "agent", _contact),
    row("POST", "/contacts/{contact_id}/reveal", "agent", _contact),
    row("PATCH", "/contacts/{contact_id}", "agent", _update_contact),
    row("GET", "/contacts/{contact_id}/consents", "agent", _contact),
    # Consent: anyone reads it and may record a withdrawal (tests/consent); a consent given,
    # which lets marketing reach the contact, and an import are for who manages contacts.
    row("GET", "/contacts/{contact_id}/consents/history", "agent", _contact),
    row("PUT", "/contacts/{contact_id}/consents/{consent_type}", "supervisor", _set_consent),
    row("POST", "/contacts/{contact_id}/consents/{consent_type}/iys-check", "agent",
        _iys_check),
    row("POST", "/consents/import", "supervisor", _consent_file, 201,
        listing="/contacts?limit=200"),
    row("DELETE", "/contacts/{contact_id}", "supervisor", _contact, 204),
    row("GET", "/tags", "agent", _plain),
    row("POST", "/tags", "supervisor", _create_tag, 201, listing="/tags"),
    row("PATCH", "/tags/{tag_id}", "supervisor", _update_tag),
    row("DELETE", "/tags/{tag_id}", "supervisor", _tag, 204),
    row("GET", "/custom-fields", "agent", _plain),
    row("POST", "/custom-fields", "admin", _create_custom_field, 201, listing="/custom-fields"),
    row("PATCH", "/custom-fields/{field_id}", "admin", _update_custom_field),
    row("DELETE", "/custom-fields/{field_id}", "admin", _custom_field, 204),
    # inbox: conversations in the shared queue, so the role is what is under test
    row("GET", "/conversations", "agent", _plain),
    row("GET", "/conversations/{conversation_id}", "agent", _conversation),
    # History export: admins only.
    row("GET", "/conversations/export", "admin", _plain),
    row("GET", "/conversations/{conversation_id}/export", "admin", _conversation),
    row("POST", "/conversations/{conversation_id}/assign", "supervisor", _assign_to_admin),
    row("POST", "/conversations/{conversation_id}/transfer", "agent", _transfer_to_group),
    row("POST", "/conversations/{conversation_id}/close", "agent", _conversation),
    row("POST", "/conversations/{conversation_id}/reopen", "agent", _closed_conversation),
    row("POST", "/conversations/{conversation_id}/status", "agent", _set_pending),
    row("POST", "/conversations/{conversation_id}/tags", "agent", _tag_conversation),
    row("POST", "/conversations/{conversation_id}/read", "agent", _conversation),
    row("GET", "/conversations/{conversation_id}/messages", "agent", _conversation),
    row("POST", "/conversations/{conversation_id}/messages", "agent", _send, 201),
    row("POST", "/conversations/{conversation_id}/notes", "agent", _conversation_note, 201),
    row("POST", "/conversations/{conversation_id}/payment-links", "agent", _make_payment_link,
        201),
    row("GET", "/conversations/{conversation_id}/payment-links", "agent", _conversation),
    row("GET", "/payment-links/{link_id}", "agent", _payment_link),
    row("POST", "/conversations", "agent", _start_conversation, 201,
        listing="/conversations?limit=200"),
    row("GET", "/conversations/{conversation_id}/scheduled-messages", "agent", _conversation),
    row("POST", "/conversations/{conversation_id}/scheduled-messages", "agent", _schedule, 201),
    row("PATCH", "/conversations/{conversation_id}/scheduled-messages/{scheduled_id}", "agent",
        _edit_scheduled),
    row("POST", "/conversations/{conversation_id}/scheduled-messages/{scheduled_id}/cancel",
        "agent", _scheduled),
    row("GET", "/contacts/{contact_id}/messages", "agent", _conversation_contact),
    row("GET", "/contacts/{contact_id}/notes", "agent", _conversation_contact),
    row("POST", "/contacts/{contact_id}/notes", "agent", _contact_note, 201),
    row("GET", "/calls/summary", "supervisor", _period),
    row("PUT", "/contacts/{contact_id}/block", "agent", _conversation_contact),
    row("DELETE", "/contacts/{contact_id}/block", "agent", _conversation_contact),
    # A call rings its caller first, a softphone is someone's: a person, never an API key.
    row("GET", "/channels/{channel_id}/routing", "agent", _routing),
    row("PUT", "/channels/{channel_id}/routing", "supervisor", _set_routing),
    row("GET", "/channels/{channel_id}/operations", "agent", _channel),
    row("GET", "/business-hours", "agent", _plain),
    row("PUT", "/business-hours", "supervisor", _hours),
    row("GET", "/channels/{channel_id}/business-hours", "agent", _channel_hours),
    row("PUT", "/channels/{channel_id}/business-hours", "supervisor", _set_channel_hours),
    row("GET", "/holidays", "agent", _plain),
    row("POST", "/holidays", "supervisor", _add_holiday, 201, listing="/holidays"),
    row("POST", "/holidays/public", "supervisor", _public_holidays),
    row("DELETE", "/holidays/{holiday_id}", "supervisor", _holiday, 204),
    row("GET", "/users/{user_id}/shifts", "supervisor", _shift_plan),
    row("PUT", "/users/{user_id}/shifts", "supervisor", _set_shift_plan),
    row("DELETE", "/users/{user_id}/shifts", "supervisor", _shift_plan, 204),
    row("PUT", "/users/{user_id}/shift-exceptions", "supervisor", _set_shift_exception),
    row("GET", "/shift-exceptions", "supervisor", _plain),
    row("GET", "/sla-policies", "agent", _plain),
    row("POST", "/sla-policies", "supervisor", _create_sla, 201, listing="/sla-policies"),
    row("PUT", "/sla-policies/{policy_id}", "supervisor", _update_sla),
    row("DELETE", "/sla-policies/{policy_id}", "supervisor", _sla_policy, 204),
    row("DELETE", "/shift-exceptions/{exception_id}", "supervisor", _shift_exception, 204),
    row("PUT", "/channels/{channel_id}/operations", "supervisor", _set_operations),
    row("GET", "/me/softphone", "agent", _plain, rule="person", key_status=403,
        key_code="forbidden"),
    row("POST", "/contacts/{contact_id}/call", "agent", _call_contact, 201, rule="person",
        key_status=403, key_code="forbidden"),
    row("POST", "/attachments", "agent", _upload, 201),
    row("GET", "/attachments/{attachment_id}", "agent", _attachment),
    # WhatsApp templates: agents read them, supervisors manage them
    row("GET", "/channels/{channel_id}/templates", "agent", _templates_channel),
    row("POST", "/channels/{channel_id}/templates", "supervisor", _create_template, 201),
    row("POST", "/channels/{channel_id}/templates/sync", "supervisor", _templates_channel),
    row("GET", "/channels/{channel_id}/templates/{template_id}", "agent", _template),
    row("POST", "/channels/{channel_id}/templates/{template_id}/submit", "supervisor", _template),
    row("PUT", "/channels/{channel_id}/templates/{template_id}/variables", "supervisor",
        _template_variables),
    row("DELETE", "/channels/{channel_id}/templates/{template_id}", "supervisor", _template,
        204),
    row("GET", "/follow-ups", "agent", _plain),
    row("POST", "/follow-ups", "supervisor", _create_follow_up, 201, listing="/follow-ups"),
    row("GET", "/follow-ups/{sequence_id}", "agent", _follow_up),
    row("PUT", "/follow-ups/{sequence_id}", "supervisor", _update_follow_up),
    row("DELETE", "/follow-ups/{sequence_id}", "supervisor", _follow_up, 204),
    row("GET", "/channels/{channel_id}/csat", "agent", _channel),
    row("PUT", "/channels/{channel_id}/csat", "supervisor", _set_csat),
    row("GET", "/csat/responses", "supervisor", _period),
    # Broadcast campaigns and their lists: supervisors
    row("GET", "/campaigns", "supervisor", _plain),
    row("POST", "/campaigns", "supervisor", _create_campaign, 201, listing="/campaigns"),
    row("GET", "/campaigns/{campaign_id}", "supervisor", _campaign),
    row("PUT", "/campaigns/{campaign_id}", "supervisor", _update_campaign),
    row("DELETE", "/campaigns/{campaign_id}", "supervisor", _campaign, 204),
    row("POST", "/campaigns/{campaign_id}/plan", "supervisor", _campaign),
    row("POST", "/campaigns/{campaign_id}/send", "supervisor", _campaign),
    row("POST", "/campaigns/{campaign_id}/schedule", "supervisor", _schedule_campaign),
    row("POST", "/campaigns/{campaign_id}/unschedule", "supervisor", _scheduled_campaign),
    row("POST", "/campaigns/{campaign_id}/pause", "supervisor", _running_campaign),
    row("POST", "/campaigns/{campaign_id}/resume", "supervisor", _paused_campaign),
    row("POST", "/campaigns/{campaign_id}/cancel", "supervisor", _campaign),
    row("GET", "/campaigns/{campaign_id}/report", "supervisor", _campaign),
    row("GET", "/campaigns/{campaign_id}/export", "supervisor", _campaign),
    row("GET", "/recipient-lists", "supervisor", _plain),
    row("POST", "/recipient-lists", "supervisor", _upload_list, 201,
        listing="/recipient-lists"),
    row("GET", "/recipient-lists/{list_id}", "supervisor", _recipient_list),
    # Automation rules and chatbot flows: supervisors
    row("GET", "/automation/rules", "supervisor", _plain),
    row("POST", "/automation/rules", "supervisor", _create_rule, 201,
        listing="/automation/rules"),
    row("GET", "/automation/rules/{rule_id}", "supervisor", _rule),
    row("PUT", "/automation/rules/{rule_id}", "supervisor", _update_rule),
    row("DELETE", "/automation/rules/{rule_id}", "supervisor", _rule, 204),
    row("PUT", "/automation/rules/{rule_id}/enabled", "supervisor", _enable_rule),
    row("PUT", "/automation/rules/{rule_id}/position", "supervisor", _move_rule),
    row("GET", "/automation/rules/{rule_id}/runs", "supervisor", _rule),
    row("POST", "/automation/dry-run", "supervisor", _dry_run),
    row("GET", "/automation/catalogue", "supervisor", _plain),
    row("GET", "/flows", "supervisor", _plain),
    row("POST", "/flows", "supervisor", _create_flow, 201, listing="/flows"),
    row("GET", "/flows/{flow_id}", "supervisor", _flow),
    row("PATCH", "/flows/{flow_id}", "supervisor", _save_flow_draft),
    row("DELETE", "/flows/{flow_id}", "supervisor", _flow, 204),
    row("POST", "/flows/{flow_id}/publish", "supervisor", _unpublished_flow, 201),
    row("GET", "/flows/{flow_id}/versions", "supervisor", _flow),
    row("POST", "/flows/{flow_id}/test", "supervisor", _test_flow),
    row("PUT", "/flows/{flow_id}/enabled", "supervisor", _disable_flow),
    row("GET", "/flow-templates", "supervisor", _plain),
    row("GET", "/flow-step-kinds", "supervisor", _plain),
    row("GET", "/bot-settings", "supervisor", _plain),
    row("PUT", "/bot-settings", "supervisor", _bot_settings, watch="/bot-settings"),
    # A conversation's bot: any agent who sees the conversation may look at it or stop it.
    row("GET", "/conversations/{conversation_id}/bot", "agent", _bot_conversation),
    row("POST", "/conversations/{conversation_id}/bot/take-over", "agent", _bot_conversation),
    # The knowledge base: everyone reads and searches it (agents look answers up), supervisors
    # write it.
    row("GET", "/kb/articles", "agent", _plain),
    row("POST", "/kb/articles", "supervisor", _create_article, 201,
        listing="/kb/articles?limit=500"),
    row("GET", "/kb/articles/{article_id}", "agent", _article),
    row("PUT", "/kb/articles/{article_id}", "supervisor", _update_article),
    row("DELETE", "/kb/articles/{article_id}", "supervisor", _article, 204),
    row("GET", "/kb/documents", "agent", _plain),
    row("POST", "/kb/documents", "supervisor", _upload_kb_document, 201,
        listing="/kb/documents"),
    row("DELETE", "/kb/documents/{document_id}", "supervisor", _kb_document, 204),
    row("GET", "/kb/search", "agent", _kb_search),
    # AI settings hold the LLM's key: admins only. Suggestions: anyone who sees the
    # conversation.
    row("GET", "/ai/settings", "admin", _plain),
    row("PUT", "/ai/settings", "admin", _ai_settings, watch="/ai/settings"),
    row("GET", "/ai/usage", "admin", _plain),
    # E-mail: the mail server's password, and what the reports tell whom: admins only.
    row("GET", "/settings/email", "admin", _plain),
    row("PUT", "/settings/email/smtp", "admin", _mail_server, watch="/settings/email"),
    row("PUT", "/settings/email/summary", "admin", _summary_settings,
        watch="/settings/email"),
    row("POST", "/settings/email/test", "admin", _test_email),
    row("POST", "/settings/email/summary/send", "admin", _send_summary,
        watch="/settings/email"),
    row("GET", "/integrations", "admin", _plain),
    row("GET", "/integrations/{kind}", "admin", _integration),
    row("PUT", "/integrations/{kind}", "admin", _save_integration,
        watch="/integrations/trendyol"),
    row("DELETE", "/integrations/{kind}", "admin", _connected_integration, 204,
        watch="/integrations/trendyol"),
    row("POST", "/integrations/{kind}/test", "admin", _connected_integration,
        watch="/integrations/trendyol"),
    row("GET", "/contacts/{contact_id}/orders", "agent", _contact),
    row("GET", "/orders", "agent", _order_number),
    # Data protection (data subject requests, retention): "Manage security", admins only.
    row("POST", "/privacy/contacts/{contact_id}/export", "admin", _contact),
    row("POST", "/privacy/contacts/{contact_id}/erase", "admin", _erase_contact),
    row("GET", "/privacy/requests", "admin", _plain),
    row("GET", "/privacy/retention", "admin", _plain),
    row("PUT", "/privacy/retention", "admin", _retention_policy, watch="/privacy/retention"),
    row("POST", "/privacy/retention/preview", "admin", _retention_policy),
    # İYS: the account's password, and what is sent to İYS for the company: admins only.
    row("GET", "/webhook-subscriptions", "admin", _plain),
    row("GET", "/webhook-subscriptions/event-types", "admin", _plain),
    row("POST", "/webhook-subscriptions", "admin", _create_subscription, 201,
        listing="/webhook-subscriptions"),
    row("GET", "/webhook-subscriptions/{subscription_id}", "admin", _subscription),
    row("PATCH", "/webhook-subscriptions/{subscription_id}", "admin", _update_subscription),
    row("DELETE", "/webhook-subscriptions/{subscription_id}", "admin", _subscription, 204),
    row("POST", "/webhook-subscriptions/{subscription_id}/rotate-secret", "admin",
        _subscription),
    row("POST", "/webhook-subscriptions/{subscription_id}/test", "admin", _subscription, 202),
    row("GET", "/webhook-subscriptions/{subscription_id}/deliveries", "admin", _subscription),
    row("GET", "/webhook-deliveries/{delivery_id}", "admin", _delivery),
    row("POST", "/webhook-deliveries/{delivery_id}/redeliver", "admin", _delivery, 202),
    row("GET", "/settings/iys", "admin", _plain),
    row("PUT", "/settings/iys", "admin", _save_iys, watch="/settings/iys"),
    row("POST", "/settings/iys/test", "admin", _iys_account),
    row("POST", "/settings/iys/retry", "admin", _plain, watch="/settings/iys"),
    row("GET", "/conversations/{conversation_id}/suggestions", "agent", _conversation),
    # Summaries and suggested tags: anyone who sees the conversation.
    row("GET", "/conversations/{conversation_id}/summary", "agent", _conversation),
    row("GET", "/conversations/{conversation_id}/tag-suggestions", "agent", _conversation),
    row("GET", "/conversations/{conversation_id}/auto-answer", "agent",
        _auto_answer_conversation),
    # Chat analysis: anyone who sees the conversation analyses it; queueing many and the
    # reports are supervisors'.
    row("POST", "/analysis/conversations/{conversation_id}", "agent", _conversation),
    row("GET", "/analysis/conversations/{conversation_id}", "agent", _analysed_conversation),
    row("POST", "/analysis/conversations", "supervisor", _analysis_batch, 202),
    row("GET", "/analysis/hot-leads", "supervisor", _plain),
    row("GET", "/analysis/agents", "supervisor", _period),
    # Reports: the company's are supervisors'; a person's own numbers are theirs.
    row("GET", "/reports/overview", "supervisor", _plain),
    row("GET", "/reports/overview/export", "supervisor", _plain),
    row("GET", "/reports/agents", "supervisor", _plain),
    row("GET", "/reports/agents/export", "supervisor", _plain),
    row("GET", "/reports/breakdowns/{topic}", "supervisor", _topic),
    row("GET", "/reports/breakdowns/{topic}/export", "supervisor", _topic),
    row("GET", "/reports/me", "agent", _plain, rule="person", key_status=422,
        key_code="validation_failed"),
]

BY_ID = {r.id: r for r in ROWS}
# Routes naming an object by its id (a report's topic is a word, the same for every company).
WITH_IDS = [r for r in ROWS if "_id}" in r.path]
UNSAFE = [r for r in ROWS if r.method not in ("GET", "HEAD")]
# Where an agent's limit is what they can see: every route on one conversation, and the history.
# (An admin's route sees everything; the role tests cover who may call it.)
VISIBILITY = [r for r in ROWS if "{conversation_id}" in r.path and r.min_role != "admin"] + [
    BY_ID["GET /contacts/{contact_id}/messages"]]


def ids(rows: list[Row]) -> list[str]:
    return [r.id for r in rows]


# ---- calling and reading back ------------------------------------------------------------------

async def send(client: httpx.AsyncClient, r: Row, call: Call) -> httpx.Response:
    kwargs: dict[str, Any] = {}
    if call.json is not None:
        kwargs["json"] = call.json
    if call.files is not None:
        kwargs["files"] = call.files
    if call.query is not None:
        kwargs["params"] = call.query
    return await client.request(r.method, r.url(call), **kwargs)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


def assert_success(response: httpx.Response, r: Row) -> None:
    assert response.status_code == r.ok, response.text
    if r.ok == 204:
        assert response.content == b""


async def _read(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(API + path)
    assert response.status_code == 200, f"{path}: {response.text}"
    if response.headers["content-type"].startswith("application/json"):
        return response.json()
    return hashlib.sha256(response.content).hexdigest()


async def _find(client: httpx.AsyncClient, path: str, object_id: uuid.UUID) -> dict:
    # last_used_at moves whenever a key is used; that is not a change anyone made.
    (found,) = [{k: v for k, v in item.items() if k != "last_used_at"}
                for item in await _read(client, path) if item["id"] == str(object_id)]
    return found


async def _listed_ids(client: httpx.AsyncClient, path: str) -> list[str]:
    body = await _read(client, path)
    return sorted(item["id"] for item in (body["items"] if isinstance(body, dict) else body))


async def probe(client: httpx.AsyncClient, name: str, value: uuid.UUID) -> Any:
    """The object behind a path parameter as its admin sees it; fails if it is gone."""
    if name == "key_id":
        return await _find(client, "/api-keys", value)
    if name == "tag_id":
        return await _find(client, "/tags", value)
    if name == "field_id":
        return await _find(client, "/custom-fields", value)
    if name == "holiday_id":
        return await _find(client, "/holidays", value)
    if name == "exception_id":
        return await _find(client, "/shift-exceptions", value)
    if name == "policy_id":
        return await _find(client, "/sla-policies", value)
    if name == "contact_id":
        return [await _read(client, f"/contacts/{value}"),
                await _read(client, f"/contacts/{value}/consents"),
                await _read(client, f"/contacts/{value}/notes"),
                await _read(client, f"/contacts/{value}/messages")]
    if name == "conversation_id":
        conversation = await _read(client, f"/conversations/{value}")
        bot = await client.get(f"{API}/conversations/{value}/bot")  # 404: no bot talks there
        return [conversation, await _read(client, f"/conversations/{value}/messages"),
                await _read(client, f"/contacts/{conversation['contact_id']}/notes"),
                await _read(client, f"/conversations/{value}/scheduled-messages"),
                (bot.status_code, bot.json())]
    if name == "rule_id":
        return [await _read(client, f"/automation/rules/{value}"),
                await _read(client, f"/automation/rules/{value}/runs")]
    if name == "flow_id":
        return [await _read(client, f"/flows/{value}"),
                await _read(client, f"/flows/{value}/versions")]
    if name == "consent_type":
        return None  # a word, not an object: read with its contact (above)
    if name == "session_id":  # as its person's list shows it
        owner = _SESSION_OWNERS[value]
        return [s for s in await _read(client, f"/users/{owner}/sessions")
                if s["id"] == str(value)]
    if name == "scheduled_id":
        return None  # read with its conversation's (above)
    if name == "document_id":  # with the articles read from it
        return [await _find(client, "/kb/documents", value),
                [a for a in await _read(client, "/kb/articles?limit=500")
                 if a["document_id"] == str(value)]]
    if name == "template_id":
        return await _read(client, f"/channels/{_TEMPLATE_CHANNELS[value]}/templates/{value}")
    if name == "subscription_id":  # with its delivery log
        return [await _read(client, f"/webhook-subscriptions/{value}"),
                await _read(client, f"/webhook-subscriptions/{value}/deliveries")]
    paths = {"user_id": "/users/{}", "group_id": "/groups/{}", "channel_id": "/channels/{}",
             "attachment_id": "/attachments/{}", "sequence_id": "/follow-ups/{}",
             "campaign_id": "/campaigns/{}", "list_id": "/recipient-lists/{}",
             "article_id": "/kb/articles/{}", "role_id": "/roles/{}",
             "link_id": "/payment-links/{}", "delivery_id": "/webhook-deliveries/{}"}
    return await _read(client, paths[name].format(value))


async def snapshot(company: Company, r: Row, call: Call) -> list:
    """What a refused call must leave as it was: the objects in its path, or for a create the
    ids its listing shows."""
    admin = company.people["ayla"].client
    state = [await probe(admin, name, value) for name, value in call.params.items()
             if name.endswith("_id")]  # a report's topic is no object
    if r.listing and not call.params:
        state.append(await _listed_ids(admin, r.listing))
    if r.watch:
        state.append(await _read(admin, r.watch))
    return state


async def assert_refused(company: Company, r: Row, call: Call, client: httpx.AsyncClient,
                         status: int, code: str) -> httpx.Response:
    before = await snapshot(company, r, call)
    response = await send(client, r, call)
    assert_error(response, status, code)
    assert await snapshot(company, r, call) == before
    return response


def assert_carries_nothing_of(company: Company, call: Call, response: httpx.Response) -> None:
    """A refusal tells the caller nothing of the other company: not its ids, not its name."""
    told = response.text
    secrets = {str(value) for value in call.params.values() if isinstance(value, uuid.UUID)}
    secrets |= {company.slug, str(company.tenant_id)}
    assert not [value for value in secrets if value in told], told


def bare_client(app, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://testserver", **kwargs)


# ---- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
async def shared(app, rt):
    """One home company and one Charlie for the whole module (creating them costs ~0.3 s)."""
    created = await World.create(rt, app)
    yield created
    await created.close()


@pytest.fixture(scope="module")
async def keys(shared):
    """The home company's API keys by role, made through the API as its admin would."""
    clients = {}
    for role in ROLES:
        response = await shared.home.people["ayla"].client.post(
            f"{API}/api-keys", json={"name": f"{role} anahtarı", "role": role})
        assert response.status_code == 201, response.text
        assert response.json()["role"] == role
        clients[role] = shared.home.api_client(response.json()["key"])
    yield clients
    for client in clients.values():
        await client.aclose()


@pytest.fixture(scope="module", autouse=True)
async def pbx_originate():
    """The companies' PBX: accepts every click-to-call request."""
    async def accept(_request):
        return JSONResponse({"status": "ringing"})

    async with serving(Starlette(routes=[Route("/originate", accept, methods=["POST"])])) as url:
        _PBX["url"] = f"{url}/originate"
        yield


@pytest.fixture(scope="module", autouse=True)
async def paytr_provider():
    """The companies' PayTR, for payment links."""
    async with serving(paytr_simulator.create_simulator()) as url:
        _PAYTR["url"] = url
        yield


@pytest.fixture(scope="module", autouse=True)
async def iys_provider():
    """The companies' İYS."""
    async with serving(create_iys_simulator()) as url:
        _IYS["url"] = url
        yield


@pytest.fixture(scope="module", autouse=True)
async def whatsapp_provider():
    """The companies' WhatsApp provider, for template management: accepts any access token."""
    async with serving(create_simulator("matrix-app-secret")) as url:
        _WHATSAPP["url"] = url
        yield


@pytest.fixture(scope="module")
async def anonymous(app):
    async with bare_client(app) as client:
        yield client


# ---- 1. coverage -------------------------------------------------------------------------------

def api_routes(app) -> set[tuple[str, str]]:
    try:  # FastAPI >= 0.165 keeps included routers nested; this flattens them
        from fastapi.routing import iter_route_contexts
        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - older FastAPI lists every route flat
        routes = list(app.routes)
    found = set()
    for route in routes:
        path = getattr(route, "path", None) or ""
        if path == API or path.startswith(API + "/"):
            methods = getattr(route, "methods", None) or {"WEBSOCKET"}
            found |= {(method, path) for method in methods if method != "HEAD"}
    return found


def test_every_api_route_has_a_row(app):
    table = [(r.method, r.path) for r in ROWS]
    assert len(table) == len(set(table)), "a route has two rows"
    routes = api_routes(app)
    assert LOGIN in routes
    assert set(table) | {LOGIN, LOGIN_2FA} == routes, (
        f"without a row: {sorted(routes - set(table) - {LOGIN, LOGIN_2FA})}; "
        f"rows without a route: {sorted(set(table) - routes)}")


def test_the_openapi_document_lists_exactly_the_probed_routes(app):
    """The probes cover the API as published: every operation of the OpenAPI document under
    /api/v1 is a row of the table (and so probed as Charlie, without credentials, per role)."""
    documented = {(method.upper(), path) for path, operations in app.openapi()["paths"].items()
                  if path.startswith(API + "/") for method in operations}
    assert documented == {(r.method, r.path) for r in ROWS} | {LOGIN, LOGIN_2FA}


def test_table_rows_are_well_formed():
    for r in ROWS:
        assert r.min_role in ROLE_RANK, r.id
        assert r.rule in ("role", "person"), r.id
        assert (r.rule == "person") == (r.key_status is not None), r.id


# ---- login, the one public route ---------------------------------------------------------------

async def test_login_opens_a_session_with_a_csrf_token(shared, app):
    home = shared.home
    async with bare_client(app) as client:
        response = await client.post(f"{API}/auth/login", json={
            "company": home.slug, "username": "bora", "password": PASSWORD})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"]["id"] == str(home.people["bora"].user_id)
        assert body["user"]["role"] == "agent"
        assert body["tenant_id"] == str(home.tenant_id)
        client.headers["x-csrf-token"] = body["csrf_token"]
        me = await client.get(f"{API}/auth/me")
        assert me.status_code == 200
        assert me.json()["user"]["username"] == "bora"
        assert me.json()["user"]["group_ids"] == [str(home.group_id)]


LOGIN_MISTAKES = {
    "wrong-password": lambda home, charlie: {"password": "yanlis-parola-123"},
    "unknown-user": lambda home, charlie: {"username": "kimseyok"},
    "unknown-company": lambda home, charlie: {"company": "boyle-bir-sirket-yok"},
    "user-of-another-company": lambda home, charlie: {"company": charlie.slug},  # no bora there
}


@pytest.mark.parametrize("mistake", LOGIN_MISTAKES)
async def test_login_refuses_wrong_credentials(shared, app, mistake):
    body = {"company": shared.home.slug, "username": "bora", "password": PASSWORD,
            **LOGIN_MISTAKES[mistake](shared.home, shared.charlie)}
    async with bare_client(app) as client:
        response = await client.post(f"{API}/auth/login", json=body)
        assert_error(response, 401, "login_failed")
        assert "invekto_session" not in response.cookies
        assert_error(await client.get(f"{API}/auth/me"), 401, "unauthenticated")


# ---- 2. no credentials, bad credentials, no CSRF token -----------------------------------------

@pytest.mark.parametrize("r", ROWS, ids=ids(ROWS))
async def test_without_credentials_every_route_is_401(shared, anonymous, r):
    home = shared.home
    call = await r.build(Target(home, home, caller="anonymous"))
    await assert_refused(home, r, call, anonymous, 401, "unauthenticated")


@pytest.mark.parametrize("authorization", [
    pytest.param("Basic YXlsYTpwYXJvbGE=", id="basic-scheme"),
    pytest.param("Bearer", id="no-key"),
    pytest.param("Bearer ivk_not-a-tenant_abc", id="malformed-key"),
    pytest.param("Bearer ivk_{tenant}_yanlis-gizli", id="unknown-secret"),
])
async def test_bad_api_keys_are_401(shared, app, authorization):
    header = authorization.format(tenant=shared.home.tenant_id.hex)
    async with bare_client(app, headers={"Authorization": header}) as client:
        assert_error(await client.get(f"{API}/users"), 401, "unauthenticated")
        assert_error(await client.post(f"{API}/tags", json={"name": fresh("etiket")}), 401,
                     "unauthenticated")


async def test_a_revoked_api_key_is_401(shared):
    home = shared.home
    response = await home.people["ayla"].client.post(
        f"{API}/api-keys", json={"name": fresh("anahtar"), "role": "admin"})
    assert response.status_code == 201
    created = response.json()
    async with home.api_client(created["key"]) as client:
        assert (await client.get(f"{API}/users")).status_code == 200
        revoked = await home.people["ayla"].client.delete(f"{API}/api-keys/{created['id']}")
        assert revoked.status_code == 204
        assert_error(await client.get(f"{API}/users"), 401, "unauthenticated")


async def test_a_logged_out_session_is_401(shared, app):
    person = await shared.home.add_person(fresh("kisi"), "agent")
    cookies = httpx.Cookies(person.client.cookies)
    assert (await person.client.post(f"{API}/auth/logout")).status_code == 204
    async with bare_client(app, cookies=cookies,
                           headers={"x-csrf-token": person.csrf}) as replay:
        assert_error(await replay.get(f"{API}/auth/me"), 401, "unauthenticated")
        assert_error(await replay.post(f"{API}/contacts", json={"name": "X"}), 401,
                     "unauthenticated")


@pytest.mark.parametrize("r", UNSAFE, ids=ids(UNSAFE))
async def test_a_session_without_its_csrf_token_changes_nothing(shared, app, r):
    home = shared.home
    call = await r.build(Target(home, home, role="admin"))
    session = call.client or home.people["ayla"].client
    async with bare_client(app, cookies=httpx.Cookies(session.cookies)) as forged:
        await assert_refused(home, r, call, forged, 403, "csrf_failed")


# ---- 3. roles: each person of the cast ---------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("r", ROWS, ids=ids(ROWS))
async def test_role_matrix_for_people(shared, r, role):
    home = shared.home
    call = await r.build(Target(home, home, role=role))
    client = call.client or home.people[CAST[role]].client
    if r.allows(role):
        assert_success(await send(client, r, call), r)
    else:
        await assert_refused(home, r, call, client, 403, "forbidden")


# ---- 5. roles: API keys of each role -----------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("r", ROWS, ids=ids(ROWS))
async def test_role_matrix_for_api_keys(shared, keys, r, role):
    home = shared.home
    call = await r.build(Target(home, home, role=role, caller="api_key"))
    assert call.client is None
    if r.rule == "person":
        response = await send(keys[role], r, call)
        assert response.status_code == r.key_status, response.text
        if r.key_code:
            assert response.json()["error"]["code"] == r.key_code
    elif r.allows(role):
        assert_success(await send(keys[role], r, call), r)
    else:
        await assert_refused(home, r, call, keys[role], 403, "forbidden")


@pytest.mark.parametrize("role", ROLES)
async def test_api_key_acts_with_its_role_on_admin_endpoints(shared, keys, role):
    """The spot check in words: an agent key reads users but cannot add one or a tag..."""
    home = shared.home
    key = keys[role]
    listed = await key.get(f"{API}/users")
    assert listed.status_code == 200
    assert str(home.people["bora"].user_id) in {u["id"] for u in listed.json()}

    username = fresh("anahtarla")
    created = await key.post(f"{API}/users", json={
        "username": username, "display_name": "Anahtarla Eklenen", "password": PASSWORD})
    tag = await key.post(f"{API}/tags", json={"name": fresh("etiket")})
    names = {u["username"] for u in await _read(home.people["ayla"].client,
                                                 "/users?include_inactive=true")}
    if role == "admin":
        assert created.status_code == 201, created.text
        assert username in names
    else:
        assert_error(created, 403, "forbidden")
        assert username not in names
    if role == "agent":
        assert_error(tag, 403, "forbidden")
    else:
        assert tag.status_code == 201, tag.text


# ---- 4. another company's ids ------------------------------------------------------------------

@pytest.mark.parametrize("via", ["session", "api_key"])
@pytest.mark.parametrize("r", WITH_IDS, ids=ids(WITH_IDS))
async def test_charlie_gets_404_for_home_ids_and_home_is_unchanged(shared, r, via):
    home, charlie = shared.home, shared.charlie
    call = await r.build(Target(home, charlie, role="admin",
                                caller="user" if via == "session" else "api_key"))
    if via == "session":
        response = await assert_refused(home, r, call, charlie.people["ayla"].client, 404,
                                        "not_found")
    else:
        async with charlie.api_client() as client:
            response = await assert_refused(home, r, call, client, 404, "not_found")
    assert_carries_nothing_of(home, call, response)


@pytest.mark.parametrize("r", WITH_IDS, ids=ids(WITH_IDS))
async def test_charlie_succeeds_with_his_own_ids(shared, r):
    """The control for the test above: the same request with Charlie's own ids works, so the 404
    there comes from the tenant boundary and not from a broken request."""
    charlie = shared.charlie
    call = await r.build(Target(charlie, charlie, role="admin"))
    assert_success(await send(charlie.people["ayla"].client, r, call), r)


@dataclass
class BodyCase:
    method: str
    path: str
    json: dict
    status: int
    code: str
    field: str | None
    watch: list[tuple[Company, str]]  # (company, path) its admin reads before and after


async def _case_create_user_in_home_group(home: Company, charlie: Company) -> BodyCase:
    return BodyCase("POST", "/users", {
        "username": fresh("sizma"), "display_name": "Sızma", "password": PASSWORD,
        "group_ids": [str(home.group_id)]}, 422, "validation_failed", "group_ids",
        [(charlie, "/users?include_inactive=true"), (home, f"/groups/{home.group_id}")])


async def _case_update_user_into_home_group(home: Company, charlie: Company) -> BodyCase:
    user_id = await new_user(charlie)
    return BodyCase("PATCH", f"/users/{user_id}", {"group_ids": [str(home.group_id)]}, 422,
                    "validation_failed", "group_ids",
                    [(charlie, f"/users/{user_id}"), (home, f"/groups/{home.group_id}")])


async def _case_create_group_with_home_member(home: Company, charlie: Company) -> BodyCase:
    bora = home.people["bora"].user_id
    return BodyCase("POST", "/groups", {"name": fresh("grup"), "member_ids": [str(bora)]},
                    422, "validation_failed", "member_ids",
                    [(charlie, "/groups"), (home, f"/users/{bora}")])


async def _case_update_group_with_home_member(home: Company, charlie: Company) -> BodyCase:
    bora = home.people["bora"].user_id
    return BodyCase("PATCH", f"/groups/{charlie.group_id}", {"member_ids": [str(bora)]}, 422,
                    "validation_failed", "member_ids",
                    [(charlie, f"/groups/{charlie.group_id}"), (home, f"/users/{bora}")])


async def _case_assign_to_home_user(home: Company, charlie: Company) -> BodyCase:
    conversation = await new_conversation(charlie)
    bora = home.people["bora"].user_id
    return BodyCase("POST", f"/conversations/{conversation.id}/assign",
                    {"assignee_id": str(bora)}, 422, "validation_failed", "assignee_id",
                    [(charlie, f"/conversations/{conversation.id}"), (home, f"/users/{bora}")])


async def _case_transfer_to_home_user(home: Company, charlie: Company) -> BodyCase:
    conversation = await new_conversation(charlie)
    bora = home.people["bora"].user_id
    return BodyCase("POST", f"/conversations/{conversation.id}/transfer",
                    {"user_id": str(bora)}, 422, "validation_failed", "user_id",
                    [(charlie, f"/conversations/{conversation.id}"), (home, f"/users/{bora}")])


async def _case_transfer_to_home_group(home: Company, charlie: Company) -> BodyCase:
    conversation = await new_conversation(charlie)
    return BodyCase("POST", f"/conversations/{conversation.id}/transfer",
                    {"group_id": str(home.group_id)}, 422, "validation_failed", "group_id",
                    [(charlie, f"/conversations/{conversation.id}"),
                     (home, f"/groups/{home.group_id}")])


async def _case_send_home_attachment(home: Company, charlie: Company) -> BodyCase:
    conversation = await new_conversation(charlie)
    attachment_id = await new_attachment(home)
    return BodyCase("POST", f"/conversations/{conversation.id}/messages",
                    {"content_kind": "document", "attachment_id": str(attachment_id)},
                    404, "not_found", None,
                    [(charlie, f"/conversations/{conversation.id}"),
                     (charlie, f"/conversations/{conversation.id}/messages"),
                     (home, f"/attachments/{attachment_id}")])


async def _case_tag_conversation_with_home_tag(home: Company, charlie: Company) -> BodyCase:
    conversation = await new_conversation(charlie)
    _, name = await new_tag(home)
    return BodyCase("POST", f"/conversations/{conversation.id}/tags", {"add": [name]}, 422,
                    "validation_failed", "tags",
                    [(charlie, f"/conversations/{conversation.id}"), (charlie, "/tags"),
                     (home, "/tags")])


async def _case_contact_with_home_tag(home: Company, charlie: Company) -> BodyCase:
    _, name = await new_tag(home)
    return BodyCase("POST", "/contacts", {"name": "Sızma", "tags": [name]}, 422,
                    "validation_failed", "tags",
                    [(charlie, "/contacts?limit=200"), (charlie, "/tags"), (home, "/tags")])


async def _case_contact_with_home_custom_field(home: Company, charlie: Company) -> BodyCase:
    _, key = await new_custom_field(home)
    return BodyCase("POST", "/contacts", {"name": "Sızma", "custom_fields": {key: "x"}}, 422,
                    "validation_failed", f"custom_fields.{key}",
                    [(charlie, "/contacts?limit=200"), (charlie, "/custom-fields"),
                     (home, "/custom-fields")])


async def _case_start_on_home_channel(home: Company, charlie: Company) -> BodyCase:
    channel = await as_system(home, lambda s, a: channels.create_channel(s, a, ChannelCreate(
        kind="sms_netgsm", name=fresh("sms"))))
    return BodyCase("POST", "/conversations", {
        "channel_id": str(channel.id), "phone": f"+90532{next(_sequence):07d}",
        "message": {"body": "Sızma"}}, 422, "validation_failed", "channel_id",
        [(charlie, "/conversations?limit=200"), (home, f"/channels/{channel.id}")])


async def _case_start_with_home_contact(home: Company, charlie: Company) -> BodyCase:
    channel = await as_system(charlie, lambda s, a: channels.create_channel(s, a, ChannelCreate(
        kind="sms_netgsm", name=fresh("sms"))))
    contact_id = await new_contact(home)
    return BodyCase("POST", "/conversations", {
        "channel_id": str(channel.id), "contact_id": str(contact_id),
        "message": {"body": "Sızma"}}, 422, "validation_failed", "contact_id",
        [(charlie, "/conversations?limit=200"), (home, f"/contacts/{contact_id}")])


def _rule_case(charlie: Company, action: dict, field: str,
               watch: list[tuple[Company, str]], **spec) -> BodyCase:
    return BodyCase("POST", "/automation/rules", _rule_spec(actions=[action], **spec), 422,
                    "validation_failed", field, [(charlie, "/automation/rules"), *watch])


async def _case_rule_assigning_to_home_user(home: Company, charlie: Company) -> BodyCase:
    bora = home.people["bora"].user_id
    return _rule_case(charlie, {"type": "assign", "user_id": str(bora)},
                      "actions.0.user_id", [(home, f"/users/{bora}")])


async def _case_rule_assigning_to_home_group(home: Company, charlie: Company) -> BodyCase:
    return _rule_case(charlie, {"type": "assign", "group_id": str(home.group_id)},
                      "actions.0.group_id", [(home, f"/groups/{home.group_id}")])


async def _case_rule_tagging_with_home_tag(home: Company, charlie: Company) -> BodyCase:
    _, name = await new_tag(home)
    return _rule_case(charlie, {"type": "add_tags", "tags": [name]}, "actions.0.tags",
                      [(charlie, "/tags"), (home, "/tags")])


async def _case_rule_listening_for_home_tag(home: Company, charlie: Company) -> BodyCase:
    _, name = await new_tag(home)
    return _rule_case(charlie, {"type": "add_note", "body": "Etiketlendi"},
                      "event_options.tag", [(charlie, "/tags"), (home, "/tags")],
                      event="tag_added", event_options={"tag": name})


async def _case_rule_setting_home_custom_field(home: Company, charlie: Company) -> BodyCase:
    _, key = await new_custom_field(home)
    return _rule_case(charlie, {"type": "set_field", "key": key, "value": "x"},
                      "actions.0.key", [(charlie, "/custom-fields"), (home, "/custom-fields")])


async def _case_rule_starting_home_flow(home: Company, charlie: Company) -> BodyCase:
    flow_id = await new_flow(home)
    return _rule_case(charlie, {"type": "start_flow", "flow_id": str(flow_id)},
                      "actions.0.flow_id", [(home, f"/flows/{flow_id}")])


async def _case_rule_starting_home_follow_up(home: Company, charlie: Company) -> BodyCase:
    sequence_id = (await _follow_up(Target(home, home))).params["sequence_id"]
    return _rule_case(charlie, {"type": "start_follow_up", "sequence_id": str(sequence_id)},
                      "actions.0.sequence_id", [(home, f"/follow-ups/{sequence_id}")])


async def _case_rule_changed_to_notify_home_user(home: Company, charlie: Company) -> BodyCase:
    rule_id = await new_rule(charlie)
    bora = home.people["bora"].user_id
    return BodyCase("PUT", f"/automation/rules/{rule_id}", _rule_spec(actions=[
        {"type": "notify", "user_id": str(bora), "body": "Yanıt geldi"}]), 422,
        "validation_failed", "actions.0.user_id",
        [(charlie, f"/automation/rules/{rule_id}"), (home, f"/users/{bora}")])


async def _case_dry_run_on_home_conversation(home: Company, charlie: Company) -> BodyCase:
    conversation = await new_conversation(home)
    await new_rule(charlie)
    return BodyCase("POST", "/automation/dry-run", {"conversation_id": str(conversation.id)},
                    404, "not_found", None,
                    [(home, f"/conversations/{conversation.id}"), (charlie, "/automation/rules")])


async def _case_dry_run_of_home_rule(home: Company, charlie: Company) -> BodyCase:
    conversation = await new_conversation(charlie)
    rule_id = await new_rule(home)
    return BodyCase("POST", "/automation/dry-run", {"conversation_id": str(conversation.id),
                                                    "rule_id": str(rule_id)},
                    404, "not_found", None,
                    [(home, f"/automation/rules/{rule_id}"),
                     (charlie, f"/conversations/{conversation.id}")])


async def _publish_case(charlie: Company, node: dict, field: str,
                        watch: list[tuple[Company, str]], triggers: dict | None = None
                        ) -> BodyCase:
    """Charlie's flow whose draft (saved: drafts are checked for shape only) names a home
    object: publishing it is refused, no version is made."""
    async def make(session, actor):
        flow = await flows.create_flow(session, actor, FlowCreate(name=fresh("akis")))
        await flows.save_draft(session, actor, flow.id, FlowDraft(
            graph={"start": "a", "nodes": {"a": node}},
            triggers=FlowTriggers(**(triggers or {}))))
        return flow.id
    flow_id = await as_system(charlie, make)
    return BodyCase("POST", f"/flows/{flow_id}/publish", {}, 422, "validation_failed", field,
                    [(charlie, f"/flows/{flow_id}"), (charlie, f"/flows/{flow_id}/versions"),
                     *watch])


async def _case_flow_handing_off_to_home_group(home: Company, charlie: Company) -> BodyCase:
    return await _publish_case(charlie, {"type": "handoff", "group_id": str(home.group_id),
                                         "text": "Sizi aktarıyorum."},
                               "graph.nodes.a.group_id", [(home, f"/groups/{home.group_id}")])


async def _case_flow_sending_home_attachment(home: Company, charlie: Company) -> BodyCase:
    attachment_id = await new_attachment(home)
    return await _publish_case(charlie, {"type": "message", "text": "Broşürümüz",
                                         "attachment_id": str(attachment_id), "next": None},
                               "graph.nodes.a.attachment_id",
                               [(home, f"/attachments/{attachment_id}")])


async def _case_flow_tagging_with_home_tag(home: Company, charlie: Company) -> BodyCase:
    _, name = await new_tag(home)
    return await _publish_case(charlie, {"type": "set", "add_tags": [name], "next": None},
                               "graph.nodes.a.add_tags.0", [(home, "/tags")])


async def _case_flow_triggered_on_home_channel(home: Company, charlie: Company) -> BodyCase:
    return await _publish_case(charlie, {"type": "message", "text": "Merhaba", "next": None},
                               "triggers.channel_ids.0", [(home, f"/channels/{home.channel_id}")],
                               triggers={"channel_ids": [home.channel_id],
                                         "first_message": True})


async def _case_article_for_home_channel(home: Company, charlie: Company) -> BodyCase:
    return BodyCase("POST", "/kb/articles", {
        "title": fresh("Marka"), "body": "Sızma", "channel_id": str(home.channel_id)},
        404, "not_found", "channel_id",
        [(charlie, "/kb/articles?limit=500"), (home, f"/channels/{home.channel_id}")])


async def _case_article_moved_to_home_channel(home: Company, charlie: Company) -> BodyCase:
    article_id = await new_article(charlie)
    return BodyCase("PUT", f"/kb/articles/{article_id}", {
        "title": fresh("Marka"), "body": "Sızma", "channel_id": str(home.channel_id)},
        404, "not_found", "channel_id",
        [(charlie, f"/kb/articles/{article_id}"), (home, f"/channels/{home.channel_id}")])


async def _case_analyse_home_conversations(home: Company, charlie: Company) -> BodyCase:
    conversation = await new_conversation(home)
    return BodyCase("POST", "/analysis/conversations",
                    {"conversation_ids": [str(conversation.id)]}, 404, "not_found",
                    "conversation_ids", [(home, f"/conversations/{conversation.id}")])


BODY_CASES = {
    "POST /users group_ids": _case_create_user_in_home_group,
    "PATCH /users/{id} group_ids": _case_update_user_into_home_group,
    "POST /groups member_ids": _case_create_group_with_home_member,
    "PATCH /groups/{id} member_ids": _case_update_group_with_home_member,
    "assign assignee_id": _case_assign_to_home_user,
    "transfer user_id": _case_transfer_to_home_user,
    "transfer group_id": _case_transfer_to_home_group,
    "send attachment_id": _case_send_home_attachment,
    "conversation tags": _case_tag_conversation_with_home_tag,
    "contact tags": _case_contact_with_home_tag,
    "contact custom_fields": _case_contact_with_home_custom_field,
    "start channel_id": _case_start_on_home_channel,
    "start contact_id": _case_start_with_home_contact,
    "rule assign user_id": _case_rule_assigning_to_home_user,
    "rule assign group_id": _case_rule_assigning_to_home_group,
    "rule add_tags": _case_rule_tagging_with_home_tag,
    "rule event tag": _case_rule_listening_for_home_tag,
    "rule set_field key": _case_rule_setting_home_custom_field,
    "rule start_flow flow_id": _case_rule_starting_home_flow,
    "rule start_follow_up sequence_id": _case_rule_starting_home_follow_up,
    "PUT rule notify user_id": _case_rule_changed_to_notify_home_user,
    "dry-run conversation_id": _case_dry_run_on_home_conversation,
    "dry-run rule_id": _case_dry_run_of_home_rule,
    "publish handoff group_id": _case_flow_handing_off_to_home_group,
    "publish attachment_id": _case_flow_sending_home_attachment,
    "publish set add_tags": _case_flow_tagging_with_home_tag,
    "publish triggers channel_ids": _case_flow_triggered_on_home_channel,
    "kb article channel_id": _case_article_for_home_channel,
    "PUT kb article channel_id": _case_article_moved_to_home_channel,
    "analysis batch conversation_ids": _case_analyse_home_conversations,
}


@pytest.mark.parametrize("case", BODY_CASES)
async def test_bodies_naming_another_companys_objects_are_refused(shared, case):
    home, charlie = shared.home, shared.charlie
    built = await BODY_CASES[case](home, charlie)

    async def state() -> list:
        return [await _read(company.people["ayla"].client, path) for company, path in built.watch]

    before = await state()
    response = await charlie.people["ayla"].client.request(built.method, API + built.path,
                                                           json=built.json)
    assert_error(response, built.status, built.code)
    assert response.json()["error"].get("field") == built.field
    assert await state() == before


@pytest.mark.parametrize("query", ["channel_id", "contact_id", "group_id", "assignee"])
async def test_conversation_filters_with_home_ids_show_charlie_nothing(shared, query):
    home, charlie = shared.home, shared.charlie
    conversation = await new_conversation(home, "bora")
    await as_system(home, lambda s, a: inbox.transfer(  # Bora's, in the Resepsiyon queue
        s, a, conversation.id, user_id=home.people["bora"].user_id, group_id=home.group_id))
    await new_conversation(charlie)
    value = {"channel_id": home.channel_id, "contact_id": conversation.contact_id,
             "group_id": home.group_id, "assignee": home.people["bora"].user_id}[query]
    client = charlie.people["ayla"].client
    everything = await client.get(f"{API}/conversations")
    assert everything.json()["items"], "Charlie's own conversations are listed"
    filtered = await client.get(f"{API}/conversations", params={query: str(value)})
    assert filtered.status_code == 200
    assert filtered.json()["items"] == []
    # ...while the same filter finds the home conversation for the home admin.
    own = await home.people["ayla"].client.get(f"{API}/conversations",
                                                params={query: str(value), "limit": 200})
    assert str(conversation.id) in {c["id"] for c in own.json()["items"]}


# ---- inbox visibility: an agent's limit is what they can see -----------------------------------

@pytest.mark.parametrize(("agent", "placement"), [
    pytest.param("bora", "colleague", id="bora-on-deniz's"),
    pytest.param("deniz", "group", id="deniz-on-group-queue"),
    pytest.param("deniz", "bora", id="deniz-on-bora's"),
])
@pytest.mark.parametrize("r", VISIBILITY, ids=ids(VISIBILITY))
async def test_agent_gets_404_on_a_conversation_they_cannot_see(shared, r, agent, placement):
    home = shared.home
    call = await r.build(Target(home, home, role="agent", placement=placement))
    await assert_refused(home, r, call, home.people[agent].client, 404, "not_found")


@pytest.mark.parametrize("r", VISIBILITY, ids=ids(VISIBILITY))
async def test_agent_works_their_groups_queue(shared, r):
    home = shared.home
    call = await r.build(Target(home, home, role="agent", placement="group"))
    client = home.people["bora"].client
    if r.allows("agent"):
        assert_success(await send(client, r, call), r)
    else:
        await assert_refused(home, r, call, client, 403, "forbidden")


@pytest.mark.parametrize("r", VISIBILITY, ids=ids(VISIBILITY))
async def test_supervisor_sees_every_queue(shared, r):
    home = shared.home
    call = await r.build(Target(home, home, role="supervisor", placement="colleague"))
    assert_success(await send(home.people["sevgi"].client, r, call), r)


async def test_conversation_list_shows_an_agent_only_what_they_can_see(shared):
    home = shared.home
    placed = {p: await new_conversation(home, p) for p in PLACEMENTS}
    sees = {"bora": {"shared", "group", "group_colleague", "bora"},
            "deniz": {"shared", "colleague", "group_colleague"},
            "sevgi": set(PLACEMENTS)}
    for name, expected in sees.items():
        client = home.people[name].client
        for placement, conversation in placed.items():
            listed = await client.get(f"{API}/conversations",
                                      params={"contact_id": str(conversation.contact_id)})
            assert listed.status_code == 200
            shown = [c["id"] for c in listed.json()["items"]]
            assert shown == ([str(conversation.id)] if placement in expected else []), (
                name, placement)


async def test_agent_takes_from_the_shared_queue_and_releases_it(shared):
    home = shared.home
    bora, deniz = home.people["bora"], home.people["deniz"]
    conversation = await new_conversation(home)
    url = f"{API}/conversations/{conversation.id}"
    taken = await bora.client.post(f"{url}/assign", json={"assignee_id": str(bora.user_id)})
    assert taken.status_code == 200, taken.text
    assert taken.json()["assignee_id"] == str(bora.user_id)
    assert_error(await deniz.client.get(url), 404, "not_found")
    released = await bora.client.post(f"{url}/assign", json={"assignee_id": None})
    assert released.status_code == 200, released.text
    assert released.json()["assignee_id"] is None
    assert (await deniz.client.get(url)).status_code == 200


async def test_replying_from_the_queue_takes_the_conversation(shared):
    home = shared.home
    bora = home.people["bora"]
    conversation = await new_conversation(home, "group")
    url = f"{API}/conversations/{conversation.id}"
    sent = await bora.client.post(f"{url}/messages", json={"body": "Hemen bakıyorum"})
    assert sent.status_code == 201, sent.text
    assert (await _read(home.people["ayla"].client, url.removeprefix(API)))["assignee_id"] == \
        str(bora.user_id)


@pytest.mark.parametrize(("action", "payload"), [
    pytest.param("assign", {"assignee_id": "self"}, id="take-it"),
    pytest.param("assign", {"assignee_id": None}, id="release-it"),
    pytest.param("transfer", {"user_id": "self"}, id="transfer-to-self"),
    pytest.param("transfer", {"group_id": "group"}, id="transfer-to-queue"),
    pytest.param("messages", {"body": "Ben bakayım"}, id="reply"),
])
async def test_agent_cannot_take_over_a_colleagues_conversation_in_their_group(
        shared, action, payload):
    """Bora sees Deniz's conversation in their shared group's queue, but it is Deniz's: taking,
    releasing, transferring or answering it is for Deniz or a supervisor."""
    home = shared.home
    bora, sevgi = home.people["bora"], home.people["sevgi"]
    conversation = await new_conversation(home, "group_colleague")
    body = {k: (str(bora.user_id) if v == "self" else str(home.group_id) if v == "group" else v)
            for k, v in payload.items()}
    r = BY_ID[f"POST /conversations/{{conversation_id}}/{action}"]
    call = Call({"conversation_id": conversation.id}, json=body)
    assert (await bora.client.get(f"{API}/conversations/{conversation.id}")).status_code == 200
    await assert_refused(home, r, call, bora.client, 403, "forbidden")
    # A supervisor may do exactly that.
    response = await send(sevgi.client, r, call)
    assert response.status_code in (200, 201), response.text


async def test_agent_cannot_assign_to_a_colleague(shared):
    home = shared.home
    conversation = await new_conversation(home)
    r = BY_ID["POST /conversations/{conversation_id}/assign"]
    call = Call({"conversation_id": conversation.id},
                json={"assignee_id": str(home.people["deniz"].user_id)})
    await assert_refused(home, r, call, home.people["bora"].client, 403, "forbidden")


async def test_a_reused_client_message_id_does_not_open_a_hidden_conversation(shared):
    """Idempotent sends look the id up first; that must not bypass visibility."""
    home = shared.home
    deniz, bora = home.people["deniz"], home.people["bora"]
    conversation = await new_conversation(home, "colleague")
    url = f"{API}/conversations/{conversation.id}/messages"
    body = {"body": "Randevunuz yarın 10:00'da", "client_message_id": fresh("istemci")}
    first = await deniz.client.post(url, json=body)
    assert first.status_code == 201, first.text
    retry = await deniz.client.post(url, json=body)
    assert (retry.status_code, retry.json()["id"]) == (200, first.json()["id"])
    r = BY_ID["POST /conversations/{conversation_id}/messages"]
    await assert_refused(home, r, Call({"conversation_id": conversation.id}, json=body),
                         bora.client, 404, "not_found")


async def test_notes_on_a_hidden_conversation_are_not_listed_to_an_agent(shared):
    """Bora may read a contact's own notes, not the notes on Deniz's conversation with them."""
    home = shared.home
    admin = home.people["ayla"].client
    conversation = await new_conversation(home, "colleague")
    on_conversation = await admin.post(f"{API}/conversations/{conversation.id}/notes",
                                       json={"body": "Gizli: ödeme sorunu"})
    on_contact = await admin.post(f"{API}/contacts/{conversation.contact_id}/notes",
                                  json={"body": "Tercih: sabah randevusu"})
    assert (on_conversation.status_code, on_contact.status_code) == (201, 201)
    url = f"{API}/contacts/{conversation.contact_id}/notes"
    everything = {on_conversation.json()["id"], on_contact.json()["id"]}
    for name, expected in {"deniz": everything, "sevgi": everything,
                           "bora": {on_contact.json()["id"]}}.items():
        response = await home.people[name].client.get(url)
        assert response.status_code == 200, response.text
        assert {n["id"] for n in response.json()} == expected, name
