"""The knowledge-base pages (settings → Knowledge base): who may open them, the list (escaped,
searched, filtered), the article form (CSRF, refusals beside their field in the user's
language, edit, delete), uploads (a CSV becomes FAQs, a bad file is said beside the input,
deleting a document deletes its articles) and the try box (passages found, answer or hand-off).
Assertions are on ids, data attributes and values, not on translated wording."""

from __future__ import annotations

import html as html_lib
import re
import uuid

from sqlalchemy import select

from invekto.ai import knowledge
from invekto.ai.models import KnowledgeArticle, KnowledgeDocument
from invekto.ai.schemas import ArticleIn
from tests.factories import Company, Person

HX = {"hx-request": "true"}
BASE = "/settings/knowledge"
CLINIC_FAQS = (
    ("İmplant fiyatı ne kadar?",
     "İmplant tedavisi diş başına 25.000 TL'den başlar; muayenede kesin fiyat verilir."),
    ("Randevu nasıl alabilirim?",
     "Randevu için bize buradan yazabilir ya da 0212 555 00 00 numarasını arayabilirsiniz."),
    ("Çalışma saatleriniz nedir?",
     "Hafta içi 09.00-19.00, cumartesi 10.00-16.00 saatleri arasında açığız. Pazar kapalıyız."),
    ("Otopark var mı?",
     "Kliniğimizin altında hastalarımıza ücretsiz kapalı otopark bulunur."),
)


async def html(person: Person, path: str, *, expect: int = 200, htmx: bool = False) -> str:
    response = await person.client.get(path, headers=HX if htmx else {})
    assert response.status_code == expect, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def error_for(page: str, field: str) -> str:
    match = re.search(rf'data-error-for="{re.escape(field)}">([^<]+)<', page)
    assert match, f"no error shown for {field}"
    return html_lib.unescape(match.group(1))


def listed_ids(fragment: str) -> list[str]:
    return re.findall(r'class="kb-article-row[^"]*" id="article-([0-9a-f-]{36})"', fragment)


def article_form(**fields: str | None) -> dict[str, str]:
    values = {"kind": "article", "title": "Kargo ve teslimat",
              "body": "Siparişler 2 iş günü içinde kargoya verilir.", "channel_id": "",
              "published": "on", "slug": ""}
    values.update(fields)
    return {k: v for k, v in values.items() if v is not None}


async def add_article(company: Company, title: str, body: str = "Metin.", *,
                      kind: str = "faq", channel_id: uuid.UUID | None = None) -> uuid.UUID:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        article = await knowledge.save_article(session, company.system, ArticleIn(
            kind=kind, title=title, body=body, channel_id=channel_id))
    return article.id


async def articles_of(company: Company) -> list[KnowledgeArticle]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(KnowledgeArticle).where(
            KnowledgeArticle.tenant_id == company.tenant_id).order_by(
            KnowledgeArticle.title))).all())


async def documents_of(company: Company) -> list[KnowledgeDocument]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list((await session.scalars(select(KnowledgeDocument).where(
            KnowledgeDocument.tenant_id == company.tenant_id))).all())


async def index(company: Company) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await knowledge.index_now(session, company.tenant_id)


