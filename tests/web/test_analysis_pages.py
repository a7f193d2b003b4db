"""Chat analysis in the web UI: the AI panel's analysis part (an "Analyse" button until there is
one; then sentiment, purchase intent with its reasons, the quality score and the 15 criteria,
each with its reason; a warning once newer messages came), the reports page (hot leads and the
average scores per agent, by period; supervisors and admins only), and the menu's link to it."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

from markupsafe import escape

from invekto.ai import quality
from invekto.core import i18n
from invekto.web.rendering import templates
from tests.factories import Company, Person

HX = {"hx-request": "true"}
GOOD = ["Merhaba, implant fiyatı ne kadar? Yarın randevu almak istiyorum",
        "Merhaba Ayşe Hanım, ben Bora, size nasıl yardımcı olabilirim? Tek implant 28.000 "
        "TL'den başlıyor. Yarın 10:00 için randevu oluşturalım mı?"]
COMPLAINT = ["Kargom 3 haftadır gelmedi, rezalet!", "bekleyin"]


async def conversation(company: Company, agent: Person, lines: list[str], *,
                       name: str = "Ayşe Yılmaz") -> uuid.UUID:
    """The customer's first line, the agent's answer, then closed (which queues, not runs, its
    analysis)."""
    handle = f"musteri-{uuid.uuid4().hex[:8]}"
    message = await company.inbound(lines[0], handle=handle, name=name)
    response = await agent.client.post(
        f"/api/v1/conversations/{message.conversation_id}/messages", json={"body": lines[1]})
    assert response.status_code == 201, response.text
    return message.conversation_id


async def part(person: Person, conversation_id: uuid.UUID, *, method: str = "GET",
               expect: int = 200) -> str:
    response = await person.client.request(method, f"/inbox/c/{conversation_id}/ai/analysis",
                                           headers=HX)
    assert response.status_code == expect, response.text
    if expect == 200:
        assert response.headers["content-type"].startswith("text/html")
    return response.text


def tr(message: str, **values: object) -> str:
    """As a Turkish user's page shows ``message`` (the cast's language), escaped."""
    return str(escape(i18n.text("tr", message, **values)))


def criteria_shown(fragment: str) -> dict[str, str]:
    return dict(re.findall(r'class="ai-criterion mb-1" data-criterion="(\w+)" '
                           r'data-score="(\w+)"', fragment))


async def test_the_panel_part_offers_to_analyse_then_shows_the_analysis(world):
    home = world.home
    conversation_id = await conversation(home, home.bora, GOOD)
    before = await part(home.bora, conversation_id)
    assert 'data-analysed="false"' in before
    assert f'hx-post="/inbox/c/{conversation_id}/ai/analysis"' in before
    assert 'id="ai-analysis-none"' in before
    assert criteria_shown(before) == {}

    shown = await part(home.bora, conversation_id, method="POST")
    assert 'data-analysed="true"' in shown
    assert re.search(r'id="ai-intent" data-intent="(medium|high)"', shown)
    assert re.search(r'id="ai-sentiment" data-sentiment="\w+"', shown)
    reasons = re.search(r'id="ai-intent-reasons">(.*?)</ul>', shown, re.DOTALL)
    assert reasons and tr("wants to book an appointment or a room") in reasons.group(1)
    score = re.search(r'id="ai-quality-score" data-score="(\d+)"', shown)
    assert score and 0 <= int(score.group(1)) <= 100
    assert tr("Quality score: %(score)s%%", score=int(score.group(1))) in shown
    found = criteria_shown(shown)
    assert list(found) == list(quality.KEYS)
    assert found["greeting"] == "2" and found["closing"] == "na"  # still open
    assert tr("Greeted and offered help in the first message.") in shown
    assert tr("First reply after %(first)s min; the slowest after %(slowest)s min.",
              first=1, slowest=1) in shown
    assert tr("Built-in analysis") in shown
    assert 'id="ai-analysis-stale"' not in shown

    # Read back as stored; a newer message makes it stale.
    again = await part(home.sevgi, conversation_id)
    assert criteria_shown(again) == found
    await home.inbound("Bir sorum daha var", handle=None)  # another customer: not this one
    assert 'id="ai-analysis-stale"' not in await part(home.bora, conversation_id)
    response = await home.bora.client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"body": "Bekliyoruz."})
    assert response.status_code == 201
    assert 'id="ai-analysis-stale"' in await part(home.bora, conversation_id)


async def test_the_panel_loads_the_part_and_hides_what_an_agent_cannot_see(world):
    home, charlie = world.home, world.charlie
    conversation_id = await conversation(home, home.bora, GOOD)  # Bora's now
    await part(home.deniz, conversation_id, expect=404)
    await part(home.deniz, conversation_id, method="POST", expect=404)
    response = await charlie.ayla.client.get(f"/inbox/c/{conversation_id}/ai/analysis",
                                             headers=HX)
    assert response.status_code == 404
    panel = templates.env.get_template("inbox/_ai_panel.html").render(
        conversation=SimpleNamespace(id=conversation_id))
    assert (f'<div id="ai-analysis" hx-get="/inbox/c/{conversation_id}/ai/analysis" '
            'hx-trigger="load"></div>') in panel


async def test_the_reports_page_for_supervisors(world):
    home = world.home
    hot = await conversation(home, home.bora, GOOD)
    cold = await conversation(home, home.deniz, COMPLAINT, name="Müşteri")
    for conversation_id in (hot, cold):
        response = await home.sevgi.client.post(f"/api/v1/analysis/conversations/"
                                                f"{conversation_id}")
        assert response.status_code == 200, response.text

    response = await home.sevgi.client.get("/reports/analysis")
    assert response.status_code == 200, response.text
    page = response.text
    leads = re.findall(r'class="hot-lead" data-conversation-id="([0-9a-f-]+)"', page)
    assert leads == [str(hot)]
    assert f'<a href="/inbox?c={hot}">Ayşe Yılmaz</a>' in page
    agents = re.findall(r'class="agent-average" data-agent-id="([0-9a-f-]+)"', page)
    assert agents == [str(home.bora.user_id), str(home.deniz.user_id)]  # best first
    assert ">Bora</td>" in page and ">Deniz</td>" in page
    assert page.count('data-criterion="greeting"') == 2
    assert 'href="/reports/analysis?days=30"' in page
    assert re.search(r'data-days="30"\s+aria-current="page"', page)
    assert f'class="shell-link active" href="/reports" title="{tr("Reports")}"' in page
    assert re.search(r'href="/reports/analysis" data-tab="analysis"\s+aria-current="page"',
                     page)  # the reports' own menu

    week = await home.ayla.client.get("/reports/analysis", params={"days": 7})
    assert week.status_code == 200
    assert re.search(r'data-days="7"\s+aria-current="page"', week.text)
    wrong = await home.ayla.client.get("/reports/analysis", params={"days": 5})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["field"] == "days"

    # Agents get the forbidden page, and no link to it.
    refused = await home.bora.client.get("/reports/analysis")
    assert refused.status_code == 403
    assert tr("You are not allowed to open this page") in refused.text
    assert str(hot) not in refused.text
    inbox_page = await home.bora.client.get("/inbox")
    assert inbox_page.status_code == 200
    assert 'href="/reports/analysis"' not in inbox_page.text
    # Another company's report shows none of this.
    other = await world.charlie.ayla.client.get("/reports/analysis")
    assert other.status_code == 200
    assert 'id="no-hot-leads"' in other.text and 'id="no-agent-averages"' in other.text
