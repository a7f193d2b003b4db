"""The demo company: a dental clinic in İstanbul with a small team and a few real-looking chats.

Seeded once; the generated passwords are kept in ``<data_dir>/demo-credentials.txt`` (mode 600)
so every later ``make run`` can print them again.

In demo mode the company's WhatsApp number is real as far as the app can tell: it has generated
credentials, and its provider is the simulator that the web process hosts under
``PROVIDER_PATH`` (``wire_phone``), whose customer side is the phone at ``/demo/phone``. Its
payment links go to iyzico, which is the simulator the web process hosts under ``IYZICO_PATH``
(``wire_iyzico``): the link's page has a "Pay" button.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from invekto import runtime
from invekto.ai import knowledge, memory
from invekto.ai.schemas import ArticleIn
from invekto.automation import service as automation
from invekto.automation.schemas import RuleIn
from invekto.channels import service as channels
from invekto.channels.models import Channel
from invekto.channels.schemas import ChannelCreate, ChannelUpdate
from invekto.config import Settings
from invekto.contacts import service as contacts
from invekto.contacts.schemas import ContactUpdate, CustomFieldCreate, TagCreate
from invekto.core import security
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.db.session import Database
from invekto.flows import service as flows
from invekto.flows.schemas import FlowCreate, FlowDraft, FlowTriggers
from invekto.inbox import service as inbox
from invekto.inbox.schemas import InboundMessage
from invekto.integrations import events as _payment_events  # noqa: F401 - the rule's event
from invekto.integrations import service as integrations
from invekto.integrations.base import BASE_URL
from invekto.integrations.iyzico import simulator as iyzico_simulator
from invekto.integrations.models import Integration
from invekto.provisioning import provision_tenant
from invekto.replies import service as replies
from invekto.tenants import service as tenants
from invekto.tenants.models import Tenant
from invekto.users import roles
from invekto.users import service as users
from invekto.users.schemas import GroupCreate, RoleIn, UserCreate

log = structlog.get_logger()

SLUG = "demo"
# The demo WhatsApp number's phone_number_id, and where the web process serves its provider.
PHONE_NUMBER_ID = "demo-phone-number-id"
PROVIDER_PATH = "/demo/provider/whatsapp"
# Where the web process serves the iyzico simulator the demo's payment links go to.
IYZICO_PATH = "/demo/provider/iyzico"

# (customer name, phone, channel, [(minutes ago, "in"/"out", text)], tags, assignee, status)
CONVERSATIONS = [
    ("Ayşe Yılmaz", "+905321234567", "whatsapp", [
        (180, "in", "Merhaba, implant tedavisi hakkında bilgi alabilir miyim?"),
        (175, "out", "Merhaba Ayşe Hanım, tabii. Önce ücretsiz muayene randevusu ayarlayalım; "
                     "hangi gün size uygun?"),
        (160, "in", "Perşembe öğleden sonra olur mu?"),
    ], ["implant", "randevu alındı"], "agent1", "open"),
    ("Mehmet Öztürk", "+905339876543", "whatsapp", [
        (90, "in", "İyi günler, diş beyazlatma fiyatınız nedir?"),
    ], ["fiyat"], None, "open"),
    ("Şükrü Çelik", "+905441112233", "instagram", [
        (300, "in", "Kliniğiniz Kadıköy'de mi? Cumartesi açık mısınız?"),
        (290, "out", "Evet Şükrü Bey, Kadıköy Moda'dayız; cumartesi 10:00-16:00 açığız."),
        (285, "in", "Teşekkürler, görüşmek üzere 🙏"),
    ], [], "agent2", "closed"),
    ("Zeynep Arslan", "+905055554433", "web", [
        (30, "in", "Randevumu yarına ertelemem mümkün mü? Ağrım arttı."),
    ], ["acil"], None, "open"),
    ("Emily Carter", "+447911123456", "whatsapp", [
        (45, "in", "Hello! Do you offer dental tourism packages with hotel transfer?"),
        (40, "out", "Hello Emily, yes we do. I'll send you our package details shortly."),
    ], ["turist"], "agent1", "pending"),
]


# The click-to-WhatsApp ad two of them came from (the reports' referrals and conversions).
_AD = {"source": "ad", "source_type": "ad", "source_id": "120210455", "headline":
       "İmplantta kış kampanyası"}
REFERRALS = {"Ayşe Yılmaz": _AD, "Mehmet Öztürk": _AD}


def _credentials_file(settings: Settings):
    return settings.data_dir / "demo-credentials.txt"


async def seed(db: Database, settings: Settings) -> bool:
    """Create the demo company unless it exists. Returns whether it was created."""
    async with db.system_session() as session:
        if await tenants.find_by_slug(session, SLUG):
            return False

    passwords = {name: security.generate_password(12) for name in
                 ("admin", "supervisor", "agent1", "agent2")}
    now = datetime.now(UTC)
    # One transaction: a failure half-way leaves no half-made demo company behind.
    async with db.transaction() as session:
        tenant, provisioned = await provision_tenant(
            session, slug=SLUG, name="Gülüş Diş Kliniği", admin_username="admin",
            admin_display_name="Can Demir", admin_password=passwords["admin"])
        owner = Actor.system(tenant.id)
        people = {}
        for username, display, role in (("supervisor", "Elif Kaya", "supervisor"),
                                        ("agent1", "Ahmet Şahin", "agent"),
                                        ("agent2", "Gizem Aydın", "agent")):
            people[username], _ = await users.create_user(session, owner, UserCreate(
                username=username, display_name=display, role=role,
                password=passwords[username]))
        reception = await users.create_group(session, owner, GroupCreate(
            name="Resepsiyon", description="Randevu ve genel sorular",
            member_ids=[people["agent1"].id, people["agent2"].id]))
        await users.create_group(session, owner, GroupCreate(
            name="Uluslararası Hastalar", description="International patients",
            member_ids=[people["agent1"].id]))
        for name, color, conversion in (("implant", "#0054a6", False), ("fiyat", "#f59f00", False),
                                        ("acil", "#d63939", False), ("turist", "#2fb344", False),
                                        ("randevu alındı", "#ae3ec9", True),
                                        ("ödendi", "#0ca678", False)):
            await contacts.create_tag(session, owner, TagCreate(
                name=name, color=color, marks_conversion=conversion))
        await contacts.create_custom_field(session, owner, CustomFieldCreate(
            key="tc_kimlik_son4", label="T.C. kimlik son 4 hane", field_type="text",
            is_personal=True))
        # A role of the clinic's own: the front desk's trainee answers chats but sees phone
        # numbers and the national id masked (and can reveal one, which is logged).
        await roles.create_role(session, owner, RoleIn(
            name="Stajyer", description="Sohbetleri yanıtlar; kişisel veriler maskeli",
            permissions=[Permission.HANDLE_CONVERSATIONS, Permission.SEE_UNASSIGNED]))
        await contacts.create_custom_field(session, owner, CustomFieldCreate(
            key="sigorta", label="Sigorta", field_type="select",
            options=["SGK", "Özel", "Yok"]))
        for shortcut, body in (
                ("adres", "Kliniğimiz Bağdat Caddesi No: 120, Kadıköy / İstanbul adresindedir."),
                ("saatler", "Hafta içi 09:00-19:00, cumartesi 10:00-16:00 arası açığız."),
                ("randevu", "Randevunuz için uygun olduğunuz gün ve saati yazar mısınız?"),
                ("fiyat", "Tedavi ücretleri muayene sonrası netleşir; ilk muayene 750 TL'dir.")):
            await replies.create(session, owner, shortcut=shortcut, body=body)
        channel_by_key = {
            "whatsapp": await channels.create_channel(session, owner, ChannelCreate(
                kind="whatsapp_cloud", name="WhatsApp · 0216 555 01 02",
                external_id=PHONE_NUMBER_ID,
                settings={"api_base_url": app_base_url(settings) + PROVIDER_PATH},
                credentials=_phone_credentials({}))),
            "instagram": await channels.create_channel(session, owner, ChannelCreate(
                kind="instagram", name="Instagram · @gulusdis", external_id="demo-ig-id")),
            "web": await channels.create_channel(session, owner, ChannelCreate(
                kind="webchat", name="Web sitesi sohbet")),
        }
        for index, (name, phone, channel_key, lines, tags, assignee, status) in enumerate(
                CONVERSATIONS):
            channel = channel_by_key[channel_key]
            conversation = None
            for position, (minutes_ago, direction, text) in enumerate(lines):
                sent_at = now - timedelta(minutes=minutes_ago)
                if direction == "in":
                    message, _ = await inbox.receive_inbound(session, tenant.id, InboundMessage(
                        channel_id=channel.id, handle=phone.lstrip("+"),
                        provider_message_id=f"demo-{index}-{position}", phone=phone,
                        contact_name=name, body=text, sent_at=sent_at,
                        referral=REFERRALS.get(name) if position == 0 else None))
                    conversation = await inbox.get_conversation(session, owner,
                                                                message.conversation_id)
                else:
                    assert conversation is not None
                    await inbox.import_outbound(
                        session, owner, conversation.id, body=text, sent_at=sent_at,
                        sender_user_id=people[assignee].id if assignee else None)
            assert conversation is not None
            if tags:
                await inbox.change_tags(session, owner, conversation.id, add=tags, remove=[])
                await contacts.update_contact(session, owner, conversation.contact_id,
                                              ContactUpdate(tags=tags))
            if channel_key == "whatsapp":
                await inbox.transfer(session, owner, conversation.id,
                                     user_id=people[assignee].id if assignee else None,
                                     group_id=reception.id)
            elif assignee:
                await inbox.assign(session, owner, conversation.id, people[assignee].id)
            if status != "open":
                await inbox.set_status(session, owner, conversation.id, status)
        # After the conversations, so that seeding them fires nothing.
        await _automations(session, owner, channel_by_key["whatsapp"].id, reception.id,
                           people["supervisor"].id)
        await _knowledge_base(session, owner)
    lines = [f"Demo company code: {SLUG}  ({provisioned.slug})",
             *(f"  {username:<11} password: {password}" for username, password
               in passwords.items()),
             f"  API key:    {provisioned.api_key}"]
    path = _credentials_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return True


async def _automations(session: AsyncSession, owner: Actor, whatsapp_id: uuid.UUID,
                       group_id: uuid.UUID, supervisor_id: uuid.UUID) -> None:
    """The clinic's chatbot, started by writing "menü" on WhatsApp (the demo phone), handing
    over to reception; and a rule that flags urgent messages to the supervisor."""
    flow = await flows.create_flow(session, owner, FlowCreate(name="Klinik asistanı",
                                                              template="clinic"))
    graph = dict(flow.draft)
    graph["nodes"] = {node_id: {**node, "group_id": str(group_id)}
                      if node.get("type") == "handoff" else node
                      for node_id, node in graph["nodes"].items()}
    await flows.save_draft(session, owner, flow.id, FlowDraft(graph=graph, triggers=FlowTriggers(
        channel_ids=[whatsapp_id], first_message=False, keywords=["menü"])))
    await flows.publish(session, owner, flow.id)
    await automation.create_rule(session, owner, RuleIn(
        name="Acil mesajlar", description="Acil yazan hastayı etiketle ve süpervizöre haber ver",
        event="message_received",
        conditions={"all": [{"field": "message.text", "op": "contains_any",
                             "value": ["acil", "ağrı", "şişlik"]}]},
        actions=[{"type": "add_tags", "tags": ["acil"]},
                 {"type": "notify", "user_id": str(supervisor_id),
                  "body": "Acil olabilecek bir mesaj: {{ contact.name }}"}]))
    await automation.create_rule(session, owner, RuleIn(
        name="Ödeme teşekkürü", description="Ödeme linkini ödeyen hastayı etiketle, teşekkür et",
        event="payment_received",
        actions=[{"type": "add_tags", "tags": ["ödendi"]},
                 {"type": "send_message",
                  "body": "Ödemeniz alındı ({{ payment.amount }}), teşekkür ederiz! "
                          "Gülüş Diş Kliniği"}]))


@dataclass(frozen=True)
class PhoneLine:
    """The demo WhatsApp number, as its provider (the simulator) needs to know it."""

    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    company_name: str
    channel_name: str
    phone_number_id: str
    app_secret: str
    access_token: str


# The clinic's FAQ: what reply suggestions and the help centre draw on in the demo.
FAQS = (
    ("Çalışma saatleriniz nedir?",
     "Hafta içi 09:00-19:00, cumartesi 10:00-16:00 arası açığız; pazar günleri kapalıyız. "
     "Son randevu kapanıştan bir saat öncedir."),
    ("Kliniğiniz nerede, nasıl gelebilirim?",
     "Kliniğimiz Bağdat Caddesi No: 120, Kadıköy / İstanbul adresindedir. Marmaray Göztepe "
     "durağına 10 dakika yürüme mesafesindeyiz; binanın önünde ücretsiz otopark vardır."),
    ("Muayene ücreti ne kadar?",
     "İlk muayene ve panoramik röntgen birlikte 750 TL'dir. Tedaviye başlarsanız bu ücret "
     "tedavi bedelinden düşülür."),
    ("İmplant fiyatlarınız nedir?",
     "Tek implant, üst yapısıyla birlikte 28.000 TL'den başlar. Net fiyat muayene ve "
     "röntgenden sonra, kemik durumuna göre verilir."),
    ("Diş beyazlatma ne kadar, kaç seans sürer?",
     "Klinikte yapılan beyazlatma tek seanstır, yaklaşık 1 saat sürer ve 6.500 TL'dir. "
     "Etkisi bakıma göre 1-2 yıl kalır."),
    ("Taksit yapıyor musunuz?",
     "Tüm kredi kartlarına 3 taksit, anlaşmalı bankaların kartlarına 9 taksite kadar "
     "vade farksız ödeme imkânımız vardır."),
    ("Randevumu nasıl iptal ederim veya değiştiririm?",
     "Randevunuzu en geç 24 saat önce bu numaraya yazarak iptal edebilir ya da başka bir "
     "güne alabilirsiniz."),
    ("Acil durumda hemen muayene olabilir miyim?",
     "Şiddetli ağrı, şişlik veya kırık dişte aynı gün sizi görüyoruz: çalışma saatlerinde bu "
     "numaraya 'acil' yazmanız yeterli."),
    ("Özel sağlık sigortası geçerli mi?",
     "Anlaşmalı olduğumuz özel sigortalar için provizyonu klinikte alıyoruz; SGK anlaşmamız "
     "yoktur."),
)


async def _knowledge_base(session: AsyncSession, owner: Actor) -> None:
    """The clinic's FAQ, indexed now (the demo opens with suggestions ready), and its quick
    replies embedded for suggestions."""
    for question, answer in FAQS:
        await knowledge.save_article(session, owner, ArticleIn(kind="faq", title=question,
                                                               body=answer))
    await knowledge.index_now(session, owner.tenant_id)
    await memory.sync_quick_replies(session, owner.tenant_id)


def app_base_url(settings: Settings) -> str:
    """This run's web process, as the worker and the process itself reach it."""
    host = settings.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - listening everywhere: reach it locally
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _phone_credentials(current: dict) -> dict[str, str]:
    """The channel's credentials with any of Meta's three that is missing generated."""
    return {**{key: str(value) for key, value in current.items()},
            **{key: secrets.token_urlsafe(24) for key in ("app_secret", "access_token",
                                                          "verify_token")
               if not current.get(key)}}