async def test_the_list_escapes_titles_filters_and_is_in_the_settings_menu(world):
    home = world.home
    hostile = await add_article(home, "<script>alert(1)</script> Kargo ücreti", kind="article")
    faq = await add_article(home, "İade süresi kaç gün?", "14 gün içinde iade edebilirsiniz.")

    page = await html(home.sevgi, BASE)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Kargo ücreti" in page
    assert set(listed_ids(page)) == {str(hostile), str(faq)}
    row = re.search(rf'id="article-{faq}"(.*?)</tr>', page, re.S).group(0)
    assert 'data-kind="faq"' in row and 'data-published="true"' in row
    assert 'class="badge bg-yellow-lt kb-index-state" data-state="pending"' in row
    for button in ('id="new-article"', 'href="/settings/knowledge/articles/new?kind=faq"',
                   'href="/settings/knowledge/documents"', 'id="kb-try-form"'):
        assert button in page
    assert re.search(r'href="/settings/knowledge" data-section="knowledge"\s+aria-current="page"',
                     page)
    for person, path in ((home.sevgi, "/settings/tags"), (home.ayla, "/automation")):
        assert 'href="/settings/knowledge" data-section="knowledge"' in await html(person, path)

    # The search box and the kind filter: folded (no Turkish letters needed), as a fragment.
    fragment = await html(home.sevgi, f"{BASE}/list?q=IADE", htmx=True)
    assert "<html" not in fragment and listed_ids(fragment) == [str(faq)]
    assert listed_ids(await html(home.sevgi, f"{BASE}/list?kind=article", htmx=True)) == [
        str(hostile)]
    assert listed_ids(await html(home.sevgi, f"{BASE}?q=kargo&kind=faq")) == []
    assert 'id="no-articles"' in await html(home.sevgi, f"{BASE}/list?q=yok-boyle-bir-sey",
                                            htmx=True)
    response = await home.sevgi.client.get(f"{BASE}/list?kind=blog", headers=HX)
    assert (response.status_code, response.json()["error"]["field"]) == (422, "kind")

    # Another company sees none of it.
    assert listed_ids(await html(world.charlie.ayla, BASE)) == []


async def test_agents_are_refused_every_knowledge_page(world):
    home = world.home
    article_id = await add_article(home, "Gizli cevap")
    for agent in (home.bora, home.deniz):
        for path in (BASE, f"{BASE}/articles/new", f"{BASE}/articles/{article_id}",
                     f"{BASE}/documents"):
            page = await html(agent, path, expect=403)
            assert 'id="settings-forbidden"' in page
            response = await agent.client.get(path, headers=HX)
            assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        assert (await agent.client.get(f"{BASE}/list", headers=HX)).status_code == 403
        for path, data in ((f"{BASE}/articles", article_form()),
                           (f"{BASE}/articles/{article_id}", article_form()),
                           (f"{BASE}/articles/{article_id}/delete", {}),
                           (f"{BASE}/try", {"question": "Gizli mi?"})):
            response = await agent.client.post(path, data=data, headers=HX)
            assert response.status_code == 403, path
        response = await agent.client.post(f"{BASE}/documents", headers=HX, files={
            "file": ("sss.csv", b"soru;cevap\nA?;B.\n", "text/csv")})
        assert response.status_code == 403
        # Nor does the menu offer the page.
        assert 'href="/settings/knowledge"' not in await html(agent, BASE, expect=403)
    assert [a.title for a in await articles_of(home)] == ["Gizli cevap"]
    assert await documents_of(home) == []


