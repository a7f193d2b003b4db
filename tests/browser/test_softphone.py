"""The browser softphone: an agent of the group a Twilio voice channel rings gets Twilio's
Voice SDK loaded with a token (an agent of no such group does not download it), and a call the
SDK hands over rings in the page, is answered, muted and hung up with the panel's buttons.
The calls are the SDK's call objects as our code sees them: nothing here reaches Twilio."""

from __future__ import annotations

from playwright.async_api import expect

from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.twilio_voice import ACCOUNT_SID, AUTH_TOKEN, NUMBER

# A call as Twilio.Device's "incoming" event hands it over, recording what the page asks of it.
FAKE_CALL = """() => {
  const handlers = {};
  const call = {
    parameters: {From: "+905321234567"}, asked: [], muted: false,
    on(event, handler) { (handlers[event] = handlers[event] || []).push(handler); },
    emit(event) { (handlers[event] || []).forEach((handler) => handler()); },
    accept() { this.asked.push("accept"); this.emit("accept"); },
    reject() { this.asked.push("reject"); this.emit("reject"); },
    disconnect() { this.asked.push("disconnect"); this.emit("disconnect"); },
    isMuted() { return this.muted; },
    mute(value) { this.muted = value; this.asked.push(value ? "mute" : "unmute"); },
  };
  window.testCall = call;
  window.invektoSoftphone.ring(call);
}"""


async def _line(company) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await channels.create_channel(session, company.system, ChannelCreate(
            kind="voice_twilio", name="Telefon", external_id=NUMBER,
            settings={"group": "Resepsiyon", "api_key_sid": "SK" + "0123456789abcdef" * 2},
            credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                         "api_key_secret": "tarayici-anahtar-sirri-0123456789ab"}))


async def test_a_call_rings_in_the_agents_browser_and_is_answered_there(world, open_browser):
    home = world.home
    await _line(home)
    page = (await open_browser(home, "bora")).page
    panel = page.locator("#softphone")
    # The SDK is loaded with the token for Bora's identity.
    await expect(panel).to_have_attribute("data-identity", f"agent_{home.bora.user_id.hex}")
    await page.wait_for_function("typeof window.Twilio?.Device === 'function'")
    await expect(panel).to_be_hidden()

    await page.evaluate(FAKE_CALL)
    await expect(panel).to_be_visible()
    await expect(panel.locator("#softphone-title")).to_have_text("Gelen arama")
    await expect(panel.locator("#softphone-caller")).to_have_text("+905321234567")
    await panel.locator("#softphone-answer").click()
    await expect(panel.locator("#softphone-title")).to_have_text("Görüşmede")
    await expect(panel.locator("#softphone-answer")).to_be_hidden()
    await panel.locator("#softphone-mute").click()
    await expect(panel.locator("#softphone-mute")).to_have_text("Sesi aç")
    await panel.locator("#softphone-hangup").click()
    await expect(panel).to_be_hidden()
    assert await page.evaluate("window.testCall.asked") == ["accept", "mute", "disconnect"]

    # A second call that rings and is declined.
    await page.evaluate(FAKE_CALL)
    await expect(panel.locator("#softphone-hangup")).to_have_text("Reddet")
    await panel.locator("#softphone-hangup").click()
    await expect(panel).to_be_hidden()
    assert await page.evaluate("window.testCall.asked") == ["reject"]


async def test_an_agent_of_no_ringing_group_does_not_load_the_sdk(world, open_browser):
    home = world.home
    await _line(home)
    page = (await open_browser(home, "deniz")).page
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/me/softphone")) as asked:
        await page.reload()
    assert (await (await asked.value).json())["token"] is None
    await expect(page.locator("#softphone")).not_to_have_attribute("data-identity", "x")
    assert await page.evaluate("typeof window.Twilio") == "undefined"
