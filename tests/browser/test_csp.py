"""The Content-Security-Policy (http/security_headers.py) breaks nothing on the main pages: Chromium
reports no violation on the login form, the inbox, a conversation, the settings, the reports, the
flow builder, the campaigns, the automation rules and the knowledge base, while each page draws
and its scripts run. The behaviours moved out of inline handlers into behaviours.js still work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from playwright.async_api import Page, expect

from invekto.contacts import service as contacts
from invekto.contacts.schemas import TagCreate
from tests.api.test_endpoint_matrix import new_flow, new_rule
from tests.browser.conftest import log_in
from tests.security.test_headers import directives

# Every violation, as the page's own event (Playwright's init script runs outside the policy).
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});"""


@dataclass
class Watched:
    page: Page
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def watched(browser, live_server):
    """``await watched()``: a page in a new browser context whose CSP violations are kept, and
    whose script errors fail the test."""
    opened: list[tuple[object, Watched]] = []

    async def open_context() -> Watched:
        context = await browser.new_context(viewport={"width": 1440, "height": 900},
                                            base_url=live_server, locale="tr-TR",
                                            timezone_id="Europe/Istanbul")
        await context.add_init_script(REPORT_VIOLATIONS)
        watch = Watched(await context.new_page())
        watch.page.on("console", lambda message: watch.violations.append(message.text)
                      if "Content Security Policy" in message.text
                      or "CSP violation" in message.text else None)
        watch.page.on("pageerror", lambda error: watch.errors.append(str(error)))
        opened.append((context, watch))
        return watch

    yield open_context
    for context, watch in opened:
        await context.close()
        assert watch.errors == [], watch.errors


async def visit(page, path: str, ready: str) -> None:
    response = await page.goto(path)
    policy = directives(response.headers["content-security-policy"])
    assert "'unsafe-inline'" not in policy["script-src"], path
    await expect(page.locator(ready).first).to_be_visible()
    await page.wait_for_load_state("networkidle")


async def test_the_main_pages_run_without_violations(world, watched):
    home = world.home
    message = await home.inbound("Randevu almak istiyorum")
    flow_id, rule_id = await new_flow(home), await new_rule(home)
    watch = await watched()
    page = watch.page
    await log_in(page, home.slug, "ayla")
    await expect(page.locator("body")).to_have_attribute("data-live", "true")
    visited = ["/login"]
    for path, ready in [
        ("/inbox?tab=all", ".conv-row"),
        (f"/inbox?tab=all&c={message.conversation_id}", "#thread"),
        ("/settings/users", "#settings-title"),
        ("/settings/channels", "#settings-title"),
        ("/settings/quick-replies", "#settings-title"),
        ("/settings/email", "#settings-title"),
        ("/settings/knowledge", "#settings-title"),
        ("/settings/knowledge/documents", "#settings-title"),
        ("/reports", "main"),
        ("/reports/agents", "main"),
        ("/monitor", "main"),
        (f"/flows/{flow_id}", "#flow-builder .drawflow-node"),
        ("/campaigns", "main"),
        ("/campaigns/new", "main"),
        ("/automation", "main"),
        (f"/automation/rules/{rule_id}", "main"),
    ]:
        await visit(page, path, ready)
        visited.append(path)
    assert watch.violations == [], watch.violations
    assert len(visited) == 17


async def test_behaviours_moved_out_of_inline_handlers_work(world, watched):
    """The new-message dialog's close button (was onclick=) and a refused settings field (was an
    inline script) behave as before, without a violation."""
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await contacts.create_tag(session, home.system, TagCreate(name="vip"))
    watch = await watched()
    page = watch.page
    await log_in(page, home.slug, "ayla")
    await page.locator("#new-conversation-button").click()
    await expect(page.locator("#new-conversation-dialog")).to_be_visible()
    await page.locator("#new-conversation-dialog .btn-close").click()
    await expect(page.locator("#new-conversation-dialog")).to_have_count(0)

    await page.goto("/settings/tags")
    await page.fill("#new-tag-name", "vip")  # taken: refused, the field marked
    await page.locator("#tag-create [type=submit]").click()
    await expect(page.locator("#new-tag-name.is-invalid")).to_have_count(1)
    await expect(page.locator("#toasts .app-toast")).to_have_count(1)
    assert watch.violations == [], watch.violations


async def test_a_violation_would_be_seen(world, watched):
    """The watch itself works: a script added inline is refused, and reported."""
    watch = await watched()
    await watch.page.goto("/login")
    await watch.page.evaluate("""() => { const s = document.createElement("script");
        s.textContent = "window.ran = true"; document.body.append(s); }""")
    await watch.page.wait_for_timeout(300)
    assert await watch.page.evaluate("window.ran === undefined")
    assert any("script-src" in text for text in watch.violations), watch.violations
