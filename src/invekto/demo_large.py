"""`invekto demo --scale large`: a large, realistic company for the reports and the benchmarks.

A clinic chain ("buyuk") with 12 agents in two groups, three channels (WhatsApp, Instagram, web
chat) and, over the last 120 days, 100,000 conversations holding about 1,000,000 messages:
arrivals weighted to weekdays and office hours, a customer and an agent taking turns, replies
that take from seconds to hours, assignments, transfers, closes and a few reopenings, tags,
ad referrals, satisfaction surveys and the agents' presence. Rows are written set-based (one
``INSERT ... SELECT`` per table, in the system scope), then the reports derive their facts
through the real refresher, as for any company.

The numbers are random but repeatable (``setseed``): the same seed builds the same company.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import psycopg

from invekto import runtime
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.config import Settings
from invekto.contacts import service as contacts
from invekto.contacts.schemas import TagCreate
from invekto.core.actor import Actor
from invekto.db.provision import to_libpq_url
from invekto.provisioning import provision_tenant
from invekto.reports import refresh as reports
from invekto.users import service as users
from invekto.users.schemas import GroupCreate, UserCreate

SLUG = "buyuk"
PASSWORD = "buyuk-demo-2026"
AGENTS = ("ayse", "burak", "cem", "derya", "elif", "emre", "gizem", "hakan", "irem", "kaan",
          "leyla", "mert")
# What the customers ask about: a search for one finds about one conversation in fifteen.
TREATMENTS = ("implant", "dolgu", "kanal tedavisi", "beyazlatma", "diş teli", "diş taşı",
              "çekim", "protez", "zirkonyum", "lamina", "kaplama", "köprü", "gülüş tasarımı",
              "şeffaf plak", "kontrol")
WEEKEND_DROPPED = 0.66  # a weekend day has a third of a weekday's conversations
TAGS = ("randevu", "fiyat", "implant", "ortodonti", "şikâyet", "iptal", "kontrol", "ödeme")
CONVERSION_TAGS = ("randevu", "ödeme")


@dataclass(frozen=True)
class LargeCompany:
    tenant_id: uuid.UUID
    conversations: int
    messages: int
    seconds_writing: float
    seconds_deriving: float


async def _company(rt: runtime.Runtime, slug: str) -> tuple[
        uuid.UUID, list[uuid.UUID], list[uuid.UUID], list[uuid.UUID]]:
    """The company, its people, groups, channels and tags, through the services."""
    async with rt.db.transaction() as session:
        tenant, _ = await provision_tenant(session, slug=slug, name="Büyük Klinik Grubu",
                                           admin_username="yonetici", admin_password=PASSWORD)
    system = Actor.system(tenant.id)
    async with rt.db.tenant_session(tenant.id) as session:
        groups = [await users.create_group(session, system, GroupCreate(name=name))
                  for name in ("Resepsiyon", "Satış")]
        await users.create_user(session, system, UserCreate(
            username="supervizor", display_name="Selin Süpervizör", role="supervisor",
            password=PASSWORD))
        agents = [await users.create_user(session, system, UserCreate(
            username=name, display_name=name.title(), role="agent", password=PASSWORD,
            group_ids=[groups[n % 2].id])) for n, name in enumerate(AGENTS)]
        made = [await channels.create_channel(session, system, ChannelCreate(**spec)) for spec in (
            {"kind": "whatsapp_cloud", "name": "WhatsApp · 0850", "external_id": "850000000001",
             "settings": {"waba_id": "100000000000001"},
             "credentials": {"app_secret": "demo-secret", "access_token": "EAAG-demo"}},
            {"kind": "webchat", "name": "Web sitesi"},
            {"kind": "sms_netgsm", "name": "SMS", "external_id": "8502000000"})]
        for tag in TAGS:
            # A booked appointment and a payment are what the clinic's ads are for.
            await contacts.create_tag(session, system, TagCreate(
                name=tag, marks_conversion=tag in CONVERSION_TAGS))
    return (tenant.id, [user[0].id for user in agents], [g.id for g in groups],
            [c.id for c in made])


_ROWS = """
CREATE TEMP TABLE plan ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, gen_random_uuid() AS contact_id, n,
       -- WhatsApp 7 in 10, web chat 2, SMS 1
       (%(channels)s::uuid[])[CASE WHEN r1 < .7 THEN 1 WHEN r1 < .9 THEN 2 ELSE 3 END]
           AS channel_id,
       (%(agents)s::uuid[])[1 + floor(random() * %(agent_count)s)::int] AS agent_id,
       (%(groups)s::uuid[])[1 + floor(random() * 2)::int] AS group_id,
       -- a day of the last 120 (weekdays three times as likely), an hour weighted to the office
       date_trunc('day', now() - interval '1 day' * floor(random() * %(days)s))
         + interval '1 hour' * (ARRAY[8,9,9,10,10,10,11,11,11,12,12,13,14,14,14,15,15,15,16,16,
                                      17,17,18,19,20,21,22,23])[1 + floor(random() * 28)::int]
         + interval '1 second' * floor(random() * 3600) - interval '3 hours' AS opened_at,
       4 + 2 * floor(random() * 7)::int AS message_count,  -- 4 to 16, 10 on average
       -- seconds between turns: most within minutes, some within hours
       (20 + floor(exp(random() * 8)))::int AS step,
       random() AS r2, random() AS r3, random() AS r4