async def test_an_article_is_created_through_the_form_with_its_csrf_token(world):
    home = world.home
    client = home.sevgi.client
    # As a browser posts the form: the token in the form, not the header HTMX sends.
    header = client.headers.pop("x-csrf-token")
    try:
        response = await client.post(f"{BASE}/articles", data=article_form())
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "csrf_failed"
        response = await client.post(f"{BASE}/articles",
                                     data=article_form(csrf_token="not-the-token"))
        assert response.status_code == 403
        assert await articles_of(home) == []

        response = await client.post(f"{BASE}/articles", data=article_form(csrf_token=header))
        assert response.status_code == 303, response.text
    finally:
        client.headers["x-csrf-token"] = header
    (article,) = await articles_of(home)
    assert response.headers["location"] == f"{BASE}/articles/{article.id}?saved=1"
    assert (article.kind, article.title, article.slug, article.published, article.channel_id) == (
        "article", "Kargo ve teslimat", "kargo-ve-teslimat", True, None)
    assert article.index_state == "pending"

    page = await html(home.sevgi, response.headers["location"])
    assert 'id="article-saved"' in page and 'value="Kargo ve teslimat"' in page
    assert "Siparişler 2 iş günü içinde kargoya verilir.</textarea>" in page
    assert 'data-state="pending"' in page and 'id="article-delete"' in page

    # A FAQ for one channel, not published, its typed address made one.
    new_faq = await html(home.sevgi, f"{BASE}/articles/new?kind=faq")
    assert 'data-kind="faq"' in new_faq and '<option value="faq" selected>' in new_faq
    response = await home.sevgi.client.post(f"{BASE}/articles", data=article_form(
        kind="faq", title="Kargo ücreti ne kadar?", body="500 TL üzeri ücretsiz.",
        channel_id=str(home.channel_id), published=None, slug="Kargo Ücreti"))
    assert response.status_code == 303, response.text
    faq = next(a for a in await articles_of(home) if a.kind == "faq")
    assert (faq.slug, faq.published, faq.channel_id) == ("kargo-ucreti", False, home.channel_id)
    row = re.search(rf'id="article-{faq.id}"(.*?)</tr>', await html(home.sevgi, BASE),
                    re.S).group(0)
    assert 'data-published="false"' in row and ">Web<" in row


async def test_refusals_are_shown_beside_their_field_with_what_was_typed(world):
    home = world.home
    sevgi = home.sevgi
    await add_article(home, "Var olan", kind="article")  # its address: "var-olan"

    response = await sevgi.client.post(f"{BASE}/articles", data=article_form(
        kind="faq", title="  ", body="Yazılan cevap"))
    assert response.status_code == 422
    assert error_for(response.text, "title")
    assert "Yazılan cevap</textarea>" in response.text
    assert 'id="article-form-errors"' in response.text
    assert '<option value="faq" selected>' in response.text

    response = await sevgi.client.post(f"{BASE}/articles", data=article_form(body=" \n "))
    assert response.status_code == 422 and error_for(response.text, "body")

    response = await sevgi.client.post(f"{BASE}/articles", data=article_form(
        title="Başka başlık", slug="var-olan"))
    assert response.status_code == 409
    assert error_for(response.text, "slug")
    assert 'value="Başka başlık"' in response.text and 'value="var-olan"' in response.text

    # A channel of another company is not found, and said beside the channel.
    charlie_channel = str(world.charlie.channel_id)
    response = await sevgi.client.post(f"{BASE}/articles", data=article_form(
        channel_id=charlie_channel))
    assert response.status_code == 404 and error_for(response.text, "channel_id")

    # In the user's language: English for an English-speaking user.
    assert (await sevgi.client.post("/me/language", data={"language": "en"})).status_code == 303
    response = await sevgi.client.post(f"{BASE}/articles", data=article_form(kind="faq", title=""))
    assert '<html lang="en">' in response.text
    assert error_for(response.text, "title") == "write the question"
    assert [a.title for a in await articles_of(home)] == ["Var olan"]


