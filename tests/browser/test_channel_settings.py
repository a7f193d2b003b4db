"""Adding a WhatsApp channel in a real browser: a refused field shown beside it (in Turkish) with
what was typed kept, then the webhook URL and verify token shown once with copy buttons, and the
connection test run by the server against the provider simulator over real HTTP."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from invekto.channels.simulator.whatsapp import (
    DISPLAY_PHONE_FORMATTED,
    PHONE_NUMBER_ID,
    VERIFIED_NAME,
    create_simulator,
)
from tests.processes import serving

TOKEN = "EAAG-tarayici-anahtari"


@pytest.fixture
async def simulator():
    """Meta's Cloud API as a real server on this test's loop (the server process calls it)."""
    sim = create_simulator("tarayici-uygulama-sirri", phone_number_id=PHONE_NUMBER_ID,
                           access_token=TOKEN)
    async with serving(sim) as base_url:
        sim.base_url = base_url
        yield sim


async def _fill_secrets(form) -> None:
    await form.locator("#new-whatsapp_cloud-access_token").fill(TOKEN)
    await form.locator("#new-whatsapp_cloud-app_secret").fill("tarayici-uygulama-sirri")


async def test_an_admin_adds_a_whatsapp_channel_and_connects_it(world, open_browser, simulator,
                                                                 live_server, artifacts):
    home = world.home
    page = (await open_browser(home, "ayla", path="/settings/channels")).page
    await page.locator("#channel-create-card summary").click()
    form = page.locator("#channel-create")
    await expect(form.locator("#new-channel-kind")).to_have_value("whatsapp_cloud")
    await expect(form.locator("#new-whatsapp_bsp-api_key")).to_be_hidden()

    # A phone number where the phone number ID belongs: refused beside the field.
    await form.locator("#new-channel-name").fill("WhatsApp · Resepsiyon")
    await form.locator("#new-whatsapp_cloud-external_id").fill("+90 850 123 45 67")
    await form.locator("#new-whatsapp_cloud-api_base_url").fill(simulator.base_url)
    await _fill_secrets(form)
    await form.locator("button[type=submit]").click()
    error = page.locator("#new-whatsapp_cloud-external_id-error")
    await expect(error).to_contain_text("için beklenen değer")
    await expect(page.locator("#new-whatsapp_cloud-external_id")).to_have_class(
        "form-control is-invalid")
    await expect(page.locator("#new-channel-name")).to_have_value("WhatsApp · Resepsiyon")
    await expect(page.locator("#new-whatsapp_cloud-api_base_url")).to_have_value(
        simulator.base_url)
    await expect(page.locator("#new-whatsapp_cloud-access_token")).to_have_value("")
    await expect(page.locator(".app-toast")).to_have_count(0)  # beside the field, not a toast
    await expect(page.locator("#new-whatsapp_bsp-api_key")).to_be_hidden()  # other kinds' fields
    await page.screenshot(path=artifacts / "channel-settings-refused.png", full_page=True)

    form = page.locator("#channel-create")
    await form.locator("#new-whatsapp_cloud-external_id").fill(PHONE_NUMBER_ID)
    await _fill_secrets(form)
    await form.locator("button[type=submit]").click()
    once = page.locator("#channel-webhook-once")
    await expect(once).to_be_visible()
    url = await page.locator("#webhook-url").input_value()
    assert url.startswith(f"{live_server}/webhooks/whatsapp_cloud/")
    token = await page.locator("#webhook-secret").input_value()
    assert len(token) >= 32
    await once.locator('[data-copy="webhook-secret"]').click()
    await expect(once.locator('[data-copy="webhook-secret"] .copy-done')).to_be_visible()
    # Selected for copying, whatever the clipboard allows.
    assert await page.evaluate("""() => {
        const input = document.getElementById("webhook-secret");
        return input.value.slice(input.selectionStart, input.selectionEnd); }""") == token
    await page.screenshot(path=artifacts / "channel-settings-added.png", full_page=True)

    # Meta's handshake with what the panel showed works against the live server.
    challenge = await page.evaluate(
        """async ([url, token]) => (await fetch(
             `${url}?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=77`)).text()""",
        [url, token])
    assert challenge == "77"

    row = page.locator("#channel-list .settings-row", has_text="WhatsApp · Resepsiyon")
    await row.locator('[data-action="test"]').click()
    result = row.locator(".channel-test")
    await expect(result).to_have_attribute("data-ok", "true")
    await expect(result).to_contain_text("Bağlantı çalışıyor.")
    await expect(result).to_contain_text(f"{VERIFIED_NAME} · {DISPLAY_PHONE_FORMATTED}")

    # Reloaded: the token is gone for good; the secrets only say they are set.
    await page.reload()
    await expect(page.locator("#channel-webhook-once")).to_have_count(0)
    assert token not in await page.content()
    assert TOKEN not in await page.content()
    await row.locator("button", has_text="Düzenle").click()
    await expect(row.locator('[data-secret="access_token"]')).to_contain_text("••••")
    await page.screenshot(path=artifacts / "channel-settings-edit.png", full_page=True)

    # A refused edit stays open, with the reason beside the field.
    channel_id = await row.get_attribute("data-id")
    await row.locator(f"#channel-{channel_id}-external_id").fill("numara")
    await row.locator("button[type=submit]").click()
    await expect(page.locator(f"#channel-{channel_id}-external_id-error")).to_be_visible()
    await expect(page.locator(f"#channel-{channel_id}-external_id")).to_have_value("numara")
    await expect(row.locator(".settings-row-view")).to_be_hidden()