async def _demo_tenant(db: Database) -> Tenant | None:
    async with db.system_session() as session:
        return await tenants.find_by_slug(session, SLUG)


async def wire_phone(db: Database, settings: Settings) -> PhoneLine | None:
    """Point the demo WhatsApp channel at the simulator of the web process described by
    ``settings`` (its host and port may differ from the last run's) and give it credentials if
    it has none. Idempotent: changes, and audits, only what differs. None without the demo
    company or its WhatsApp channel."""
    tenant = await _demo_tenant(db)
    if tenant is None:
        return None
    async with db.tenant_session(tenant.id) as session:
        channel = await session.scalar(select(Channel).where(
            Channel.tenant_id == tenant.id, Channel.kind == "whatsapp_cloud",
            Channel.external_id == PHONE_NUMBER_ID))
        if channel is None:
            return None
        current = channels.credentials_of(channel)
        credentials = _phone_credentials(current)
        wanted = {**channel.settings, "api_base_url": app_base_url(settings) + PROVIDER_PATH}
        changes: dict = {}
        if wanted != channel.settings:
            changes["settings"] = wanted
        if credentials != current:
            changes["credentials"] = credentials
        if changes:
            channel = await channels.update_channel(session, Actor.system(tenant.id), channel.id,
                                                    ChannelUpdate(**changes))
        return PhoneLine(tenant_id=tenant.id, channel_id=channel.id, company_name=tenant.name,
                         channel_name=channel.name, phone_number_id=PHONE_NUMBER_ID,
                         app_secret=credentials["app_secret"],
                         access_token=credentials["access_token"])