async def test_an_article_is_edited_and_deleted(world):
    home = world.home
    sevgi = home.sevgi
    first = await add_article(home, "Otopark var mı?", "Evet.")
    second = await add_article(home, "Otobüs ile nasıl gelirim?", "34 numaralı hat.")

    page = await html(sevgi, f"{BASE}/articles/{first}")
    assert 'value="Otopark var mı?"' in page and 'data-kind="faq"' in page
    response = await sevgi.client.post(f"{BASE}/articles/{first}", data=article_form(
        kind="faq", title="Otopark var mı?", body="Evet, ücretsiz kapalı otoparkımız var.",
        slug="otopark"))
    assert response.status_code == 303
    assert response.headers["location"] == f"{BASE}/articles/{first}?saved=1"
    edited = next(a for a in await articles_of(home) if a.id == first)
    assert (edited.body, edited.slug) == ("Evet, ücretsiz kapalı otoparkımız var.", "otopark")

    # Another company's article is not found, to see or to change.
    charlie_article = await add_article(world.charlie, "Charlie'nin sorusu")
    assert (await sevgi.client.get(f"{BASE}/articles/{charlie_article}")).status_code == 404
    response = await sevgi.client.post(f"{BASE}/articles/{charlie_article}", data=article_form())
    assert response.status_code == 404
    response = await sevgi.client.post(f"{BASE}/articles/{charlie_article}/delete", headers=HX)
    assert response.status_code == 404

    # From the list: the list again, with its search kept.
    response = await sevgi.client.post(f"{BASE}/articles/{first}/delete", data={"q": "oto"},
                                       headers={**HX, "hx-target": "kb-articles"})
    assert response.status_code == 200 and "<html" not in response.text
    assert listed_ids(response.text) == [str(second)]
    # From the article's page: back to the list.
    response = await sevgi.client.post(f"{BASE}/articles/{second}/delete", headers=HX)
    assert (response.status_code, response.headers["hx-redirect"]) == (
        204, f"{BASE}?deleted=1")
    assert [a.title for a in await articles_of(home)] == []
    assert [a.title for a in await articles_of(world.charlie)] == ["Charlie'nin sorusu"]
    assert 'id="article-deleted"' in await html(sevgi, f"{BASE}?deleted=1")


async def test_an_uploaded_csv_becomes_faqs_and_its_deletion_takes_them(world):
    home = world.home
    sevgi = home.sevgi
    csv = ("Soru;Cevap\n"
           "Kargo ücreti ne kadar?;500 TL üzeri siparişlerde kargo ücretsizdir.\n"
           "İade süresi kaç gün?;Ürünü 14 gün içinde iade edebilirsiniz.\n"
           "Hangi kargo firması?;Yurtiçi Kargo ile gönderiyoruz.\n").encode()
    page = await html(sevgi, f"{BASE}/documents")
    assert 'id="no-documents"' in page
    assert 'accept=".pdf,.docx,.txt,.md,.csv"' in page

    response = await sevgi.client.post(f"{BASE}/documents", headers=HX, data={
        "channel_id": str(home.channel_id)}, files={"file": ("sss.csv", csv, "text/csv")})
    assert response.status_code == 200, response.text
    assert "<html" not in response.text
    assert 'id="kb-imported" data-articles="3"' in response.text
    (document,) = await documents_of(home)
    assert (document.filename, document.article_count, document.size_bytes) == (
        "sss.csv", 3, len(csv))
    articles = await articles_of(home)
    assert sorted(a.title for a in articles) == [
        "Hangi kargo firması?", "Kargo ücreti ne kadar?", "İade süresi kaç gün?"]
    assert {(a.kind, a.document_id, a.channel_id) for a in articles} == {
        ("faq", document.id, home.channel_id)}

    row = re.search(rf'id="document-{document.id}"(.*?)</tr>', response.text, re.S).group(0)
    assert 'data-articles="3"' in row and "sss.csv" in row
    confirm = html_lib.unescape(re.search(r'hx-confirm="([^"]+)"', row).group(1))
    assert "sss.csv" in confirm and "3" in confirm  # the confirmation says what goes with it
    listing = await html(sevgi, BASE)
    assert len(listed_ids(listing)) == 3
    page = await html(sevgi, f"{BASE}/articles/{articles[0].id}")
    assert 'id="article-document"' in page and "sss.csv" in page

    # Without HTMX (a plain form post), the whole page comes back.
    response = await sevgi.client.post(f"{BASE}/documents", files={
        "file": ("notlar.md", "# Notlar\n\nKlinik pazar günü kapalıdır.".encode(),
                 "text/markdown")})
    assert response.status_code == 200 and 'id="knowledge-documents"' in response.text
    assert 'id="kb-imported" data-articles="1"' in response.text

    response = await sevgi.client.post(f"{BASE}/documents/{document.id}/delete", headers=HX)
    assert response.status_code == 200
    assert f'id="document-{document.id}"' not in response.text
    assert [a.title for a in await articles_of(home)] == ["Notlar"]
    assert [d.filename for d in await documents_of(home)] == ["notlar.md"]


