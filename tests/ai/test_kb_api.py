"""The knowledge base over the REST API (``/api/v1/kb/...``): articles and FAQ pairs written by a
supervisor, documents uploaded and deleted with their articles, and the search agents look
answers up with. Indexing runs as the ``ai:index`` job would (it is called, as jobs are in tests);
the error shapes are the API's one JSON error."""

from __future__ import annotations

import uuid

import pytest

from invekto.ai import documents, tasks
from tests.api.test_errors import assert_error

KB = "/api/v1/kb"
CSV = ("Soru;Cevap\n"
       "Çalışma saatleriniz nedir?;Hafta içi 09:00–19:00, cumartesi 10:00–16:00 açığız.\n"
       "İmplant fiyatlarınız nedir?;Tek diş implant 18.000 TL'den başlar.\n"
       "Otoparkınız var mı?;Binamızın altındaki otopark hastalarımıza ücretsizdir.\n"
       "Kredi kartına taksit var mı?;Tüm kartlara 3, anlaşmalı kartlara 9 taksit yapıyoruz.\n")


async def create(person, expect: int = 201, **body) -> dict:
    body.setdefault("body", "Metin")
    response = await person.client.post(f"{KB}/articles", json=body)
    assert response.status_code == expect, response.text
    return response.json()


async def listed(person, **params) -> list[dict]:
    response = await person.client.get(f"{KB}/articles", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def upload(person, filename: str, data: bytes, content_type: str = "text/csv",
                 **form) -> object:
    return await person.client.post(f"{KB}/documents", data=form,
                                    files={"file": (filename, data, content_type)})


async def index(company) -> int:
    return await tasks.index(tenant_id=str(company.tenant_id))


# ---- articles ---------------------------------------------------------------------------------

async def test_a_supervisor_writes_a_faq_and_an_article(world):
    home = world.home
    sevgi = home.sevgi
    made = await create(sevgi, kind="faq", title="Şubat'ta İndirim var mı?",
                        body="Şubat boyunca beyazlatmada %20 indirim var.")
    assert made["kind"] == "faq" and made["slug"] == "subat-ta-indirim-var-mi"
    assert (made["published"], made["channel_id"], made["document_id"]) == (True, None, None)
    assert (made["index_state"], made["indexed_at"]) == ("pending", None)
    again = await create(sevgi, kind="faq", title="Şubat'ta indirim var mı", body="Evet.")
    assert again["slug"] == "subat-ta-indirim-var-mi-2"
    article = await create(sevgi, title="Ulaşım", body="Metroya 5 dakika.\r\n\r\nOtopark var.",
                           slug="ulasim-bilgisi", channel_id=str(home.channel_id))
    assert (article["kind"], article["slug"], article["channel_id"], article["body"]) == (
        "article", "ulasim-bilgisi", str(home.channel_id), "Metroya 5 dakika.\n\nOtopark var.")
    # Anyone signed in reads them; an agent too.
    assert (await home.bora.client.get(f"{KB}/articles/{made['id']}")).json() == made
    assert {a["id"] for a in await listed(home.bora)} == {made["id"], again["id"], article["id"]}
    assert [a["id"] for a in await listed(home.bora, kind="article")] == [article["id"]]
    assert {a["id"] for a in await listed(home.bora, q="SUBAT")} == {made["id"], again["id"]}
    assert [a["id"] for a in await listed(home.bora, q="metroya")] == [article["id"]]


async def test_a_change_is_saved_and_reindexed(world):
    home = world.home
    made = await create(home.sevgi, kind="faq", title="Otopark var mı?", body="Var, ücretsiz.")
    assert await index(home) == 1
    ready = (await home.bora.client.get(f"{KB}/articles/{made['id']}")).json()
    assert ready["index_state"] == "ready" and ready["indexed_at"] is not None
    response = await home.sevgi.client.put(f"{KB}/articles/{made['id']}", json={
        "kind": "faq", "title": "Otopark ücretli mi?", "body": "Saati 50 TL.",
        "published": False})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["id"], changed["title"], changed["body"], changed["published"]) == (
        made["id"], "Otopark ücretli mi?", "Saati 50 TL.", False)
    assert changed["index_state"] == "pending"
    assert changed["slug"] == made["slug"]  # retitled, its help-centre address stays
    assert changed["created_at"] == made["created_at"]
    assert changed["updated_at"] > made["updated_at"]