FROM (SELECT n, random() AS r1 FROM generate_series(1, %(planned)s) n) numbered;
DELETE FROM plan WHERE extract(isodow FROM opened_at) > 5 AND r4 < %(weekend_dropped)s;
"""

_WRITE = """
INSERT INTO contacts (id, tenant_id, name, phone)
SELECT contact_id, %(tenant)s, 'Müşteri ' || n, '+90532' || lpad(n::text, 7, '0') FROM plan;

-- In time order: the reports' refresher takes conversations in the order they were listed.
INSERT INTO conversations (id, tenant_id, contact_id, channel_id, assignee_id, group_id,
                           status, opened_at, last_message_at, last_message_preview,
                           first_response_at, closed_at, tags, referral, unread_count)
SELECT id, %(tenant)s, contact_id, channel_id, agent_id, group_id,
       CASE WHEN opened_at > now() - interval '2 days' AND r2 < .5 THEN 'open' ELSE 'closed' END,
       opened_at, opened_at + interval '1 second' * step * (message_count - 1), 'Teşekkürler',
       opened_at + interval '1 second' * step,
       CASE WHEN opened_at > now() - interval '2 days' AND r2 < .5 THEN NULL
            ELSE opened_at + interval '1 second' * step * message_count END,
       CASE WHEN r3 < .6 THEN ARRAY[(%(tags)s::text[])[1 + floor(r3 / .6 * %(tag_count)s)::int]]
            ELSE '{}' END,
       CASE WHEN r4 < .1 THEN jsonb_build_object('source', 'ad', 'source_id',
                                                  'kampanya-' || (1 + floor(r4 * 50)::int))
            END,
       0
FROM plan ORDER BY opened_at;

INSERT INTO messages (id, tenant_id, conversation_id, contact_id, channel_id, direction,
                      sender_kind, sender_user_id, body, status, created_at)
SELECT gen_random_uuid(), %(tenant)s, p.id, p.contact_id, p.channel_id,
       CASE WHEN k %% 2 = 0 THEN 'inbound' ELSE 'outbound' END,
       CASE WHEN k %% 2 = 0 THEN 'contact' ELSE 'agent' END,
       CASE WHEN k %% 2 = 0 THEN NULL ELSE p.agent_id END,
       -- each conversation about one of the treatments: the customer names it twice
       replace((ARRAY['Merhaba, {t} için randevu almak istiyorum',
                      'Tabii, hangi gün uygun?', '{t} fiyatı ne kadar?',
                      'Yarın saat 10 olur mu?', 'Teşekkürler'])[1 + k %% 5],
               '{t}', (%(treatments)s::text[])[1 + p.n %% %(treatment_count)s]),
       CASE WHEN k %% 2 = 0 THEN 'delivered' ELSE 'read' END,
       p.opened_at + interval '1 second' * p.step * k
FROM plan p, generate_series(0, p.message_count - 1) k;

INSERT INTO conversation_events (id, tenant_id, conversation_id, contact_id, kind, data,
                                 created_at)
SELECT gen_random_uuid(), %(tenant)s, id, contact_id, 'assigned',
       jsonb_build_object('assignee_id', agent_id, 'reason', 'round_robin'),
       opened_at + interval '1 second' * least(step / 2, 600)
FROM plan
UNION ALL
SELECT gen_random_uuid(), %(tenant)s, p.id, p.contact_id, 'closed', '{}',
       c.closed_at
FROM plan p JOIN conversations c ON c.id = p.id WHERE c.closed_at IS NOT NULL;