async def test_a_file_that_cannot_be_read_is_said_beside_the_file_input(world):
    home = world.home
    sevgi = home.sevgi
    for name, data in (("program.exe", b"MZ\x90\x00\x03binary"),
                       ("fiyatlar.pdf", b"not a pdf at all"),
                       ("sss.csv", b"soru;cevap\nSadece soru;\n")):
        response = await sevgi.client.post(f"{BASE}/documents", headers=HX,
                                           files={"file": (name, data, "application/octet-stream")})
        assert response.status_code == 422, name
        assert response.headers["content-type"].startswith("text/html")
        assert error_for(response.text, "file"), name
        assert 'id="kb-imported"' not in response.text
    response = await sevgi.client.post(f"{BASE}/documents", headers=HX, data={"channel_id": ""})
    assert response.status_code == 422 and error_for(response.text, "file")

    # In the user's language, the varying part filled in.
    assert (await sevgi.client.post("/me/language", data={"language": "en"})).status_code == 303
    response = await sevgi.client.post(f"{BASE}/documents", headers=HX, files={
        "file": ("sss.csv", b"soru;cevap\nBir;Cevap\nSadece soru;\n", "text/csv")})
    assert error_for(response.text, "file") == "row 3 has a question but no answer"
    assert await documents_of(home) == [] and await articles_of(home) == []


async def test_the_try_box_shows_the_passages_and_what_auto_answer_would_do(world):
    home = world.home
    ids = {title: await add_article(home, title, body) for title, body in CLINIC_FAQS}
    await index(home)

    response = await home.sevgi.client.post(f"{BASE}/try", headers=HX, data={
        "question": "implant fiyati ne kadar", "channel_id": ""})
    assert response.status_code == 200, response.text
    assert "<html" not in response.text
    passages = re.findall(r'class="list-group-item kb-passage" data-article-id="([0-9a-f-]{36})" '
                          r'data-score="([0-9.]+)"', response.text)
    assert passages and passages[0][0] == str(ids["İmplant fiyatı ne kadar?"])
    scores = [float(score) for _, score in passages]
    assert scores == sorted(scores, reverse=True)
    assert "İmplant fiyatı ne kadar?" in response.text
    verdict = re.search(r'id="kb-try-verdict" data-verdict="(\w+)" data-confidence="([0-9.e-]+)"',
                        response.text)
    assert verdict and 0 < float(verdict.group(2)) < 1
    assert 'id="kb-try-indexing"' not in response.text

    # Nothing near it: handed off to a person.
    response = await home.sevgi.client.post(f"{BASE}/try", headers=HX, data={
        "question": "Galatasaray maçı kaç kaç bitti"})
    assert 'id="kb-try-verdict" data-verdict="handoff"' in response.text

    # Another company's knowledge base is not searched.
    response = await world.charlie.ayla.client.post(f"{BASE}/try", headers=HX, data={
        "question": "implant fiyatı"})
    assert 'data-hits="0"' in response.text and 'data-verdict="handoff"' in response.text

    # An article saved since is not searched until it is indexed: said.
    await add_article(home, "Kapora alıyor musunuz?", "Hayır.")
    response = await home.sevgi.client.post(f"{BASE}/try", headers=HX, data={
        "question": "otopark"})
    assert 'id="kb-try-indexing"' in response.text
    assert re.search(rf'data-article-id="{ids["Otopark var mı?"]}"', response.text)

    response = await home.sevgi.client.post(f"{BASE}/try", headers=HX, data={"question": " "})
    assert (response.status_code, response.json()["error"]["field"]) == (422, "question")
