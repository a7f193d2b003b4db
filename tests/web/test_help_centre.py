"""The public help centre (``/help/{company}``): read without signing in and without cookies,
only when the company published it, only its published articles for everyone, escaped,
searchable (folded: no Turkish letters needed), one 404 for everything not shown (an unknown
company looks like one that did not publish), briefly cacheable; and the supervisors' switch
on the knowledge-base page, which agents may not use. Assertions are on ids, data attributes
and values, not on translated wording."""

from __future__ import annotations

import re
import uuid

import httpx

from invekto.ai import help_centre, knowledge
from invekto.ai.schemas import ArticleIn
from tests.factories import Company, unique_slug

HX = {"hx-request": "true"}
SETTINGS = "/settings/knowledge/help-centre"


async def add_article(company: Company, title: str, body: str, *, kind: str = "faq",
                      published: bool = True, channel_id: uuid.UUID | None = None,
                      index: bool = False) -> str:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        article = await knowledge.save_article(session, company.system, ArticleIn(
            kind=kind, title=title, body=body, published=published, channel_id=channel_id))
        if index:
            await knowledge.index_now(session, company.tenant_id)
    return article.slug


async def publish(company: Company, *, published: bool = True, title: str = "",
                  intro: str = "") -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await help_centre.set_settings(session, company.system, published=published,
                                       title=title, intro=intro)


async def settings_of(company: Company) -> help_centre.HelpCentreSettings:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await help_centre.get_settings(session, company.tenant_id)


