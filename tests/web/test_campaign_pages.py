"""The campaigns pages: who may open them, the new-campaign form (an uploaded list, a template's
placeholders, refusals shown beside their field with what was typed), a campaign's plan,
preview, buttons and report, and another company's campaign as a 404. Assertions are on ids,
data attributes and values, not on translated wording."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from invekto.campaigns.models import Campaign, RecipientList
from invekto.channels import service as channels
from invekto.channels.schemas import ChannelCreate
from tests.campaigns import conftest as campaign_fixtures
from tests.factories import Company, Person

# A WhatsApp channel on the Graph API simulator, as the campaign tests have it.
wa = campaign_fixtures.wa
HX = {"hx-request": "true"}
CSV = ("Ad Soyad,Telefon,Kod\n"
       "Ayşe Yılmaz,0532 000 00 01,KIS1\n"
       "Işıl Şahin,+90 532 000 00 02,KIS2\n"
       "Hatalı,12345,KIS3\n"
       "Boş,,KIS4\n").encode()


async def sms_channel(company: Company):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await channels.create_channel(session, company.system, ChannelCreate(
            kind="sms_netgsm", name="SMS · 0850", external_id="8505551234",
            settings={"header": "ORNEKMGZ"}, credentials={"usercode": "u", "password": "p"}))


async def html(person: Person, path: str, *, expect: int = 200, htmx: bool = False) -> str:
    response = await person.client.get(path, headers=HX if htmx else {})
    assert response.status_code == expect, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def form_for(channel_id, **fields) -> dict[str, str]:
    return {"name": "Kış indirimi", "channel_id": str(channel_id),
            "body": "{{ contact.first_name }}, kodunuz {{ row.Kod }}", "commercial": "",
            **fields}


async def create(person: Person, data: dict, *, csv: bytes | None = CSV,
                 filename: str = "liste.csv"):
    # No file chosen: browsers send the part with an empty name.
    files = {"file": (filename, csv, "text/csv") if csv is not None
             else ("", b"", "application/octet-stream")}
    return await person.client.post("/campaigns", data=data, files=files)


def count_of(page: str, element_id: str) -> int:
    return int(re.search(rf'id="{element_id}" data-count="(\d+)"', page).group(1))


def error_for(page: str, field: str) -> str:
    match = re.search(rf'data-error-for="{re.escape(field)}">([^<]+)<', page)
    assert match, f"no error shown for {field}"
    return match.group(1)


async def scalar(company: Company, query):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(query)


async def test_the_pages_render_for_a_supervisor_and_the_menu_links_them(world, wa):
    home = world.home
    sms = await sms_channel(home)
    listing = await html(home.sevgi, "/campaigns")
    assert 'id="no-campaigns"' in listing and 'href="/campaigns/new"' in listing
    assert 'href="/campaigns"' in listing  # the menu entry
    assert 'href="/campaigns"' in await html(home.ayla, "/inbox")

    form = await html(home.sevgi, "/campaigns/new")
    # Broadcast channels only (the company's web chat is not one); the first one's content.
    assert f'value="{wa.channel_id}"' in form and f'value="{sms.id}"' in form
    assert f'value="{home.channel_id}"' not in form
    assert 'name="body"' in form and 'name="template"' not in form
    assert 'name="commercial" id="campaign-commercial" checked' in form

    # Another channel chosen: WhatsApp's approved templates, an input for each placeholder.
    content = await html(home.sevgi, f"/campaigns/new/content?channel_id={wa.channel_id}",
                         htmx=True)
    assert "<html" not in content and 'name="body"' not in content
    assert 'value="randevu_hatirlatma|tr"' in content
    assert 'value="kis_kampanyasi|tr"' not in content  # not approved
    assert content.count('name="template_parameters.') == 2 + 2 + 3


async def test_agents_are_refused_every_campaign_page(world, wa):
    home = world.home
    campaign = await wa.create()
    for agent in (home.bora, home.deniz):
        for path in ("/campaigns", "/campaigns/new", f"/campaigns/{campaign['id']}"):
            page = await html(agent, path, expect=403)
            assert 'id="settings-forbidden"' in page
            response = await agent.client.get(path, headers=HX)
            assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
        for path in ("/campaigns/new/content", f"/campaigns/{campaign['id']}/report"):
            assert (await agent.client.get(path, headers=HX)).status_code == 403
        for action in ("send", "cancel", "plan"):
            response = await agent.client.post(f"/campaigns/{campaign['id']}/{action}",
                                               headers=HX)
            assert response.status_code == 403
        response = await create(agent, form_for(wa.channel_id))
        assert response.status_code == 403
        assert 'href="/campaigns"' not in await html(agent, "/inbox")
    assert await scalar(home, select(func.count()).select_from(Campaign)) == 1


async def test_the_form_creates_and_plans_a_campaign_from_an_uploaded_csv(world):
    home = world.home
    sms = await sms_channel(home)
    response = await create(home.sevgi, form_for(sms.id, tags=""))
    assert response.status_code == 303, response.text
    campaign_id = uuid.UUID(response.headers["location"].removeprefix("/campaigns/"))
    campaign = await scalar(home, select(Campaign).where(Campaign.id == campaign_id))
    assert (campaign.content_kind, campaign.commercial, campaign.segment) == ("text", False, None)
    recipient_list = await scalar(home, select(RecipientList).where(
        RecipientList.id == campaign.list_id))
    assert (recipient_list.phone_column, recipient_list.name_column) == ("Telefon", "Ad Soyad")

    page = await html(home.sevgi, f"/campaigns/{campaign_id}")
    assert count_of(page, "plan-recipients") == 2
    assert count_of(page, "plan-invalid-rows") == 2
    bad = dict(re.findall(r'class="bad-row" data-row="(\d+)" data-error="(\w+)"', page))
    assert bad == {"4": "invalid_phone", "5": "missing_phone"}
    # The first queued recipient's message, as the dispatcher will fill it.
    assert re.search(r'id="preview-text">Ayşe, kodunuz KIS1<', page)
    assert 'data-status="draft"' in page and 'id="campaign-schedule"' in page
    assert "hx-trigger" not in page  # a draft's report does not move

    listing = await html(home.sevgi, "/campaigns")
    row = re.search(rf'id="campaign-{campaign_id}">(.*?)</tr>', listing, re.S).group(1)
    assert "Kış indirimi" in row and "SMS · 0850" in row and 'data-status="draft"' in row
    assert re.search(r'campaign-progress">0 / 2<', row)


async def test_a_campaign_is_scheduled_stopped_and_reported_from_its_page(world):
    home = world.home
    sms = await sms_channel(home)
    created = await create(home.sevgi, form_for(sms.id))
    base = created.headers["location"]

    past = await home.sevgi.client.post(f"{base}/schedule", data={"at": "2020-01-01T09:00"},
                                        headers=HX)
    assert past.status_code == 422
    assert error_for(past.text, "at") and 'value="2020-01-01T09:00"' in past.text

    local = datetime.now(ZoneInfo("Europe/Istanbul")) + timedelta(days=2)
    at = local.strftime("%Y-%m-%dT%H:%M")
    scheduled = await home.sevgi.client.post(f"{base}/schedule", data={"at": at}, headers=HX)
    assert scheduled.status_code == 200, scheduled.text
    assert 'id="campaign-actions" data-status="scheduled"' in scheduled.text
    assert 'id="campaign-unschedule"' in scheduled.text
    assert f'hx-get="{base}/report" hx-trigger="every 2s"' in scheduled.text
    campaign = await scalar(home, select(Campaign).where(
        Campaign.id == uuid.UUID(base.rsplit("/", 1)[1])))
    assert campaign.scheduled_at.astimezone(ZoneInfo("Europe/Istanbul")).strftime(
        "%Y-%m-%dT%H:%M") == at  # the company's wall clock

    report = await html(home.sevgi, f"{base}/report", htmx=True)
    assert "<html" not in report
    assert re.search(r'id="report-queued".*?report-count">2<', report, re.S)
    # The status and buttons come along, to be swapped out of band.
    assert 'id="campaign-actions" data-status="scheduled" hx-swap-oob="true"' in report
    assert 'id="campaign-status" hx-swap-oob="true"' in report

    for action, status in (("unschedule", "draft"), ("send", "running"), ("pause", "paused"),
                           ("resume", "running"), ("cancel", "cancelled")):
        response = await home.sevgi.client.post(f"{base}/{action}", headers=HX)
        assert response.status_code == 200, (action, response.text)
        assert f'id="campaign-actions" data-status="{status}"' in response.text, action
    refused = await home.sevgi.client.post(f"{base}/resume", headers=HX)
    assert refused.status_code == 409
    page = await html(home.sevgi, base)
    assert f'href="/api/v1/campaigns/{base.rsplit("/", 1)[1]}/export?format=xlsx"' in page
    export = await home.sevgi.client.get(f"/api/v1{base}/export?format=csv")
    assert export.status_code == 200  # the export link works with the browser session


async def test_refusals_are_shown_beside_their_field_with_what_was_typed(world, wa):
    home = world.home
    sms = await sms_channel(home)

    response = await create(home.sevgi, form_for(sms.id, body="  ", tags="vip, yeni"),
                            csv=None)
    assert response.status_code == 422
    assert error_for(response.text, "body")
    assert 'value="Kış indirimi"' in response.text and 'value="vip, yeni"' in response.text

    response = await create(home.sevgi, form_for(sms.id), csv=None)
    assert response.status_code == 422 and error_for(response.text, "segment")

    # A file whose phone column cannot be guessed: its columns are offered to choose from.
    unknown = "Müşteri,Numarası\nAyşe,05320000001\n".encode()
    response = await create(home.sevgi, form_for(sms.id), csv=unknown)
    assert response.status_code == 422 and error_for(response.text, "phone_column")
    assert re.findall(r'<option value="([^"]+)"', response.text.split(
        'id="campaign-phone-column"')[1].split("</select>")[0]) == ["Müşteri", "Numarası"]
    chosen = await create(home.sevgi, form_for(sms.id, phone_column="Numarası",
                                               body="Merhaba"), csv=unknown)
    assert chosen.status_code == 303, chosen.text

    # A template's placeholder left empty, on WhatsApp; the list of the refused attempt is
    # not kept.
    response = await create(home.sevgi, form_for(
        wa.channel_id, template="randevu_hatirlatma|tr",
        **{"template_parameters.1": "{{ contact.first_name }}", "template_parameters.2": ""}))
    assert response.status_code == 422
    assert error_for(response.text, "template_parameters.2")
    assert 'value="{{ contact.first_name }}"' in response.text
    assert re.search(r'<option value="randevu_hatirlatma\|tr" selected>', response.text)
    assert await scalar(home, select(func.count()).select_from(RecipientList)) == 1
    assert await scalar(home, select(func.count()).select_from(Campaign)) == 1


async def test_another_companys_campaign_is_not_found(world, wa):
    campaign = await wa.create()
    charlie = world.charlie.ayla
    for path in (f"/campaigns/{campaign['id']}", f"/campaigns/{campaign['id']}/report"):
        response = await charlie.client.get(path, headers=HX)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    for action in ("send", "schedule", "cancel"):
        response = await charlie.client.post(f"/campaigns/{campaign['id']}/{action}",
                                             data={"at": "2099-01-01T09:00"}, headers=HX)
        assert response.status_code == 404, action