async def test_what_cannot_be_saved_is_refused_on_its_field(world):
    home = world.home
    sevgi = home.sevgi
    taken = await create(sevgi, title="Kampanyalar", slug="kampanya")
    cases = [
        ({"title": "Yeni", "slug": "kampanya"}, 409, "conflict", "slug"),
        ({"title": "Yeni", "body": ""}, 422, "validation_failed", "body"),
        ({"title": "Yeni", "body": " \n\t "}, 422, "validation_failed", "body"),
        ({"body": "Başlıksız"}, 422, "validation_failed", "title"),
        ({"title": "   ", "body": "Metin"}, 422, "validation_failed", "title"),
        ({"title": "Yeni", "slug": "Büyük Harf"}, 422, "validation_failed", "slug"),
        ({"title": "Yeni", "kind": "blog"}, 422, "validation_failed", "kind"),
        ({"title": "Yeni", "channel_id": str(world.charlie.channel_id)}, 404, "not_found",
         "channel_id"),
        ({"title": "Yeni", "channel_id": str(uuid.uuid4())}, 404, "not_found", "channel_id"),
    ]
    for body, status, code, field in cases:
        response = await sevgi.client.post(f"{KB}/articles", json={"body": "Metin", **body})
        assert_error(response, status, code, field=field)
    # Changing an article to another's address is the same conflict, and changes nothing.
    other = await create(sevgi, title="Fiyatlar")
    response = await sevgi.client.put(f"{KB}/articles/{other['id']}", json={
        "title": "Fiyatlar", "body": "Yeni metin", "slug": "kampanya"})
    assert_error(response, 409, "conflict", field="slug")
    assert {(a["id"], a["slug"], a["body"]) for a in await listed(sevgi)} == {
        (taken["id"], "kampanya", "Metin"), (other["id"], "fiyatlar", "Metin")}


async def test_agents_cannot_change_the_knowledge_base(world):
    home = world.home
    bora = home.bora.client
    made = await create(home.sevgi, title="Otopark", body="Ücretsiz.")
    assert_error(await bora.post(f"{KB}/articles", json={"title": "X", "body": "Y"}), 403,
                 "forbidden")
    assert_error(await bora.put(f"{KB}/articles/{made['id']}", json={
        "title": "Otopark", "body": "Ücretli."}), 403, "forbidden")
    assert_error(await bora.delete(f"{KB}/articles/{made['id']}"), 403, "forbidden")
    assert_error(await upload(home.bora, "sss.csv", CSV.encode()), 403, "forbidden")
    assert [(a["id"], a["body"]) for a in await listed(home.bora)] == [(made["id"], "Ücretsiz.")]
    assert (await bora.get(f"{KB}/documents")).json() == []


async def test_deleting_an_article(world):
    home = world.home
    made = await create(home.sevgi, title="Geçici", body="Silinecek.")
    response = await home.sevgi.client.delete(f"{KB}/articles/{made['id']}")
    assert response.status_code == 204, response.text
    assert_error(await home.sevgi.client.get(f"{KB}/articles/{made['id']}"), 404, "not_found")
    assert_error(await home.sevgi.client.delete(f"{KB}/articles/{made['id']}"), 404,
                 "not_found")
    assert await listed(home.sevgi) == []


async def test_another_companys_articles_are_not_found(world):
    home, charlie = world.home, world.charlie
    made = await create(home.sevgi, title="Gizli", body="Sadece bizim.")
    admin = charlie.ayla.client
    assert_error(await admin.get(f"{KB}/articles/{made['id']}"), 404, "not_found")
    assert_error(await admin.put(f"{KB}/articles/{made['id']}", json={
        "title": "Ele geçirildi", "body": "X"}), 404, "not_found")
    assert_error(await admin.delete(f"{KB}/articles/{made['id']}"), 404, "not_found")
    assert await listed(charlie.ayla) == []
    assert (await home.sevgi.client.get(f"{KB}/articles/{made['id']}")).json()["title"] == \
        "Gizli"


# ---- documents --------------------------------------------------------------------------------

async def test_an_uploaded_csv_becomes_faqs_and_goes_with_its_document(world):
    home = world.home
    response = await upload(home.sevgi, "sık sorulanlar.csv", CSV.encode(),
                            channel_id=str(home.channel_id))
    assert response.status_code == 201, response.text
    document = response.json()
    assert (document["filename"], document["size_bytes"], document["article_count"]) == (
        "sık sorulanlar.csv", len(CSV.encode()), 4)
    faqs = await listed(home.bora, kind="faq")
    assert sorted((a["title"], a["document_id"], a["channel_id"]) for a in faqs) == sorted(
        (line.split(";")[0], document["id"], str(home.channel_id))
        for line in CSV.splitlines()[1:])
    implant = next(a for a in faqs if a["title"].startswith("İmplant"))
    assert (implant["body"], implant["slug"]) == ("Tek diş implant 18.000 TL'den başlar.",
                                                  "implant-fiyatlariniz-nedir")
    documents_listed = (await home.bora.client.get(f"{KB}/documents")).json()
    assert [(d["id"], d["article_count"]) for d in documents_listed] == [(document["id"], 4)]
    assert await index(home) == 4
    found = await home.bora.client.get(f"{KB}/search", params={
        "q": "implant ne kadar", "channel_id": str(home.channel_id)})
    assert found.json()[0]["article_id"] == implant["id"]

    deleted = await home.sevgi.client.delete(f"{KB}/documents/{document['id']}")
    assert deleted.status_code == 204, deleted.text
    assert await listed(home.sevgi) == []
    for article in faqs:
        assert_error(await home.sevgi.client.get(f"{KB}/articles/{article['id']}"), 404,
                     "not_found")
    assert (await home.sevgi.client.get(f"{KB}/documents")).json() == []
    found = await home.bora.client.get(f"{KB}/search", params={
        "q": "implant ne kadar", "channel_id": str(home.channel_id)})
    assert found.json() == []
    assert_error(await home.sevgi.client.delete(f"{KB}/documents/{document['id']}"), 404,
                 "not_found")