async def page(client: httpx.AsyncClient, path: str, *, expect: int = 200) -> httpx.Response:
    response = await client.get(path)
    assert response.status_code == expect, (path, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "set-cookie" not in response.headers  # cached pages never set one
    return response


def slugs(html: str, css_class: str) -> list[str]:
    return re.findall(rf'class="[^"]*{css_class}[^"]*"[^>]*data-slug="([a-z0-9-]+)"', html)


async def test_a_company_that_did_not_publish_is_the_same_404_as_an_unknown_one(world, client):
    home = world.home
    faq = await add_article(home, "Otopark var mı?", "Evet, ücretsiz otoparkımız var.")
    assert (await settings_of(home)).published is False  # off until a supervisor turns it on

    unknown = unique_slug()
    for ours, theirs in ((f"/help/{home.slug}", f"/help/{unknown}"),
                         (f"/help/{home.slug}/{faq}", f"/help/{unknown}/{faq}"),
                         (f"/help/{home.slug}/search?q=otopark",
                          f"/help/{unknown}/search?q=otopark")):
        not_published = await page(client, ours, expect=404)
        not_a_company = await page(client, theirs, expect=404)
        assert not_published.text == not_a_company.text
        assert 'id="hc-not-found"' in not_published.text
        assert "Test Kliniği" not in not_published.text and home.slug not in not_published.text
        assert "Otopark" not in not_published.text
    # Nor does an address that cannot be a company's code break anything.
    not_a_company = await page(client, f"/help/{unknown}", expect=404)
    for path in ("/help/X", "/help/%00", "/help/" + "a" * 60, "/help/x%27%3B--"):
        assert (await page(client, path, expect=404)).text == not_a_company.text

    # Published, then withdrawn: gone again.
    await publish(home)
    assert faq in slugs((await page(client, f"/help/{home.slug}")).text, "hc-faq")
    await publish(home, published=False)
    assert (await page(client, f"/help/{home.slug}", expect=404)).text == not_a_company.text


async def test_the_front_page_lists_only_published_articles_for_everyone(world, client):
    home = world.home
    faq = await add_article(home, "İade süresi kaç gün?", "Ürünü 14 gün içinde iade edebilirsiniz.")
    article = await add_article(home, "Kargo ve teslimat", "Siparişler 2 iş günü içinde "
                                "kargoya verilir.", kind="article")
    hidden = await add_article(home, "Gizli kampanya", "Henüz duyurulmadı.", published=False)
    brand_only = await add_article(home, "Web kanalına özel indirim", "Sadece web sitesinden.",
                                   kind="article", channel_id=home.channel_id)
    await add_article(world.charlie, "Charlie'nin sorusu", "Charlie'nin cevabı.")
    await publish(world.charlie)
    await publish(home, title="Klinik <Yardım> Merkezi",
                  intro="Hastalarımızın en çok sorduğu sorular.\nHer gün güncellenir.")

    response = await page(client, f"/help/{home.slug}")
    html = response.text
    assert slugs(html, "hc-faq") == [faq]
    assert slugs(html, "hc-article-link") == [article]
    for absent in (hidden, brand_only, "charlie-nin-sorusu"):
        assert absent not in html
    assert "Gizli kampanya" not in html and "Web kanalına özel" not in html
    # The FAQ's answer is in the page, under its question (an accordion without script).
    faq_block = re.search(rf'<details class="hc-faq[^"]*" id="faq-{faq}".*?</details>', html,
                          re.S).group(0)
    assert "<summary" in faq_block and "İade süresi kaç gün?" in faq_block
    assert "Ürünü 14 gün içinde iade edebilirsiniz." in faq_block
    assert f'href="/help/{home.slug}/{faq}"' in faq_block
    assert f'href="/help/{home.slug}/{article}"' in html
    # Title (escaped), introduction with its line break, search box, head for search engines.
    assert "<title>Klinik &lt;Yardım&gt; Merkezi</title>" in html
    assert '<div class="text-secondary mb-4 hc-text hc-body" id="hc-intro"><p>Hastalarımızın en ' \
           "çok sorduğu sorular.<br>Her gün güncellenir.</p>" in html
    assert ('<meta name="description" content="Hastalarımızın en çok sorduğu sorular. Her gün '
            'güncellenir.">') in html
    assert f'<link rel="canonical" href="http://testserver/help/{home.slug}">' in html
    assert f'action="/help/{home.slug}/search"' in html and 'name="q"' in html
    assert "<script" not in html
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    # Turkish by default; the browser's or the chosen language otherwise.
    assert '<html lang="tr">' in html
    english = await client.get(f"/help/{home.slug}", headers={"accept-language": "en-GB"})
    assert '<html lang="en">' in english.text
    chosen = await client.get(f"/help/{home.slug}?lang=en")
    assert '<html lang="en">' in chosen.text and f'href="/help/{home.slug}/{faq}?lang=en"' in (
        chosen.text)

    # Without a title the company's name makes one; with nothing for everyone, an empty page.
    empty = world.charlie
    async with empty.rt.db.tenant_session(empty.tenant_id) as session:
        for found in await knowledge.list_articles(session, empty.system):
            await knowledge.delete_article(session, empty.system, found.id)
    charlie_page = (await page(client, f"/help/{empty.slug}")).text
    assert "<title>Test Kliniği" in charlie_page and 'id="hc-empty"' in charlie_page


async def test_an_article_page_renders_its_text_escaped(world, client):
    home = world.home
    await publish(home)
    slug = await add_article(
        home, "<script>alert(1)</script> Kargo ücreti",
        "# Kargo ücreti\nGiriş <b>kalın değil</b>\nikinci satır\n\n## Süre\n"
        "<img src=x onerror=alert(2)> 2 iş günü.", kind="article")
    html = (await page(client, f"/help/{home.slug}/{slug}")).text
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert "<b>" not in html
    assert ('<h1 class="hc-text mb-3" id="hc-article-title">&lt;script&gt;alert(1)&lt;/script&gt; '
            "Kargo ücreti</h1>") in html
    body = re.search(r'id="hc-article-body">(.*?)</div>', html, re.S).group(1)
    # Paragraphs keep their line breaks; "#" lines are headings under the title.
    assert " ".join(body.split()) == (
        "<h2>Kargo ücreti</h2> <p>Giriş &lt;b&gt;kalın değil&lt;/b&gt;<br>ikinci satır</p> "
        "<h3>Süre</h3> <p>&lt;img src=x onerror=alert(2)&gt; 2 iş günü.</p>")
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; Kargo ücreti · " in html
    assert '<meta name="description" content="Kargo ücreti Giriş &lt;b&gt;kalın' in html
    assert f'<link rel="canonical" href="http://testserver/help/{home.slug}/{slug}">' in html
    assert f'href="/help/{home.slug}"' in html  # back to the front page

    # A FAQ has its page too (the answer under the question).
    faq = await add_article(home, "Otopark var mı?", "Evet.")
    assert 'data-kind="faq"' in (await page(client, f"/help/{home.slug}/{faq}")).text


async def test_articles_not_for_everyone_and_other_companies_are_404(world, client):
    home, charlie = world.home, world.charlie
    await publish(home)
    await publish(charlie)
    hidden = await add_article(home, "Taslak makale", "Henüz değil.", published=False)
    brand_only = await add_article(home, "Web'e özel", "Yalnız web.", channel_id=home.channel_id)
    theirs = await add_article(charlie, "Charlie'ye özel soru", "Charlie'nin cevabı.")
    assert (await page(client, f"/help/{charlie.slug}/{theirs}")).status_code == 200

    missing = await page(client, f"/help/{home.slug}/yok-boyle-bir-sey", expect=404)
    for slug in (hidden, brand_only, theirs, "B%C3%BCy%C3%BCk", "a" * 201, "-x-"):
        response = await page(client, f"/help/{home.slug}/{slug}", expect=404)
        assert response.text == missing.text
        assert "Charlie" not in response.text and "Taslak" not in response.text
    # The company is known to be published here: the 404 leads back to its front page.
    assert f'href="/help/{home.slug}"' in missing.text


async def test_search_finds_an_article_by_a_question_without_turkish_letters(world, client):
    home = world.home
    await publish(home)
    iade = await add_article(home, "İade süresi kaç gün?",
                             "Ürünü teslim aldıktan sonra 14 gün içinde iade edebilirsiniz.")
    await add_article(home, "Çalışma saatleriniz nedir?",
                      "Hafta içi 09.00-19.00 arasında açığız.")
    await add_article(home, "İade için kargo ücreti kimde?", "İade kargosu ücretsizdir.",
                      published=False)
    brand = await add_article(home, "Web'den iade süresi kaç gün?", "Web siparişinde 30 gün.",
                              channel_id=home.channel_id, index=True)

    response = await page(client, f"/help/{home.slug}/search?q=iade+suresi+kac+gun")
    html = response.text
    found = slugs(html, "hc-result")
    assert found[0] == iade
    assert brand not in found and "iade-icin-kargo-ucreti-kimde" not in found
    assert len(found) == len(set(found))  # an article once, with its best passage
    result = re.search(rf'data-slug="{iade}">(.*?)</a>', html, re.S).group(1)
    assert f'href="/help/{home.slug}/{iade}"' in html
    assert "14 gün içinde iade edebilirsiniz." in result
    assert 'name="robots" content="noindex"' in html
    assert 'value="iade suresi kac gun"' in html

    # No question: the box alone. A question too long: refused before any search.
    assert 'id="hc-results"' not in (await page(client, f"/help/{home.slug}/search")).text
    too_long = await page(client, f"/help/{home.slug}/search?q={'a' * 201}", expect=422)
    assert 'id="hc-too-long"' in too_long.text and 'class="hc-result' not in too_long.text
    escaped = await page(client, f"/help/{home.slug}/search?q=%3Cscript%3Ex%3C/script%3E")
    assert "<script>x</script>" not in escaped.text


async def test_supervisors_publish_the_help_centre_and_agents_cannot(world, client):
    home = world.home
    sevgi = home.sevgi
    knowledge_page = (await sevgi.client.get("/settings/knowledge")).text
    card = re.search(r'<div class="card settings-card mb-3" id="help-centre".*?</form>',
                     knowledge_page, re.S).group(0)
    assert 'data-published="false"' in card and 'id="help-centre-url"' not in card

    response = await sevgi.client.post(SETTINGS, headers=HX, data={
        "published": "on", "title": "Yardım", "intro": "Sorularınız burada."})
    assert response.status_code == 200, response.text
    assert 'data-published="true"' in response.text and "data-saved" in response.text
    assert f'value="http://testserver/help/{home.slug}"' in response.text
    assert 'data-copy="help-centre-url"' in response.text
    assert await settings_of(home) == help_centre.HelpCentreSettings(True, "Yardım",
                                                                     "Sorularınız burada.")
    assert 'id="help-centre-url"' in (await sevgi.client.get("/settings/knowledge")).text
    assert "<title>Yardım</title>" in (await page(client, f"/help/{home.slug}")).text
    # Signed-in people read it the same way.
    assert (await page(sevgi.client, f"/help/{home.slug}")).status_code == 200

    # A refusal is drawn beside its field, what was typed kept, nothing saved.
    response = await sevgi.client.post(SETTINGS, headers=HX, data={
        "title": "x" * 121, "intro": "Yeni giriş"})
    assert response.status_code == 422
    assert 'data-error-for="title"' in response.text and "Yeni giriş</textarea>" in response.text
    assert (await settings_of(home)).published is True

    # Agents: refused, the setting unchanged, and the switch not drawn for them.
    for agent in (home.bora, home.deniz):
        response = await agent.client.post(SETTINGS, headers=HX, data={"title": "Ajan"})
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        assert (await agent.client.post(SETTINGS, data={
            "csrf_token": agent.csrf})).status_code == 403
        assert 'id="help-centre"' not in (await agent.client.get("/settings/knowledge")).text
    assert (await settings_of(home)).title == "Yardım"
    # Nor may anyone without a session.
    response = await client.post(SETTINGS, data={"published": "on"})
    assert (response.status_code, response.headers["location"]) == (303, "/login")

    # As a browser posts the form (the token in it): back to the page. Withdrawn: 404.
    header = sevgi.client.headers.pop("x-csrf-token")
    try:
        response = await sevgi.client.post(SETTINGS, data={"csrf_token": header, "title": ""})
    finally:
        sevgi.client.headers["x-csrf-token"] = header
    assert (response.status_code, response.headers["location"]) == (
        303, "/settings/knowledge#help-centre")
    assert await settings_of(home) == help_centre.HelpCentreSettings(False, "", "")
    await page(client, f"/help/{home.slug}", expect=404)
    # Charlie's company was never published by any of this.
    assert (await settings_of(world.charlie)).published is False