async def wire_iyzico(db: Database, settings: Settings) -> str | None:
    """Connect the demo company to iyzico, which is the simulator of the web process described
    by ``settings`` (with the simulator's keys). Idempotent: saves, and audits, only when the
    connection differs. Returns the merchant notification URL the simulator posts to; None
    without the demo company, or when this process may not call its own address (without
    ``INVEKTO_ALLOW_PRIVATE_URLS``, as in production: then the demo has no payment links)."""
    tenant = await _demo_tenant(db)
    if tenant is None:
        return None
    wanted = {"api_key": iyzico_simulator.API_KEY, "secret_key": iyzico_simulator.SECRET_KEY,
              BASE_URL: app_base_url(settings) + IYZICO_PATH}
    async with db.tenant_session(tenant.id) as session:
        row = await session.scalar(select(Integration).where(
            Integration.tenant_id == tenant.id, Integration.kind == "iyzico"))
        current = None if row is None else integrations.connection_of(row)
        if current is None or not row.enabled or {
                "api_key": current.secret("api_key"), "secret_key": current.secret("secret_key"),
                BASE_URL: current.base_url} != wanted:
            try:
                row = await integrations.save_integration(session, Actor.system(tenant.id),
                                                          "iyzico", wanted)
            except ValidationFailed as exc:  # the local address is refused
                log.warning("demo.iyzico_not_wired", error=exc.message,
                            hint="set INVEKTO_ALLOW_PRIVATE_URLS=true (as `invekto run` does)")
                return None
        assert row is not None
        return integrations.webhook_url(app_base_url(settings), row)


