"""The knowledge base's service: saving articles (addresses, checks, roles, audit), indexing them
into embedded chunks (by ``index_now`` and by the ``ai:index`` job, never keeping an older text),
the hybrid search a customer's Turkish question runs, and the builtin answer drawn from it.

Real PostgreSQL (pgvector, the Turkish text-search configuration, row-level security) and the
real offline embedder: nothing here is scripted, so a ranking that breaks fails a test."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from invekto.ai import answering, knowledge, tasks
from invekto.ai.models import EMBEDDING_DIM, KnowledgeArticle, KnowledgeChunk
from invekto.ai.providers.builtin import MODEL_NAME
from invekto.ai.schemas import ArticleIn
from invekto.audit.models import AuditEvent
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.core.actor import Actor
from invekto.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.factories import Company, create_company

# A dental clinic's questions and answers, as its supervisor would type them.
CLINIC = {
    "saatler": ("Çalışma saatleriniz nedir?",
                "Hafta içi her gün 09:00–19:00, cumartesi 10:00–16:00 arası açığız; pazar "
                "günleri kliniğimiz kapalıdır."),
    "adres": ("Kliniğiniz nerede, adresiniz nedir?",
              "Kliniğimiz Caferağa Mah. Moda Caddesi No: 12, Kat 2, Kadıköy / İstanbul "
              "adresindedir; Kadıköy iskelesinden 10 dakika yürüme mesafesindeyiz."),
    "implant": ("İmplant fiyatlarınız nedir?",
                "Tek diş implant fiyatımız 18.000 TL'den başlar; implant vidası ve abutment "
                "dahildir, üzerine takılan kron ayrıca ücretlendirilir."),
    "beyazlatma": ("Diş beyazlatma nasıl yapılıyor, kaç seans sürüyor?",
                   "Ofis tipi beyazlatma klinikte tek seansta, yaklaşık bir saatte yapılır ve "
                   "ücreti 6.500 TL'dir. Evde plak ile yapılan beyazlatma iki hafta sürer."),
    "iptal": ("Randevumu nasıl iptal edebilirim veya değiştirebilirim?",
              "Randevunuzu en geç 24 saat önce bu hattan yazarak ücretsiz iptal edebilir ya da "
              "başka bir güne aldırabilirsiniz; daha geç iptallerde 500 TL ücret alınır."),
    "taksit": ("Kredi kartına taksit yapıyor musunuz?",
               "Tüm kredi kartlarına peşin fiyatına 3 taksit, anlaşmalı bankaların kartlarına 9 "
               "taksite kadar ödeme imkânı sunuyoruz."),
    "otopark": ("Otoparkınız var mı?",
                "Binamızın altındaki kapalı otopark hastalarımıza ücretsizdir; girişte "
                "kliniğimizin adını söylemeniz yeterlidir."),
    "sigorta": ("Özel sağlık sigortası ile tedavi olabilir miyim?",
                "Allianz, Axa ve Acıbadem Sigorta ile anlaşmamız var; poliçenizin diş "
                "teminatını randevudan önce bize iletirseniz provizyonu biz alırız."),
    "cocuk": ("Çocuklara diş tedavisi yapıyor musunuz?",
              "Pedodonti uzmanımız 3-14 yaş arası çocukların dolgu, flor ve süt dişi "
              "tedavilerini yapar; ilk muayenede çocuğunuz oyun odamızda kliniğe alışır."),
}

# Customers' questions, worded as they write them, and the FAQ that answers each.
QUESTIONS = [
    pytest.param("implant fiyati ne kadar", "implant", id="no-turkish-letters"),
    pytest.param("hafta sonu açık mısınız?", "saatler", id="weekend"),
    pytest.param("randevumu iptl etmem gerekiyor", "iptal", id="typo"),
    pytest.param("arabayla gelsem park edecek yer var mı", "otopark", id="parking"),
    pytest.param("taksitle ödeme yapabilir miyim", "taksit", id="instalments"),
    pytest.param("axa sigortam var, geçerli mi?", "sigorta", id="insurance"),
    pytest.param("dişlerimi beyazlatmak istiyorum kaç seans sürer", "beyazlatma",
                 id="whitening"),
    pytest.param("5 yaşındaki oğlumun dişi çürük, bakıyor musunuz", "cocuk", id="children"),
]


def person(company: Company, name: str) -> Actor:
    """A person of the cast as the API would make them."""
    who = company.people[name]
    return Actor(tenant_id=company.tenant_id, role=who.role, user_id=who.user_id)


async def save(company: Company, actor: Actor | None = None, article_id: uuid.UUID | None = None,
               **fields) -> KnowledgeArticle:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await knowledge.save_article(session, actor or company.system,
                                            ArticleIn(**fields), article_id)


async def faq(company: Company, title: str, body: str, **fields) -> KnowledgeArticle:
    return await save(company, kind="faq", title=title, body=body, **fields)


async def index_now(company: Company) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await knowledge.index_now(session, company.tenant_id)


async def reread(company: Company, article_id: uuid.UUID) -> KnowledgeArticle | None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.get(KnowledgeArticle, article_id)


async def chunks(company: Company, article_id: uuid.UUID) -> list[KnowledgeChunk]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list(await session.scalars(select(KnowledgeChunk).where(
            KnowledgeChunk.tenant_id == company.tenant_id,
            KnowledgeChunk.article_id == article_id).order_by(KnowledgeChunk.position)))


async def search(company: Company, question: str, **options) -> list[knowledge.Hit]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await knowledge.search(session, company.tenant_id, question, **options)


async def found_articles(company: Company, question: str, **options) -> list[uuid.UUID]:
    return [hit.article_id for hit in await search(company, question, limit=20, **options)]


async def audit_events(company: Company, action: str) -> list[AuditEvent]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list(await session.scalars(select(AuditEvent).where(
            AuditEvent.tenant_id == company.tenant_id, AuditEvent.action == action
        ).order_by(AuditEvent.occurred_at)))


async def index_jobs(company: Company) -> list[str]:
    """The statuses of the ``ai:index`` jobs deferred for the company."""
    async with company.rt.db.transaction() as session:
        return list(await session.scalars(text(
            "SELECT status::text FROM procrastinate_jobs WHERE task_name = 'ai:index' "
            "AND args->>'tenant_id' = :tenant"), {"tenant": str(company.tenant_id)}))


@pytest.fixture(scope="module")
async def clinic(app, rt):
    """A clinic whose FAQs are indexed: searched by several tests, changed by none."""
    company = await create_company(rt, app, cast=False)
    ids = {key: (await faq(company, title, body)).id for key, (title, body) in CLINIC.items()}
    assert await index_now(company) == len(CLINIC)
    yield company, ids
    await company.close()


# ---- saving articles -------------------------------------------------------------------------

async def test_an_articles_address_is_made_from_its_turkish_title(world):
    home = world.home
    first = await faq(home, "Şubat'ta İndirim var mı?", "Şubat boyunca beyazlatmada %20 indirim.")
    assert (first.kind, first.title, first.slug) == (
        "faq", "Şubat'ta İndirim var mı?", "subat-ta-indirim-var-mi")
    # The same title again gets the next free number, whoever's turn.
    second = await faq(home, "Şubat'ta  indirim VAR MI?", "Evet, implantta da var.")
    third = await faq(home, "ŞUBAT'TA İNDİRİM VAR MI", "Ayrıca taksit de var.")
    assert (second.slug, third.slug) == ("subat-ta-indirim-var-mi-2", "subat-ta-indirim-var-mi-3")
    assert second.title == "Şubat'ta indirim VAR MI?"  # runs of spaces made one
    # Saved again under its own title, an article keeps its address (its own is not "taken").
    again = await save(home, article_id=first.id, kind="faq", title=first.title,
                       body="Şubat boyunca %25.")
    assert (again.id, again.slug, again.body) == (first.id, first.slug, "Şubat boyunca %25.")
    # A title of no letters still gets an address.
    assert (await save(home, title="???", body="Soru işaretleri")).slug == "makale"
    assert knowledge.slugify("  Çocuk Diş Hekimliği (Pedodonti) — Ücretler  ") == \
        "cocuk-dis-hekimligi-pedodonti-ucretler"


async def test_an_address_another_article_has_is_a_conflict_on_slug(world):
    home = world.home
    taken = await save(home, title="Kampanyalar", body="Şubat kampanyası", slug="kampanya")
    other = await save(home, title="Fiyatlar", body="Muayene 750 TL")
    with pytest.raises(Conflict) as created:
        await save(home, title="Yeni kampanya", body="Mart", slug="kampanya")
    with pytest.raises(Conflict) as changed:
        await save(home, article_id=other.id, title="Fiyatlar", body="Muayene 750 TL",
                   slug="kampanya")
    assert created.value.field == changed.value.field == "slug"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        listed = await knowledge.list_articles(session, home.system)
    assert {(a.id, a.slug) for a in listed} == {(taken.id, "kampanya"), (other.id, "fiyatlar")}
    # Another company may use the same address.
    assert (await save(world.charlie, title="X", body="Y", slug="kampanya")).slug == "kampanya"


@pytest.mark.parametrize(("fields", "field"), [
    pytest.param({"title": "Otopark", "body": "  \n\t \r\n "}, "body", id="blank-body"),
    pytest.param({"title": " \t ", "body": "Ücretsiz otopark var."}, "title", id="blank-title"),
])
async def test_blank_text_is_refused_on_its_field(world, fields, field):
    home = world.home
    with pytest.raises(ValidationFailed) as refused:
        await save(home, **fields)
    assert refused.value.field == field
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await knowledge.list_articles(session, home.system) == []


async def test_a_channel_of_another_company_is_not_found_on_channel_id(world):
    home, charlie = world.home, world.charlie
    with pytest.raises(NotFound) as refused:
        await save(home, title="Marka", body="Sadece bu marka", channel_id=charlie.channel_id)
    assert refused.value.field == "channel_id"
    with pytest.raises(NotFound) as unknown:
        await save(home, title="Marka", body="Sadece bu marka", channel_id=uuid.uuid4())
    assert unknown.value.field == "channel_id"
    own = await save(home, title="Marka", body="Sadece bu marka", channel_id=home.channel_id)
    assert own.channel_id == home.channel_id


async def test_agents_read_the_knowledge_base_supervisors_change_it(world):
    home = world.home
    bora, sevgi = person(home, "bora"), person(home, "sevgi")
    with pytest.raises(PermissionDenied):
        await save(home, bora, title="Otopark", body="Ücretsiz")
    article = await save(home, sevgi, title="Otopark", body="Ücretsiz")
    assert article.updated_by == sevgi.user_id
    for attempt in (
            lambda s: knowledge.save_article(s, bora, ArticleIn(title="Otopark", body="Ücretli"),
                                             article.id),
            lambda s: knowledge.delete_article(s, bora, article.id),
            lambda s: knowledge.import_document(s, bora, "sss.csv", b"Soru;Cevap\nA?;B\n")):
        with pytest.raises(PermissionDenied):
            async with home.rt.db.tenant_session(home.tenant_id) as session:
                await attempt(session)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        # Agents look answers up: reading needs no role.
        assert [a.id for a in await knowledge.list_articles(session, bora)] == [article.id]
        assert (await knowledge.get_article(session, bora, article.id)).body == "Ücretsiz"
        assert await knowledge.list_documents(session, bora) == []
        document = await knowledge.import_document(session, sevgi, "sss.csv",
                                                   b"Soru;Cevap\nA?;B\n")
    with pytest.raises(PermissionDenied):
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await knowledge.delete_document(session, bora, document.id)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await knowledge.delete_document(session, sevgi, document.id)
        await knowledge.delete_article(session, sevgi, article.id)
        assert await knowledge.list_articles(session, sevgi) == []


async def test_changes_are_audited_with_who_made_them(world):
    home = world.home
    sevgi = person(home, "sevgi")
    article = await save(home, sevgi, kind="faq", title="Otopark var mı?", body="Var.")
    await save(home, sevgi, article.id, kind="faq", title="Otopark ücretli mi?", body="Hayır.")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        document = await knowledge.import_document(session, sevgi, "sss.csv",
                                                   b"Soru;Cevap\nA?;B\nC?;D\n")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await knowledge.delete_article(session, sevgi, article.id)
        await knowledge.delete_document(session, sevgi, document.id)
    saved = await audit_events(home, "kb.article_saved")
    assert [(e.actor_id, e.target_type, e.target_id, e.data) for e in saved] == [
        (sevgi.user_id, "kb_article", article.id, {"title": "Otopark var mı?", "kind": "faq"}),
        (sevgi.user_id, "kb_article", article.id,
         {"title": "Otopark ücretli mi?", "kind": "faq"})]
    (deleted,) = await audit_events(home, "kb.article_deleted")
    assert (deleted.actor_id, deleted.target_id, deleted.data) == (
        sevgi.user_id, article.id, {"title": "Otopark ücretli mi?"})
    (imported,) = await audit_events(home, "kb.document_imported")
    assert (imported.target_id, imported.data) == (document.id,
                                                   {"filename": "sss.csv", "articles": 2})
    (removed,) = await audit_events(home, "kb.document_deleted")
    assert (removed.actor_id, removed.target_id) == (sevgi.user_id, document.id)


async def test_listing_filters_by_folded_words_kind_and_channel(world):
    home = world.home
    implant = await faq(home, "İmplant fiyatı nedir?", "18.000 TL'den başlar.")
    hours = await save(home, title="Çalışma saatleri", body="Hafta içi 09:00–19:00.",
                       channel_id=home.channel_id)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        async def listed(**options) -> set[uuid.UUID]:
            return {a.id for a in await knowledge.list_articles(session, home.system, **options)}

        assert await listed() == {implant.id, hours.id}
        assert await listed(q="IMPLANT FIYATI") == {implant.id}
        assert await listed(q="calisma") == {hours.id}
        assert await listed(q="19:00") == {hours.id}
        assert await listed(q="%") == set()  # a LIKE wildcard is a plain character
        assert await listed(kind="faq") == {implant.id}
        assert await listed(channel_id=home.channel_id) == {hours.id}
    async with world.charlie.rt.db.tenant_session(world.charlie.tenant_id) as session:
        assert await knowledge.list_articles(session, world.charlie.system) == []
        with pytest.raises(NotFound):
            await knowledge.get_article(session, world.charlie.system, implant.id)


# ---- indexing --------------------------------------------------------------------------------

async def test_a_saved_article_is_pending_until_indexed_then_has_embedded_chunks(world):
    home = world.home
    article = await save(home, title="Diş beyazlatma", body="Ofis tipi beyazlatma tek seansta "
                         "yapılır ve yaklaşık bir saat sürer.", channel_id=home.channel_id)
    assert (article.index_state, article.indexed_at) == ("pending", None)
    assert await chunks(home, article.id) == []
    assert await index_jobs(home) == ["todo"]  # the save deferred the indexing job
    assert await index_now(home) == 1
    indexed = await reread(home, article.id)
    assert indexed.index_state == "ready" and indexed.indexed_at is not None
    assert indexed.updated_at == article.updated_at  # indexing is not an edit
    (chunk,) = await chunks(home, article.id)
    assert chunk.text.startswith("Diş beyazlatma\n") and "tek seansta" in chunk.text
    assert (chunk.position, chunk.channel_id, chunk.embedding_model) == (
        0, home.channel_id, MODEL_NAME)
    assert len(chunk.embedding) == len(chunk.title_embedding) == EMBEDDING_DIM
    assert list(chunk.embedding) != list(chunk.title_embedding)
    assert await index_now(home) == 0  # nothing left pending


async def test_the_index_job_indexes_the_companys_pending_articles(world):
    home, charlie = world.home, world.charlie
    long_body = "\n\n".join(
        f"Bölüm {n}. " + " ".join(f"implant{n} kelime{i} tedavi" for i in range(40))
        for n in range(6))
    long = await save(home, title="İmplant rehberi", body=long_body)
    short = await faq(home, "Otopark var mı?", "Binanın altında ücretsiz otopark var.")
    elsewhere = await faq(charlie, "Otopark var mı?", "Yok.")
    assert await tasks.index(tenant_id=str(home.tenant_id)) == 2
    assert [(await reread(home, a.id)).index_state for a in (long, short)] == ["ready", "ready"]
    several = await chunks(home, long.id)
    assert len(several) > 1
    assert [c.position for c in several] == list(range(len(several)))
    assert all(c.text.startswith("İmplant rehberi") for c in several)
    assert len(await chunks(home, short.id)) == 1
    # Only the company it was deferred for; and running it again is harmless.
    assert (await reread(charlie, elsewhere.id)).index_state == "pending"
    assert await tasks.index(tenant_id=str(home.tenant_id)) == 0
    assert [c.id for c in await chunks(home, long.id)] == [c.id for c in several]


async def test_an_edit_reindexes_and_replaces_the_old_chunks(world):
    home = world.home
    body = "\n\n".join(" ".join(f"eski{n}_{i}" for i in range(120)) for n in range(4))
    article = await save(home, title="Fiyat listesi", body=body)
    await index_now(home)
    old = await chunks(home, article.id)
    assert len(old) > 1
    edited = await save(home, article_id=article.id, title="Fiyat listesi",
                        body="Muayene ücreti 750 TL, panoramik röntgen dahildir.")
    assert edited.index_state == "pending"
    # Until the job runs the old text stays searchable, then it is gone.
    assert [c.id for c in await chunks(home, article.id)] == [c.id for c in old]
    assert await index_now(home) == 1
    (new,) = await chunks(home, article.id)
    assert new.id not in {c.id for c in old}
    assert "750 TL" in new.text and "eski" not in new.text
    assert (await found_articles(home, "muayene ücreti ne kadar"))[0] == article.id
    assert all("eski" not in hit.text for hit in await search(home, "eski0_1 eski2_3"))


async def test_chunks_of_an_older_text_are_not_stored(world):
    home = world.home
    article = await save(home, title="Otopark", body="Ücretsiz otopark var.")
    await index_now(home)
    (before,) = await chunks(home, article.id)
    await save(home, article_id=article.id, title="Otopark", body="Otopark ücreti 50 TL.")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        (pending,) = await knowledge.pending_articles(session, home.tenant_id)
    prepared = await knowledge.prepare(pending)  # the job embeds with no transaction open...
    assert prepared.texts and "50 TL" in prepared.texts[0]
    # ... while a supervisor edits the article once more.
    await save(home, article_id=article.id, title="Otopark", body="Otopark ücreti 75 TL.")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await knowledge.store(session, home.tenant_id, prepared) is False
    assert [(c.id, c.text) for c in await chunks(home, article.id)] == [(before.id, before.text)]
    assert (await reread(home, article.id)).index_state == "pending"
    # The next run indexes the newest text.
    assert await tasks.index(tenant_id=str(home.tenant_id)) == 1
    (after,) = await chunks(home, article.id)
    assert "75 TL" in after.text
    # An article deleted meanwhile: nothing is stored either.
    gone = await save(home, title="Geçici", body="Silinecek yazı.")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        (pending,) = await knowledge.pending_articles(session, home.tenant_id)
    prepared = await knowledge.prepare(pending)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await knowledge.delete_article(session, home.system, gone.id)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await knowledge.store(session, home.tenant_id, prepared) is False
    assert await chunks(home, gone.id) == []


async def test_unpublished_articles_are_not_searched_until_published_again(world):
    home = world.home
    fields = {"kind": "faq", "title": "Otoparkınız var mı?",
              "body": "Binamızın altındaki kapalı otopark ücretsizdir."}
    article = await save(home, **fields)
    await index_now(home)
    question = "arabamı nereye park edebilirim"
    assert await found_articles(home, question) == [article.id]
    hidden = await save(home, article_id=article.id, **fields, published=False)
    assert hidden.index_state == "pending"
    # Taken down at once, not when the job gets to it.
    assert await found_articles(home, question) == []
    assert await index_now(home) == 1
    assert await chunks(home, article.id) == []
    assert (await reread(home, article.id)).index_state == "ready"
    assert await found_articles(home, question) == []
    await save(home, article_id=article.id, **fields, published=True)
    await index_now(home)
    assert len(await chunks(home, article.id)) == 1
    assert await found_articles(home, question) == [article.id]


async def test_deleting_an_article_deletes_its_chunks(world):
    home = world.home
    kept = await faq(home, "Otopark var mı?", "Ücretsiz otopark var.")
    deleted = await faq(home, "Taksit var mı?", "Kredi kartına 9 taksit.")
    await index_now(home)
    assert len(await chunks(home, deleted.id)) == 1
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await knowledge.delete_article(session, home.system, deleted.id)
    assert await reread(home, deleted.id) is None
    assert await chunks(home, deleted.id) == []
    assert await found_articles(home, "taksitle ödeyebilir miyim") == [kept.id]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        with pytest.raises(NotFound):
            await knowledge.delete_article(session, home.system, deleted.id)


async def test_deleting_a_document_deletes_its_articles_and_their_chunks(world):
    home = world.home
    csv = "Soru;Cevap\nOtopark var mı?;Ücretsiz otopark var.\nTaksit var mı?;9 taksit.\n"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        document = await knowledge.import_document(session, home.system, "sss.csv",
                                                   csv.encode(), channel_id=home.channel_id)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        articles = await knowledge.list_articles(session, home.system)
    assert sorted((a.kind, a.title, a.body, a.document_id, a.channel_id, a.index_state)
                  for a in articles) == [
        ("faq", "Otopark var mı?", "Ücretsiz otopark var.", document.id, home.channel_id,
         "pending"),
        ("faq", "Taksit var mı?", "9 taksit.", document.id, home.channel_id, "pending")]
    assert {a.slug for a in articles} == {"otopark-var-mi", "taksit-var-mi"}
    assert (document.article_count, document.size_bytes) == (2, len(csv.encode()))
    assert await index_now(home) == 2
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await knowledge.delete_document(session, home.system, document.id)
    for article in articles:
        assert await reread(home, article.id) is None
        assert await chunks(home, article.id) == []
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await knowledge.list_documents(session, home.system) == []


async def test_an_unreadable_document_saves_nothing(world):
    home = world.home
    with pytest.raises(ValidationFailed) as refused:
        async with home.rt.db.tenant_session(home.tenant_id) as session:
            await knowledge.import_document(session, home.system, "sss.csv",
                                            b"Soru;Cevap\nOtopark var mi?;\n")
    assert refused.value.field == "file"
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await knowledge.list_documents(session, home.system) == []
        assert await knowledge.list_articles(session, home.system) == []


# ---- search ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
async def test_a_customers_question_finds_the_faq_that_answers_it(clinic, question, expected):
    company, ids = clinic
    hits = await search(company, question, limit=5)
    names = {article_id: key for key, article_id in ids.items()}
    assert names[hits[0].article_id] == expected, [
        (names[hit.article_id], round(hit.score, 3)) for hit in hits]
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    best = hits[0]
    assert (best.article_title, best.article_kind) == (CLINIC[expected][0], "faq")
    assert CLINIC[expected][1] in best.text


async def test_search_limits_and_describes_its_hits(clinic):
    company, ids = clinic
    hits = await search(company, "implant fiyatı", limit=3)
    assert len(hits) == 3
    assert len({hit.chunk_id for hit in hits}) == 3
    best = hits[0]
    assert (best.article_id, best.slug) == (ids["implant"], "implant-fiyatlariniz-nedir")
    assert 0 < best.similarity <= 1 and 0 < best.title_similarity <= 1
    assert 0 < best.lexical < 1  # "implant" and "fiyat" are in the passage
    assert best.score == pytest.approx(best.similarity + knowledge.TITLE_WEIGHT *
                                       best.title_similarity + knowledge.LEXICAL_WEIGHT *
                                       best.lexical)
    assert await search(company, "   ") == []


@pytest.mark.parametrize("question", ["🙂🙂", "merhaba 👋", "ve ile de ama", "?!"])
async def test_a_question_without_searchable_words_is_matched_by_meaning_only(clinic, question):
    company, _ = clinic
    hits = await search(company, question, limit=10)
    assert hits  # the nearest passages in meaning, whatever they are
    assert all(hit.lexical == 0 for hit in hits)


async def test_channel_articles_are_found_only_for_their_channel(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        other = await channels.create_channel(session, home.system, ChannelCreate(
            kind="webchat", name="İkinci marka"))
    everyone = await faq(home, "Otopark var mı?", "Binamızda ücretsiz otopark var.")
    web = await faq(home, "Otopark ücretli mi?", "Web sitemizden gelenlere otopark ücretsiz.",
                    channel_id=home.channel_id)
    brand = await faq(home, "Otopark nerede?", "İkinci markamızın otoparkı arka sokakta.",
                      channel_id=other.id)
    await index_now(home)
    question = "otopark"
    assert set(await found_articles(home, question)) == {everyone.id}
    assert set(await found_articles(home, question, channel_id=home.channel_id)) == {
        everyone.id, web.id}
    assert set(await found_articles(home, question, channel_id=other.id)) == {
        everyone.id, brand.id}
    # Moving an article to everyone takes effect with its indexing.
    await save(home, article_id=brand.id, kind="faq", title="Otopark nerede?",
               body="Otoparkımız arka sokakta.")
    await index_now(home)
    assert set(await found_articles(home, question)) == {everyone.id, brand.id}


async def test_a_company_never_finds_another_companys_passages(world, rt):
    home, charlie = world.home, world.charlie
    for company in (home, charlie):
        for title, body in list(CLINIC.values())[:4]:
            await faq(company, title, body)
        await index_now(company)
    own = {company.tenant_id: {c.id for c in await all_chunks(company)}
           for company in (home, charlie)}
    assert len(own[home.tenant_id]) == len(own[charlie.tenant_id]) == 4
    for company in (home, charlie):
        hits = await search(company, "implant fiyatı ne kadar", limit=20)
        assert len(hits) == 4
        assert {hit.chunk_id for hit in hits} == own[company.tenant_id]
    # Row-level security: Charlie's scope sees none of the home chunks, even unfiltered...
    async with rt.db.tenant_session(charlie.tenant_id) as session:
        visible = set(await session.scalars(select(KnowledgeChunk.id)))
        raw = await session.scalar(text("SELECT count(*) FROM kb_chunks WHERE tenant_id = :t"),
                                   {"t": home.tenant_id})
        # ... nor through a search asked with the home company's id.
        leaked = await knowledge.search(session, home.tenant_id, "implant fiyatı")
    assert visible == own[charlie.tenant_id]
    assert (raw, leaked) == (0, [])


async def all_chunks(company: Company) -> list[KnowledgeChunk]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list(await session.scalars(select(KnowledgeChunk).where(
            KnowledgeChunk.tenant_id == company.tenant_id)))


# ---- the builtin answer ----------------------------------------------------------------------

async def test_best_answer_replies_with_the_faqs_answer(clinic):
    company, ids = clinic
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        answer = await answering.best_answer(session, company.tenant_id,
                                             "implant fiyatlari ne kadar acaba")
    assert answer is not None
    assert answer.hit.article_id == ids["implant"]
    assert answer.text == CLINIC["implant"][1]  # the answer as written, not the chunk
    assert 0 < answer.confidence < 1


async def test_an_off_topic_question_is_not_answered_confidently(clinic):
    company, _ = clinic
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        answerable = await answering.best_answer(session, company.tenant_id,
                                                 "Çalışma saatleriniz nedir?")
        off_topic = await answering.best_answer(session, company.tenant_id,
                                                "Galatasaray maçı kaç kaç bitti")
    assert off_topic is not None  # some passage is always nearest...
    assert off_topic.confidence < answering.DEFAULT_THRESHOLD  # ... but it is handed off
    assert answerable.confidence > off_topic.confidence


async def test_an_article_answers_with_its_passage_and_an_empty_base_with_nothing(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await answering.best_answer(session, home.tenant_id, "otopark var mı") is None
    article = await save(home, title="Ulaşım ve otopark",
                         body="Binamızın altında hastalarımıza ücretsiz kapalı otopark vardır.")
    await index_now(home)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        answer = await answering.best_answer(session, home.tenant_id, "otopark var mı")
    assert answer.hit.article_id == article.id
    assert answer.text == "Binamızın altında hastalarımıza ücretsiz kapalı otopark vardır."
