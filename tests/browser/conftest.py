"""Browser tests: Debian's Chromium, headless, driven by Playwright, against a real `invekto
serve` and `invekto worker` on the test database. Nothing here reaches the internet.

Chromium comes from the system (`apt-get install chromium`, which `.ci/run` does): Playwright's
own browser download is not used.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from invekto.db.provision import to_libpq_url
from tests.factories import PASSWORD, Company
from tests.processes import invekto_processes

CHROMIUM = os.environ.get("INVEKTO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# As the machine's own checks found: without the background-networking flags Chromium keeps
# trying to reach Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]

expect.set_options(timeout=10_000)


# Package scope: the worker must stop with the browser tests, or it would take the jobs other
# tests defer and run themselves.
@pytest.fixture(scope="package")
def live_server(database_url) -> str:
    # The jobs the tests before this package deferred and never ran (their companies' AI
    # learning after each close, hundreds of them) are theirs: this package's worker starts
    # without them rather than spend its first minutes, and the machine's CPU, on them.
    with psycopg.connect(to_libpq_url(database_url), autocommit=True) as connection:
        connection.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo'")
        # Their outgoing webhook deliveries too: with their jobs gone, the worker's sweep would
        # take them for lost and try each against an address long closed.
        with connection.transaction():
            connection.execute("SELECT set_config('app.scope', 'system', true)")
            connection.execute("DELETE FROM webhook_deliveries WHERE state = 'pending'")
    # The server loads the AI's models as it starts, as in production (tests elsewhere don't).
    with invekto_processes(database_url, servers=1, workers=1,
                           env={"INVEKTO_AI_WARM_UP": "true"}) as (address,):
        yield f"http://{address}"


@pytest.fixture(scope="session")
async def browser() -> Browser:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once per run, before any I/O matters
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package "
                    "(.ci/run does) or set INVEKTO_CHROMIUM")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


async def log_in(page: Page, company_slug: str, username: str) -> None:
    """Through the login form, as a person would; ends on the inbox."""
    await page.goto("/login")
    await page.fill("#company", company_slug)
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/inbox"))


@dataclass
class Agent:
    """One person's browser: their own context (cookies), a page, and the errors it logged."""

    context: BrowserContext
    page: Page
    errors: list[str]


@pytest.fixture
async def open_browser(browser, live_server):
    """``await open_browser(company, username)``: a new browser context, logged in through the
    login form, on the inbox. Script errors on the page fail the test."""
    agents: list[Agent] = []

    async def open_as(company: Company, username: str, *, width: int = 1440,
                      height: int = 900, path: str = "/inbox") -> Agent:
        context = await browser.new_context(viewport={"width": width, "height": height},
                                            base_url=live_server, locale="tr-TR",
                                            timezone_id="Europe/Istanbul")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, company.slug, username)
        if path != "/inbox":
            await page.goto(path)
        # Live updates need the socket: wait until it is open.
        await expect(page.locator("body")).to_have_attribute("data-live", "true")
        agent = Agent(context, page, errors)
        agents.append(agent)
        return agent

    yield open_as
    for agent in agents:
        await agent.context.close()
    for agent in agents:
        assert agent.errors == [], f"script errors in the page: {agent.errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