async def test_a_text_file_becomes_one_article(world):
    home = world.home
    text = "# Tedavi sonrası bakım\n\nİmplanttan sonra iki saat bir şey yemeyin.\n"
    response = await upload(home.sevgi, "bakim.md", text.encode(), "text/markdown")
    assert response.status_code == 201, response.text
    (article,) = await listed(home.sevgi)
    assert (article["kind"], article["title"], article["document_id"]) == (
        "article", "Tedavi sonrası bakım", response.json()["id"])
    assert "iki saat" in article["body"]


@pytest.mark.parametrize(("filename", "data"), [
    pytest.param("resim.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, id="image"),
    pytest.param("bozuk.pdf", b"%PDF-1.4\n bozuk bozuk", id="broken-pdf"),
    pytest.param("bos.txt", b"", id="empty"),
    pytest.param("sss.csv", "Soru;Cevap\nOtopark var mı?;\n".encode(), id="faq-without-answer"),
    pytest.param("buyuk.txt", b"a" * (documents.MAX_DOCUMENT_BYTES + 1), id="too-large"),
])
async def test_a_file_that_cannot_be_read_is_refused_on_file(world, filename, data):
    home = world.home
    error = assert_error(await upload(home.sevgi, filename, data, "application/octet-stream"),
                         422, "validation_failed", field="file")
    assert error["message"]
    assert (await home.sevgi.client.get(f"{KB}/documents")).json() == []
    assert await listed(home.sevgi) == []


async def test_an_upload_needs_a_file_and_a_channel_of_the_company(world):
    home = world.home
    response = await home.sevgi.client.post(f"{KB}/documents", data={"x": "y"},
                                            files={"other": ("a.txt", b"metin", "text/plain")})
    assert_error(response, 422, "validation_failed", field="file")
    response = await upload(home.sevgi, "sss.csv", CSV.encode(),
                            channel_id=str(world.charlie.channel_id))
    assert_error(response, 404, "not_found", field="channel_id")
    assert (await home.sevgi.client.get(f"{KB}/documents")).json() == []


# ---- search -----------------------------------------------------------------------------------

async def test_search_returns_the_passages_best_first(world):
    home = world.home
    assert (await upload(home.sevgi, "sss.csv", CSV.encode())).status_code == 201
    await create(home.sevgi, title="Kampanya", body="Şubatta beyazlatmada %20 indirim.",
                 published=False)
    await index(home)
    implant = next(a for a in await listed(home.sevgi) if a["title"].startswith("İmplant"))
    response = await home.bora.client.get(f"{KB}/search",
                                          params={"q": "implant fiyati ne kadar", "limit": 3})
    assert response.status_code == 200, response.text
    hits = response.json()
    assert len(hits) == 3
    assert (hits[0]["article_id"], hits[0]["article_title"], hits[0]["slug"],
            hits[0]["article_kind"]) == (implant["id"], "İmplant fiyatlarınız nedir?",
                                         "implant-fiyatlariniz-nedir", "faq")
    assert "18.000 TL" in hits[0]["text"]
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    # The unpublished article is never a passage.
    everything = (await home.bora.client.get(f"{KB}/search", params={
        "q": "beyazlatma indirimi", "limit": 20})).json()
    assert "Kampanya" not in {hit["article_title"] for hit in everything}
    assert len(everything) == 4


async def test_search_needs_a_question(world):
    client = world.home.bora.client
    assert_error(await client.get(f"{KB}/search"), 422, "validation_failed", field="q")
    assert_error(await client.get(f"{KB}/search", params={"q": ""}), 422, "validation_failed",
                 field="q")
    assert_error(await client.get(f"{KB}/search", params={"q": "otopark", "limit": 21}), 422,
                 "validation_failed", field="limit")
    # Nothing to search yet, or nothing but spaces to search for: an empty list, not an error.
    for q in ("otopark var mı", "   ", "🙂"):
        response = await client.get(f"{KB}/search", params={"q": q})
        assert (response.status_code, response.json()) == (200, [])


async def test_search_shows_a_company_only_its_own_passages(world):
    home, charlie = world.home, world.charlie
    for company in (home, charlie):
        response = await upload(company.ayla, "sss.csv", CSV.encode())
        assert response.status_code == 201, response.text
        await index(company)
    for company in (home, charlie):
        own = {a["id"] for a in await listed(company.ayla)}
        hits = (await company.ayla.client.get(f"{KB}/search", params={
            "q": "otopark", "limit": 20})).json()
        assert len(hits) == 4 and {hit["article_id"] for hit in hits} == own
