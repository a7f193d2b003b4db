"""The reports dashboard in the browser: a supervisor opens it, changes the date range to two
known days, sees the tiles and the chart, watches the live panel count a new conversation as it
arrives (over the WebSocket), and downloads the Excel export, which openpyxl opens and which
holds the numbers the screen shows."""

from __future__ import annotations

from openpyxl import load_workbook
from playwright.async_api import expect

from tests.reports.support import add_two_known_days


async def test_the_dashboard_changes_period_updates_live_and_exports(
        world, open_browser, tmp_path, artifacts):
    home = world.home
    await add_two_known_days(home)  # and a Sunday one, still open

    page = (await open_browser(home, "sevgi", path="/reports")).page
    await expect(page.locator("#report-presets [aria-current=true]")).to_have_attribute(
        "data-preset", "2")  # the last 7 days by default
    await expect(page.locator("#now-figures [data-now=open] .h3")).to_have_text("1")

    # The period: Monday 23 and Tuesday 24 November.
    await page.fill("#report-start", "2026-11-23")
    await page.fill("#report-end", "2026-11-24")
    await page.click("#report-apply")
    await expect(page.locator("#report-period")).to_have_attribute("data-start", "2026-11-23")
    opened = page.locator('[data-kpi="opened"]')
    await expect(opened.locator(".kpi-value")).to_have_text("2")
    await expect(page.locator('[data-kpi="reply_median"] .kpi-value')).to_have_text("2 dk 0 sn")
    await expect(page.locator('[data-kpi="first_response_average"] .kpi-value')).to_have_text(
        "3 dk 0 sn")
    assert await page.evaluate("() => Boolean(window.Chart && Chart.getChart('chart-days'))")
    await expect(page.locator('#report-heatmap td[data-weekday="1"][data-hour="10"]')
                 ).to_have_attribute("data-count", "2")

    # A customer writes now: the live panel counts the open conversation without a reload.
    await home.inbound("Merhaba, randevu almak istiyorum", handle="yeni")
    await expect(page.locator("#now-figures [data-now=open] .h3")).to_have_text("2")
    await expect(page.locator("#now-figures [data-now=waiting] .h3")).to_have_text("1")
    await page.screenshot(path=str(artifacts / "reports-dashboard.png"), full_page=True)

    async with page.expect_download() as download_info:
        await page.click("#export-xlsx")
    download = await download_info.value
    assert download.suggested_filename == "report-2026-11-23-2026-11-24.xlsx"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    book = load_workbook(saved)
    summary = {row[0]: row[1] for row in book["Özet"].iter_rows(min_row=2, values_only=True)}
    for key in ("opened", "closed", "messages_in", "messages_out", "reply_average",
                "reply_median", "first_response_average", "resolution_average"):
        tile = page.locator(f'[data-kpi="{key}"]')
        label = (await tile.locator(".text-secondary.small").first.inner_text()).strip()
        shown = await tile.get_attribute("data-value")
        in_sheet = summary.get(label) or summary.get(f"{label} (saniye)")
        assert str(in_sheet) == shown, (key, label, in_sheet, shown)
    days = [(row[0].date().isoformat(), row[1], row[3])
            for row in book["Günler"].iter_rows(min_row=2, values_only=True)]
    on_screen = [(await row.get_attribute("data-day"),
                  int(await row.locator("td").nth(1).text_content()),
                  int(await row.locator("td").nth(3).text_content()))
                 for row in await page.locator("#report-days .report-day").all()]
    assert days == on_screen == [("2026-11-23", 1, 2), ("2026-11-24", 1, 2)]
