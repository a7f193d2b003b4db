"""Full-text search in the inbox and the contact list: Turkish inflections and letters, word
prefixes, phone fragments, hostile input, tenants and visibility; and, over a tenant with 100,000
conversations, what PostgreSQL's planner makes of the queries the services build."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import event, text

from invekto.contacts import service as contacts
from invekto.contacts.schemas import ContactCreate
from invekto.core.actor import Actor
from invekto.inbox import search
from invekto.inbox import service as inbox
from invekto.inbox.schemas import ConversationFilters
from tests.factories import create_company

# ---- helpers -----------------------------------------------------------------------------------


async def found(person, q: str) -> set[uuid.UUID]:
    """Every conversation the person's inbox lists for ``q``, following cursors."""
    ids: set[uuid.UUID] = set()
    cursor = None
    for _ in range(50):
        params = {"q": q, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = await person.client.get("/api/v1/conversations", params=params)
        assert response.status_code == 200, (q, response.text)
        page = response.json()
        ids |= {uuid.UUID(item["id"]) for item in page["items"]}
        if not (cursor := page["next_cursor"]):
            return ids
    raise AssertionError("pagination never ended")


async def contact_names(person, q: str) -> set[str]:
    response = await person.client.get("/api/v1/contacts", params={"q": q, "limit": 200})
    assert response.status_code == 200, (q, response.text)
    return {item["name"] for item in response.json()["items"]}


@dataclass
class Inbox:
    ids: dict[str, uuid.UUID]

    def names(self, found_ids: set[uuid.UUID]) -> set[str]:
        by_id = {v: k for k, v in self.ids.items()}
        # An id that is not ours (another tenant's) shows up as itself and fails the comparison.
        return {by_id.get(i, str(i)) for i in found_ids}


@pytest.fixture
async def inbox_world(world) -> Inbox:
    home = world.home
    messages = {
        "randevu": await home.inbound("Randevularınız hazır", name="Kemal Sunal"),
        "gorusme": await home.inbound("Görüşmemizi yarına alalım", name="Tarık Akan"),
        "istanbul": await home.inbound("İstanbul şubemize bekleriz", name="Türkan Şoray"),
        "ayse": await home.inbound("Merhaba", name="Ayşe Yılmaz", phone="0532 411 22 33"),
        "kargo": await home.inbound("Kargom ne zaman gelir?", name="Mehmet Öz",
                                    phone="0533 987 65 43"),
        # Bora's group queue: Deniz (an agent in no group) may not see it.
        "grup": await home.inbound("Fatura bilgisi istiyorum", name="Grup Müşterisi"),
    }
    ids = {name: message.conversation_id for name, message in messages.items()}
    response = await home.sevgi.client.post(f"/api/v1/conversations/{ids['grup']}/transfer",
                                            json={"group_id": str(home.group_id)})
    assert response.status_code == 200, response.text
    # Charlie's company next door has the same words, name and number.
    charlie = await world.charlie.inbound("Randevularınız hazır", name="Ayşe Yılmaz",
                                          phone="0532 411 22 33")
    ids["charlie"] = charlie.conversation_id
    return Inbox(ids)


# ---- what is found -----------------------------------------------------------------------------

@pytest.mark.parametrize(("q", "expected"), [
    # Another inflection of the same Turkish word, both ways.
    ("randevularım", {"randevu"}),
    ("randevu", {"randevu"}),
    ("Randevularınız", {"randevu"}),
    ("RANDEVULARINIZ HAZIR", {"randevu"}),
    # The start of a word.
    ("randev", {"randevu"}),
    ("haz", {"randevu"}),
    # Accents and Turkish letters folded, in both directions.
    ("gorusme", {"gorusme"}),
    ("görüşme", {"gorusme"}),
    ("GÖRÜŞMEMİZİ", {"gorusme"}),
    ("İstanbul", {"istanbul"}),
    ("istanbul", {"istanbul"}),
    ("ISTANBUL", {"istanbul"}),
    ("ıstanbul", {"istanbul"}),
    # Contact names: folded, never stemmed.
    ("ayse", {"ayse"}),
    ("Ayşe", {"ayse"}),
    ("yılmaz", {"ayse"}),
    ("YILMAZ", {"ayse"}),
    ("yilmaz ayse", {"ayse"}),
    ("turkan soray", {"istanbul"}),
    # Phone fragments, typed nationally or internationally, with any punctuation.
    ("532 41", {"ayse"}),
    ("0532 411", {"ayse"}),
    ("+90 (532) 411-22", {"ayse"}),
    ("987 65", {"kargo"}),
    # Every word must match somewhere.
    ("randevu kargo", set()),
    ("hiçbir şey", set()),
    ("53", set()),
])
async def test_the_inbox_finds_words_in_any_inflection_names_and_phone_fragments(
        world, inbox_world, q, expected):
    assert inbox_world.names(await found(world.home.sevgi, q)) == expected


@pytest.mark.parametrize(("q", "expected"), [
    ("ayse", {"Ayşe Yılmaz"}),
    ("AYŞE", {"Ayşe Yılmaz"}),
    ("yılmaz", {"Ayşe Yılmaz"}),
    ("yilmaz", {"Ayşe Yılmaz"}),
    ("ay", {"Ayşe Yılmaz"}),
    ("532 41", {"Ayşe Yılmaz"}),
    ("oz", {"Mehmet Öz"}),
    ("müşteri", {"Grup Müşterisi"}),
    # Message words are not contact names.
    ("randevu", set()),
])
async def test_the_contact_list_finds_names_with_turkish_letters_and_phone_fragments(
        world, inbox_world, q, expected):
    assert await contact_names(world.home.bora, q) == expected


async def test_contacts_are_found_by_the_start_of_an_email_address(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await contacts.create_contact(session, home.system, ContactCreate(
            name="İlker Şen", email="ilker.sen@example.com"))
    for q in ("ilker.sen@example", "ilker.sen@", "ILKER.SEN@EXAMPLE.COM", "ilker", "sen"):
        assert await contact_names(home.bora, q) == {"İlker Şen"}, q
    assert await contact_names(home.bora, "sen@example") == set()


HOSTILE = [
    "'", "''", '"', "\\", "\\\\'", "&|!():*<->", "& | ! ( ) : * < - >", "*", ":*", "<2>",
    "(((", ")))", "!", "!!", "-", "--", "@", "@@", "a@", "@.", "%", "_", "%_%", "\\x00",
    "randevu:*", "!randevu", "randevu & !hazır", "'randevu':* | ''", "randevu <-> hazır",
    "randevu'; DROP TABLE messages; --", "' OR 1=1 --", "a\\'b", "ayşe' & '", "x@'y",
    "İ̇", "\u0131\u0307", "\u200b", "\ufeff", "𝔯𝔞𝔫𝔡𝔢𝔳𝔲", "ﬁyat",
    "&" * 200, ("'\\&|!():*<->" * 20)[:200], "x" * 200, "ş" * 200, "1" * 200, "0" * 200,
    " ".join(["a"] * 100), " ".join(["randevu"] * 40)[:200], "+90 (532) 41-",
]


@pytest.mark.parametrize("q", HOSTILE)
async def test_hostile_input_finds_something_or_nothing_but_never_fails(world, inbox_world, q):
    home = world.home
    assert inbox_world.names(await found(home.sevgi, q)) <= set(inbox_world.ids) - {"charlie"}
    await contact_names(home.sevgi, q)


@pytest.mark.parametrize(("q", "expected"), [
    # Operators are not operators: the words around them are searched for.
    ("!randevu", {"randevu"}),
    ("randevu:*", {"randevu"}),
    ("'randevu':* | ''", {"randevu"}),
    ("randevu'; DROP TABLE messages; --", set()),
    ("(randevu) & (hazır)", {"randevu"}),
    ("randevu | kargo", set()),
    ("𝔯𝔞𝔫𝔡𝔢𝔳𝔲", {"randevu"}),
])
async def test_query_syntax_typed_by_a_user_is_never_interpreted(world, inbox_world, q,
                                                                  expected):
    assert inbox_world.names(await found(world.home.sevgi, q)) == expected


async def test_services_survive_what_the_api_would_refuse(world, inbox_world):
    """NUL characters, lone surrogates and long input reach the services from jobs and imports,
    not only through the API's 200-character limit."""
    home = world.home
    junk = ["a\x00b", "\x00", "\ud800", "x\udfffy", "randevu " * 700, "'&|!" * 2000,
            " ".join(str(n) for n in range(2000))]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        for q in junk:
            conversations, _ = await inbox.list_conversations(
                session, home.system, ConversationFilters.model_construct(q=q))
            assert {c.id for c in conversations} <= set(inbox_world.ids.values()), repr(q[:20])
            await contacts.search_contacts(session, home.system, q=q)
        conversations, _ = await inbox.list_conversations(
            session, home.system, ConversationFilters.model_construct(q="randevu " * 700))
        assert {c.id for c in conversations} == {inbox_world.ids["randevu"]}


def test_queries_are_cut_into_words_and_never_reach_tsquery_syntax():
    terms = search.parse("Randevularım & !HAZIR'; <-> ilker.sen@Example:* 0532 41")
    assert terms.words == ("randevularim", "hazir", "0532", "41")
    assert terms.emails == ("ilker.sen@example",)
    assert terms.phone_digits == "53241"
    assert search.prefix_term("randevularim") == "'randevularim':*"
    assert search.parse("&|!():*<->'\\\"").is_empty
    assert search.parse("12").phone_digits is None
    assert search.parse("0090 532 41").phone_digits == "9053241"
    assert len(search.parse(" ".join(f"w{n}" for n in range(100))).words) == search.MAX_WORDS


# ---- tenants and visibility --------------------------------------------------------------------

async def test_another_tenants_matching_conversations_and_contacts_are_never_found(
        world, inbox_world):
    home, charlie = world.home, world.charlie
    for q in ("randevu", "ayse yilmaz", "532 41"):
        assert inbox_world.ids["charlie"] not in await found(home.sevgi, q)
        # ... while Charlie's own people do find it.
        assert await found(charlie.ayla, q) == {inbox_world.ids["charlie"]}
    assert await contact_names(home.sevgi, "532 41") == {"Ayşe Yılmaz"}
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        found_contacts, _ = await contacts.search_contacts(session, home.system, q="ayse")
    assert len(found_contacts) == 1
    assert found_contacts[0].tenant_id == home.tenant_id


async def test_an_agent_never_finds_a_conversation_they_cannot_see(world, inbox_world):
    home = world.home
    assert inbox_world.names(await found(home.deniz, "fatura")) == set()
    assert inbox_world.names(await found(home.deniz, "grup müşterisi")) == set()
    assert inbox_world.names(await found(home.bora, "fatura")) == {"grup"}
    assert inbox_world.names(await found(home.sevgi, "fatura")) == {"grup"}
    # The shared queue stays searchable for everyone.
    assert inbox_world.names(await found(home.deniz, "randevu")) == {"randevu"}


# ---- query plans over a large tenant -----------------------------------------------------------

CONTACTS = 100_000
MESSAGES_PER_CONVERSATION = 2

_FIRST = ["Ahmet", "Mehmet", "Mustafa", "Ali", "Hüseyin", "Hasan", "İbrahim", "Fatma", "Emine",
          "Hatice", "Zeynep", "Elif", "Merve", "Büşra", "Kübra", "Esra", "Özge", "Gökhan", "Serkan",
          "Murat"]
_LAST = ["Kaya", "Demir", "Şahin", "Çelik", "Öztürk", "Aydın", "Arslan", "Doğan", "Kılıç", "Aslan",
         "Çetin", "Kara", "Koç", "Kurt", "Özdemir", "Polat", "Erdoğan", "Yıldız", "Yıldırım",
         "Güneş"]
_BODIES = ["Merhaba, fiyat bilgisi alabilir miyim?", "Siparişim ne zaman kargoya verilir?",
           "Teşekkür ederim, iyi günler", "Ödeme yaptım, dekontu gönderiyorum",
           "Adresimi değiştirmek istiyorum", "Ürün stokta var mı?", "İade süreci nasıl işliyor?",
           "Kampanya detaylarını öğrenebilir miyim?", "Faturamı e-posta ile alabilir miyim?",
           "Kapıda ödeme seçeneği var mı?"]

# Ids are a per-table prefix and the row number: conversations and messages find their contact
# without a join, and ascending ids keep the b-tree inserts cheap. Phone numbers are unique: 7919
# is prime to 10^7.
_ID = "CAST(CAST(:{table} AS text) || lpad(to_hex({n}), 12, '0') AS uuid)"
_INSERT_CONTACTS = f"""
INSERT INTO contacts (id, tenant_id, name, phone, email)
SELECT {_ID.format(table="contacts", n="i")}, CAST(:t AS uuid),
       (CAST(:first AS text[]))[1 + i % 20] || ' ' || (CAST(:last AS text[]))[1 + (i / 20) % 20],
       '+90' || (530 + i % 30) || lpad((i * 7919 % 10000000)::text, 7, '0'),
       CASE WHEN i % 3 = 0 THEN 'musteri' || i || '@example.com' END
FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS i
"""
_INSERT_CONVERSATIONS = f"""
INSERT INTO conversations (id, tenant_id, contact_id, channel_id, status, last_message_at,
                           last_message_preview)
SELECT {_ID.format(table="conversations", n="i")}, CAST(:t AS uuid),
       {_ID.format(table="contacts", n="i")},
       CAST(:ch AS uuid), (ARRAY['open', 'pending', 'closed'])[1 + i % 3],
       now() - i * interval '1 minute', ''
FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS i
"""
# One message in 2,000 has the words the plans search for; the rest vary over ten others.
_INSERT_MESSAGES = f"""
INSERT INTO messages (id, tenant_id, conversation_id, contact_id, channel_id, direction,
                      sender_kind, body, status, created_at)
SELECT {_ID.format(table="messages", n="m")}, CAST(:t AS uuid),
       {_ID.format(table="conversations", n="(m + 1) / 2")},
       {_ID.format(table="contacts", n="(m + 1) / 2")}, CAST(:ch AS uuid),
       CASE WHEN m % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
       CASE WHEN m % 2 = 0 THEN 'contact' ELSE 'agent' END,
       CASE WHEN m % 2000 = 3 THEN 'Randevularınız hazır, görüşmek üzere'
            ELSE (CAST(:bodies AS text[]))[1 + m % 10] || ' ' || (m % 997) END,
       'read', now() - m * interval '30 seconds'
FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS m
"""


@dataclass
class BigTenant:
    tenant_id: uuid.UUID
    rt: object

    @property
    def actor(self) -> Actor:
        return Actor.system(self.tenant_id)


@pytest.fixture(scope="module")
async def big_tenant(app, rt) -> BigTenant:
    company = await create_company(rt, app, cast=False)
    common = {"t": str(company.tenant_id), "ch": str(company.channel_id), "first": _FIRST,
              "last": _LAST, "bodies": _BODIES,
              # 'xxxxxxxx-xxxx-xxxx-xxxx-', followed by the row number in hex.
              **{table: str(uuid.uuid4())[:24] for table in ("contacts", "conversations",
                                                             "messages")}}
    # One set-based statement per table, as the app role in the tenant's scope (RLS checks every
    # row). Each table is analysed before the next one's foreign keys are checked against it: a
    # pooled connection may hold a check planned when the table was nearly empty (a seq scan).
    async with rt.db.tenant_session(company.tenant_id) as session:
        for table, statement, rows in (
                ("contacts", _INSERT_CONTACTS, CONTACTS),
                ("conversations", _INSERT_CONVERSATIONS, CONTACTS),
                ("messages", _INSERT_MESSAGES, CONTACTS * MESSAGES_PER_CONVERSATION)):
            await session.execute(text(statement), {**common, "lo": 1, "hi": rows})
            await session.execute(text(f"ANALYZE {table}"))
    yield BigTenant(company.tenant_id, rt)
    await company.close()


@dataclass
class Captured:
    statement: str
    parameters: dict


async def captured_sql(big: BigTenant, call) -> list[Captured]:
    """The statements a service call sends, exactly as sent (as the app role, tenant-scoped)."""
    statements: list[Captured] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM conversations" in statement:
            statements.append(Captured(statement, dict(parameters or {})))

    engine = big.rt.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        async with big.rt.db.tenant_session(big.tenant_id) as session:
            await call(session)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert statements
    return statements


async def explained(big: BigTenant, sql: Captured) -> dict:
    """EXPLAIN (FORMAT JSON) of a captured statement, run the way the service ran it."""
    async with big.rt.db.tenant_session(big.tenant_id) as session:
        connection = await session.connection()
        result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql.statement}",
                                                  sql.parameters)
        return result.scalar_one()[0]["Plan"]


def nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def summary(plan: dict) -> str:
    return "\n".join(
        " ".join(filter(None, (node["Node Type"], node.get("Relation Name"),
                               node.get("Index Name"), node.get("Index Cond"))))
        for node in nodes(plan))


def indexes_used(plan: dict) -> set[str]:
    return {node["Index Name"] for node in nodes(plan) if "Index Name" in node}


def seq_scanned(plan: dict) -> set[str]:
    return {node.get("Relation Name", "") for node in nodes(plan)
            if node["Node Type"] == "Seq Scan"}


def relations(plan: dict) -> set[str]:
    return {node["Relation Name"] for node in nodes(plan) if "Relation Name" in node}


async def list_sql(big: BigTenant, q: str | None) -> Captured:
    statements = await captured_sql(big, lambda session: inbox.list_conversations(
        session, big.actor, ConversationFilters(q=q), limit=50))
    return statements[0]


# Under row-level security the planner may use an index only for LEAKPROOF conditions;
# provisioning marks text search (@@) and LIKE so (db/provision.py). These plans are the app
# role's, under the policy, exactly as the service runs them.
WORD_QUERY = "randevularım"
DIGIT_QUERY = "532 41"


async def test_search_counts_are_right_in_a_big_tenant(big_tenant):
    async with big_tenant.rt.db.tenant_session(big_tenant.tenant_id) as session:
        assert await inbox.count_conversations(session, big_tenant.actor,
                                               ConversationFilters()) == CONTACTS
        assert await inbox.count_conversations(
            session, big_tenant.actor, ConversationFilters(q=WORD_QUERY)) == CONTACTS // 1000
        by_phone = await inbox.count_conversations(session, big_tenant.actor,
                                                   ConversationFilters(q=DIGIT_QUERY))
    assert 0 < by_phone < 100


