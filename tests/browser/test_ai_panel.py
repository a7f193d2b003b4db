"""The conversation's AI panel in a real browser: an agent asks for a summary of the thread and
reads it in the pane (the customer's own words, escaped), then has the conversation analysed
and sees the customer's purchase intent and the quality score, without a reload."""

from __future__ import annotations

from playwright.async_api import expect


async def test_an_agent_summarises_and_analyses_the_open_conversation(world, open_browser):
    home = world.home
    asked = await home.inbound("Merhaba, implant fiyatı ne kadar? <b>acil</b>", handle="ayse",
                               name="Ayşe Yılmaz")
    await home.inbound("Yarın gelip randevu almak istiyorum, nasıl ödeyebilirim?",
                       handle="ayse")
    bora = await open_browser(home, "bora",
                              path=f"/inbox?tab=unassigned&c={asked.conversation_id}")
    page = bora.page
    panel = page.locator("#ai-panel")
    await expect(panel).to_be_visible()
    await expect(panel.locator("#ai-analysis-none")).to_be_visible()  # not analysed yet

    await panel.locator("#ai-summarise-conversation").click()
    summary = panel.locator("#ai-summary-text")
    await expect(summary).to_be_visible()
    text = await summary.input_value()
    assert "implant fiyatı ne kadar" in text
    assert "randevu almak istiyorum" in text
    assert "<b>acil</b>" in text  # shown as the customer typed it: text, not markup
    assert await panel.locator("#ai-summary b").count() == 0

    await panel.locator("#analyse-button").click()
    intent = panel.locator("#ai-intent")
    await expect(intent).to_have_attribute("data-intent", "high")
    await expect(panel.locator("#ai-intent-reasons li").first).to_be_visible()
    await expect(panel.locator("#ai-analysis-part")).to_have_attribute("data-analysed", "true")
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