DEMO_CONSENT = ("Kişisel verileriniz, 6698 sayılı KVKK kapsamında yalnızca talebinize dönüş "
                "yapmak amacıyla Gülüş Diş Kliniği tarafından işlenir.")


async def wire_web_chat(db: Database, origin: str) -> uuid.UUID | None:
    """Let the demo company's web chat run on ``origin`` (this app's own address, where
    ``/demo/site`` shows it), with a privacy notice; returns the channel, or None without the
    demo company or its web chat. Idempotent."""
    tenant = await _demo_tenant(db)
    if tenant is None:
        return None
    async with db.tenant_session(tenant.id) as session:
        channel = await session.scalar(select(Channel).where(
            Channel.tenant_id == tenant.id, Channel.kind == "webchat",
            Channel.is_active.is_(True)).order_by(Channel.created_at).limit(1))
        if channel is None:
            return None
        listed = str(channel.settings.get("allowed_origins") or "").split()
        wanted = {"consent_text": DEMO_CONSENT,
                  "welcome_text": "Merhaba! Randevu, fiyat ya da tedaviler hakkında sorunuzu "
                                  "yazın.", **channel.settings,
                  "allowed_origins": " ".join([*listed, origin] if origin not in listed
                                              else listed)}
        if wanted != channel.settings:
            await channels.update_channel(session, Actor.system(tenant.id), channel.id,
                                          ChannelUpdate(settings=wanted))
        return channel.id


async def seed_and_describe(settings: Settings, url: str) -> str:
    rt = runtime.build(settings, url, application_name="invekto-demo")
    try:
        created = await seed(rt.db, settings)
    finally:
        await rt.db.dispose()
    path = _credentials_file(settings)
    heading = "Demo data created." if created else "Demo data already present."
    logins = path.read_text() if path.exists() else "(credentials file not found)\n"
    return f"{heading}\n{logins}Log in at http://{settings.host}:{settings.port}/login"