async def test_the_plain_list_and_count_never_read_messages(big_tenant):
    statements = await captured_sql(big_tenant, lambda session: inbox.list_conversations(
        session, big_tenant.actor, ConversationFilters(), limit=50))
    statements += await captured_sql(big_tenant, lambda session: inbox.count_conversations(
        session, big_tenant.actor, ConversationFilters()))
    for sql in statements:
        plan = await explained(big_tenant, sql)
        assert "messages" not in relations(plan), summary(plan)
        assert "contacts" not in relations(plan), summary(plan)


async def test_a_word_search_uses_the_full_text_indexes(big_tenant):
    plan = await explained(big_tenant, await list_sql(big_tenant, WORD_QUERY))
    assert {"ix_messages_search", "ix_contacts_search"} <= indexes_used(plan), summary(plan)
    assert not seq_scanned(plan) & {"messages", "contacts"}, summary(plan)


async def test_a_digit_search_uses_the_phone_trigram_index(big_tenant):
    plan = await explained(big_tenant, await list_sql(big_tenant, DIGIT_QUERY))
    assert "ix_contacts_phone_trgm" in indexes_used(plan), summary(plan)
    assert not seq_scanned(plan) & {"messages", "contacts"}, summary(plan)


async def test_provisioning_marks_search_operators_leakproof(big_tenant):
    async with big_tenant.rt.db.tenant_session(big_tenant.tenant_id) as session:
        flags = (await session.execute(text(
            "SELECT proname, proleakproof FROM pg_proc WHERE oid IN "
            "('pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure, "
            "'pg_catalog.textlike(text, text)'::regprocedure)"))).all()
    assert dict(flags) == {"ts_match_vq": True, "textlike": True}