INSERT INTO conversation_events (id, tenant_id, conversation_id, contact_id, kind, data,
                                 created_at)
SELECT gen_random_uuid(), %(tenant)s, id, contact_id, 'transferred',
       jsonb_build_object('from_user_id', agent_id,
                          'user_id', (%(agents)s::uuid[])[1 + floor(r2 * %(agent_count)s)::int]),
       opened_at + interval '1 second' * step * 2.5
FROM plan WHERE r3 > .92;

INSERT INTO csat_responses (id, tenant_id, conversation_id, contact_id, channel_id, agent_id,
                            closed_at, due_at, asked_at, answered_at, score)
SELECT gen_random_uuid(), %(tenant)s, p.id, p.contact_id, p.channel_id, p.agent_id,
       c.closed_at, c.closed_at + interval '1 minute', c.closed_at + interval '1 minute',
       CASE WHEN p.r4 < .5 THEN c.closed_at + interval '10 minutes' END,
       CASE WHEN p.r4 < .5 THEN (ARRAY[5, 5, 5, 4, 4, 3, 2, 1])[1 + floor(p.r4 * 16)::int] END
FROM plan p JOIN conversations c ON c.id = p.id
WHERE c.closed_at IS NOT NULL AND p.r2 < .4;

INSERT INTO presence_periods (id, tenant_id, user_id, presence, started_at, ended_at)
SELECT gen_random_uuid(), %(tenant)s, agent, presence,
       day + starts, day + ends
FROM unnest(%(agents)s::uuid[]) agent,
     generate_series(date_trunc('day', now()) - interval '1 day' * %(days)s,
                     date_trunc('day', now()) - interval '1 day', interval '1 day') day,
     (VALUES ('online', interval '6 hours', interval '9 hours'),
             ('away', interval '9 hours', interval '10 hours'),
             ('online', interval '10 hours', interval '15 hours')) AS shift(presence, starts, ends)
WHERE extract(isodow FROM day) <= 5;
"""


async def build(settings: Settings, url: str, *, conversations: int = 100_000,
                days: int = 120, seed: float = 0.42, slug: str = SLUG) -> LargeCompany:
    """Create the large company (refused if one with its code exists) and derive its reports."""
    rt = runtime.build(settings, url, application_name="invekto-demo-large")
    try:
        tenant, agents, groups, channel_ids = await _company(rt, slug)
        started = time.monotonic()
        with psycopg.connect(to_libpq_url(url)) as connection:
            connection.execute("SELECT set_config('app.scope', 'system', true), setseed(%s)",
                               (seed,))
            # Two in three weekend conversations are dropped: plan more, to end near the aim.
            planned = round(conversations / (5 / 7 + 2 / 7 * (1 - WEEKEND_DROPPED)))
            params = {"tenant": tenant, "agents": agents, "agent_count": len(agents),
                      "groups": groups, "channels": channel_ids, "days": days,
                      "planned": planned, "weekend_dropped": WEEKEND_DROPPED,
                      "tags": list(TAGS), "tag_count": len(TAGS),
                      "treatments": list(TREATMENTS), "treatment_count": len(TREATMENTS)}
            for statement in (_ROWS + _WRITE).split(";\n"):
                if statement.strip():
                    connection.execute(statement, params)
            made, messages = connection.execute(
                "SELECT (SELECT count(*) FROM conversations WHERE tenant_id = %(tenant)s), "
                "(SELECT count(*) FROM messages WHERE tenant_id = %(tenant)s)", params).fetchone()
            connection.commit()
        with psycopg.connect(to_libpq_url(url), autocommit=True) as connection:
            connection.execute("ANALYZE")
        written = time.monotonic() - started
        started = time.monotonic()
        await reports.refresh(rt.db, tenant)
        derived = time.monotonic() - started
        # What autovacuum would do next (index-only scans of the new rows need their pages
        # marked visible), done now rather than in the middle of whatever reads next.
        with psycopg.connect(to_libpq_url(url), autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
        return LargeCompany(tenant, made, messages, written, derived)
    finally:
        await rt.db.dispose()


def describe(company: LargeCompany) -> str:
    return (f"company: {SLUG}  (supervisor: supervizor / {PASSWORD}; agents: "
            f"{', '.join(AGENTS[:3])}... same password)\n"
            f"conversations: {company.conversations:,}  messages: {company.messages:,}\n"
            f"written in {company.seconds_writing:.0f} s; reports derived in "
            f"{company.seconds_deriving:.0f} s")
