"""Suggested replies in a real browser: the knowledge base's answer to the customer's question
shows above the composer once the conversation opens; a click puts it in the composer, the agent
edits and sends it; a new customer question brings new suggestions. Alt+1 inserts while writing,
and a dismissed strip stays hidden (a reload too) until the customer writes again."""

from __future__ import annotations

from playwright.async_api import expect
from sqlalchemy import select

from invekto.ai import knowledge
from invekto.ai.schemas import ArticleIn
from invekto.inbox.models import Message

FAQS = (
    ("İmplant fiyatı ne kadar?",
     "Tek implant, üst yapısıyla birlikte 28.000 TL'den başlar; muayenede net fiyat verilir."),
    ("Çalışma saatleriniz nedir?",
     "Hafta içi 09:00-19:00, cumartesi 10:00-16:00 açığız; pazar kapalıyız."),
    ("Kliniğiniz nerede?", "Nişantaşı, Valikonağı Caddesi No: 48, Kat 3, Şişli / İstanbul."),
)
IMPLANT, HOURS = FAQS[0][1], FAQS[1][1]


async def _clinic_knowledge(company) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for question, answer in FAQS:
            await knowledge.save_article(session, company.system, ArticleIn(
                kind="faq", title=question, body=answer))
        await knowledge.index_now(session, company.tenant_id)


async def _outbound_messages(company, conversation_id) -> list[Message]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return list(await session.scalars(select(Message).where(
            Message.conversation_id == conversation_id, Message.direction == "outbound")))


async def test_an_agent_picks_a_suggestion_edits_it_and_sends_it(world, open_browser):
    home = world.home
    await _clinic_knowledge(home)
    asked = await home.inbound("implant fiyatı ne kadar", handle="ayse", name="Ayşe Yılmaz")
    bora = await open_browser(home, "bora",
                              path=f"/inbox?tab=unassigned&c={asked.conversation_id}")
    page = bora.page

    strip = page.locator("#reply-suggestions")
    first = strip.locator("#suggestion-1")
    await expect(first).to_contain_text("28.000 TL'den başlar")
    await expect(first).to_have_attribute("data-source", "knowledge")
    await expect(first.locator(".suggestion-source")).to_contain_text(FAQS[0][0])
    await expect(strip.locator(".suggestion-card")).to_have_count(1)

    await first.click()
    composer = page.locator("#composer-input")
    await expect(composer).to_have_value(IMPLANT)
    await expect(composer).to_be_focused()
    assert await _outbound_messages(home, asked.conversation_id) == []  # nothing sent by itself
    await page.keyboard.type(" İyi günler.")  # the caret was left at the end
    await page.keyboard.press("Enter")

    edited = f"{IMPLANT} İyi günler."
    sent = page.locator(".msg-outbound[id^=message-]").last
    await expect(sent.locator(".msg-body")).to_have_text(edited)
    await expect(sent.locator(".sender")).to_have_text("Bora")
    await expect(composer).to_have_value("")
    [stored] = await _outbound_messages(home, asked.conversation_id)
    assert (stored.body, stored.sender_user_id) == (edited, home.bora.user_id)
    # The agent's own message does not change the suggestions.
    await expect(first).to_contain_text("28.000 TL'den başlar")

    # The customer asks something else: the strip follows, without a reload.
    await home.inbound("saat kaçta açıksınız", handle="ayse")
    await expect(first).to_contain_text("09:00-19:00")
    await expect(first.locator(".suggestion-source")).to_contain_text(FAQS[1][0])
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1


async def test_alt_1_inserts_below_the_draft_and_a_dismissed_strip_waits_for_the_customer(
        world, open_browser):
    home = world.home
    await _clinic_knowledge(home)
    asked = await home.inbound("implant fiyatı ne kadar", handle="mert", name="Mert Kaya")
    page = (await open_browser(home, "bora",
                               path=f"/inbox?tab=unassigned&c={asked.conversation_id}")).page
    strip = page.locator("#reply-suggestions")
    await expect(strip.locator("#suggestion-1")).to_contain_text("28.000 TL'den başlar")
    # The key is named in the card's tooltip.
    assert "Alt+1" in (await strip.locator("#suggestion-1").get_attribute("title"))

    composer = page.locator("#composer-input")
    await composer.fill("Merhaba Mert Bey,")
    await composer.press("Alt+1")
    await expect(composer).to_have_value(f"Merhaba Mert Bey,\n{IMPLANT}")
    await composer.press("Alt+2")  # there is no second suggestion: nothing changes
    await expect(composer).to_have_value(f"Merhaba Mert Bey,\n{IMPLANT}")
    assert await _outbound_messages(home, asked.conversation_id) == []

    await strip.locator("[data-action=dismiss-suggestions]").click()
    await expect(strip).to_be_hidden()
    await composer.fill("")
    await composer.press("Alt+1")  # a hidden strip inserts nothing
    await expect(composer).to_have_value("")

    # Still dismissed after a reload: the same question.
    async with page.expect_response(lambda r: r.url.endswith("/suggestions")) as answered:
        await page.reload()
    assert (await answered.value).ok
    await expect(page.locator("body")).to_have_attribute("data-live", "true")
    await expect(page.locator("#reply-suggestions .suggestion-card")).to_have_count(1)
    await expect(page.locator("#reply-suggestions")).to_be_hidden()

    # The customer writes again: the strip is back, for what they ask now.
    await home.inbound("cumartesi de açık mısınız", handle="mert")
    strip = page.locator("#reply-suggestions")
    await expect(strip).to_be_visible()
    await expect(strip.locator(".suggestion-card", has_text="09:00-19:00")).to_have_count(1)
