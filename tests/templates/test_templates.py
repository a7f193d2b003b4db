"""WhatsApp template management against the stub Graph API: a template written in the product,
checked when saved, submitted for review, decided by Meta's status webhook, kept in step by a
sync, deleted; our variables mapped to its placeholders and rendered per recipient."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from invekto.channels.models import Channel
from invekto.channels.simulator.whatsapp import WABA_ID
from invekto.contacts import service as contacts
from invekto.contacts.schemas import CustomFieldCreate
from invekto.inbox import service as inbox
from invekto.replies.variables import Values
from invekto.templates import service as templates
from invekto.templates.models import MessageTemplate
from tests.templates.conftest import whatsapp_channel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
# Meta's documented create request (name, language, category, components).
DOCUMENTED = json.loads((FIXTURES / "whatsapp_cloud.template_create.request.json")
                        .read_text(encoding="utf-8"))


def documented(**changes) -> dict:
    """Meta's sample under a name the simulator's account does not have yet (it has the
    sample's own, approved long ago)."""
    spec = copy.deepcopy(DOCUMENTED)
    spec.update({"name": "kargo_yolda", **changes})
    return spec


def path(wa, suffix: str = "") -> str:
    return f"/api/v1/channels/{wa.channel_id}/templates{suffix}"


async def create(wa, spec: dict | None = None, **variables_and_more):
    response = await wa.home.sevgi.client.post(path(wa), json={
        **(spec or documented()), **variables_and_more})
    assert response.status_code == 201, response.text
    return response.json()


async def stored(wa, template_id) -> MessageTemplate:
    return await wa.scalar(select(MessageTemplate).where(
        MessageTemplate.id == uuid.UUID(str(template_id))))


# ---- create, submit, Meta's decision ------------------------------------------------------------

async def test_a_draft_is_submitted_exactly_as_meta_documents_and_approved_by_webhook(wa):
    draft = await create(wa, variables={"body.1": "{{ contact.first_name }}"})
    assert (draft["status"], draft["provider_template_id"]) == ("DRAFT", None)
    assert draft["components"] == DOCUMENTED["components"]
    assert draft["variables"] == {"body.1": "{{ contact.first_name }}"}

    submitted = await wa.home.sevgi.client.post(path(wa, f"/{draft['id']}/submit"))
    assert submitted.status_code == 200, submitted.text
    created = next(r for r in wa.simulator.state.requests if r.method == "POST")
    assert (created.path, created.headers["authorization"]) == (
        f"/v25.0/{WABA_ID}/message_templates", "Bearer EAAG-test")
    at_meta = wa.simulator.state.templates[-1]
    assert {k: at_meta[k] for k in DOCUMENTED} == documented()  # the body, exactly
    assert submitted.json()["status"] == "PENDING"
    assert submitted.json()["provider_template_id"] == at_meta["id"]

    response = await wa.simulator.decide_template("kargo_yolda", "tr", "APPROVED")
    assert response.status_code == 200
    await wa.ingest_all()
    template = await stored(wa, draft["id"])
    assert (template.status, template.rejected_reason) == ("APPROVED", None)


async def test_a_rejection_by_webhook_keeps_the_reason(wa):
    draft = await create(wa)
    await wa.home.sevgi.client.post(path(wa, f"/{draft['id']}/submit"))
    await wa.simulator.decide_template("kargo_yolda", "tr", "REJECTED",
                                       reason="INVALID_FORMAT")
    await wa.ingest_all()
    shown = await wa.home.bora.client.get(path(wa, f"/{draft['id']}"))
    assert (shown.json()["status"], shown.json()["rejected_reason"]) == (
        "REJECTED", "INVALID_FORMAT")


async def test_the_reference_status_webhook_finds_the_template_by_name_and_language(wa):
    """Meta's own sample names an id we never stored: name and language find it."""
    draft = await create(wa, documented(name="kargo_bilgilendirme"))
    body = (FIXTURES / "whatsapp_cloud.template_status_update.json").read_bytes()
    from invekto.channels.adapters.whatsapp import sign
    await wa.deliver(body, {"Content-Type": "application/json",
                            "X-Hub-Signature-256": sign(wa.simulator.app_secret, body)})
    template = await stored(wa, draft["id"])
    assert (template.status, template.rejected_reason, template.provider_template_id) == (
        "REJECTED", "INVALID_FORMAT", "987654321098765")


async def test_a_status_for_a_template_we_do_not_have_is_ignored(wa):
    await wa.deliver(*wa.simulator.template_status("randevu_hatirlatma", "tr", "PAUSED"))
    assert await wa.rows(select(MessageTemplate).where(
        MessageTemplate.channel_id == wa.channel_id)) == []


async def test_a_name_meta_already_has_in_that_language_is_a_conflict_on_the_name(wa):
    draft = await create(wa, documented(name="randevu_hatirlatma"))  # the simulator has it
    response = await wa.home.sevgi.client.post(path(wa, f"/{draft['id']}/submit"))
    assert (response.status_code, response.json()["error"]["field"]) == (409, "name")
    assert (await stored(wa, draft["id"])).status == "DRAFT"


async def test_a_template_is_submitted_once(wa):
    draft = await create(wa)
    assert (await wa.home.sevgi.client.post(path(wa, f"/{draft['id']}/submit"))
            ).status_code == 200
    again = await wa.home.sevgi.client.post(path(wa, f"/{draft['id']}/submit"))
    assert again.status_code == 409


async def test_without_the_business_account_id_submitting_says_so(world, wa):
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        channel = await session.get_one(Channel, wa.channel_id)
        channel.settings = {k: v for k, v in channel.settings.items() if k != "waba_id"}
    draft = await create(wa)
    response = await wa.home.sevgi.client.post(path(wa, f"/{draft['id']}/submit"))
    assert (response.status_code, response.json()["error"]["field"]) == (422, "channel_id")
    assert "WhatsApp Business Account" in response.json()["error"]["message"] or \
        "İşletme Hesabı" in response.json()["error"]["message"]


# ---- checked when saved, each refusal naming its field ------------------------------------------

def _body(text: str, examples: list[str] | None = None) -> dict:
    component: dict = {"type": "BODY", "text": text}
    if examples is not None:
        component["example"] = {"body_text": [examples]}
    return component


@pytest.mark.parametrize(("spec", "field"), [
    pytest.param(documented(name="Kargo Bilgi"), "name", id="name-not-lowercase"),
    pytest.param(documented(name="kargo-bilgi"), "name", id="name-with-dash"),
    pytest.param(documented(language="Türkçe"), "language", id="language"),
    pytest.param(documented(category="PROMOTION"), "category", id="category"),
    pytest.param(documented(components=[{"type": "FOOTER", "text": "x"}]), "body.text",
                 id="no-body"),
    pytest.param(documented(components=[_body("x" * 1025)]), "body.text", id="body-too-long"),
    pytest.param(documented(components=[_body("Merhaba {{1}}, {{3}} hazır.", ["a", "b"])]),
                 "body.text", id="placeholders-not-contiguous"),
    pytest.param(documented(components=[_body("Merhaba {{1}}, kargonuz {{2}} hazır.",
                                              ["Ayşe"])]),
                 "body.example.2", id="missing-example"),
    pytest.param(documented(components=[_body("{{1}} siparişiniz hazır.", ["Ayşe"])]),
                 "body.text", id="starts-with-a-variable"),
    pytest.param(documented(components=[
        {"type": "HEADER", "format": "TEXT", "text": "{{1}} ve {{2}}"}, _body("Merhaba")]),
        "header.text", id="header-two-variables"),
    pytest.param(documented(components=[
        {"type": "HEADER", "format": "TEXT", "text": "x" * 61}, _body("Merhaba")]),
        "header.text", id="header-too-long"),
    pytest.param(documented(components=[_body("Merhaba"), {"type": "FOOTER", "text": "y" * 61}]),
                 "footer.text", id="footer-too-long"),
    pytest.param(documented(components=[_body("Merhaba"), {"type": "BUTTONS", "buttons": [
        {"type": "QUICK_REPLY", "text": f"Seçenek {n}"} for n in range(11)]}]),
        "buttons", id="eleven-buttons"),
    pytest.param(documented(components=[_body("Merhaba"), {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "Takip", "url": "https://x.example/{{1}}"}]}]),
        "buttons.0.example", id="url-variable-without-example"),
    pytest.param(documented(components=[_body("Merhaba"), {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "Takip", "url": "ftp://x.example"}]}]),
        "buttons.0.url", id="url-not-web"),
    pytest.param(documented(components=[_body("Merhaba"), {"type": "BUTTONS", "buttons": [
        {"type": "QUICK_REPLY", "text": "x" * 26}]}]),
        "buttons.0.text", id="button-label-too-long"),
    pytest.param(documented(components=[_body("Merhaba"), {"type": "BUTTONS", "buttons": [
        {"type": "PHONE_NUMBER", "text": "Ara", "phone_number": "yok"}]}]),
        "buttons.0.phone_number", id="phone-button"),
    pytest.param({**documented(), "variables": {"body.1": "{{ contact.dogum_gunu }}"}},
                 "variables.body.1", id="unknown-variable"),
    pytest.param({**documented(), "variables": {"body.9": "{{ contact.name }}"}},
                 "variables.body.9", id="no-such-placeholder"),
])
async def test_validation_errors_name_the_field(wa, spec, field):
    response = await wa.home.sevgi.client.post(path(wa), json=spec)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await wa.rows(select(MessageTemplate).where(
        MessageTemplate.channel_id == wa.channel_id)) == []


async def test_the_same_name_and_language_twice_is_a_conflict(wa):
    await create(wa)
    again = await wa.home.sevgi.client.post(path(wa), json=documented())
    assert (again.status_code, again.json()["error"]["field"]) == (409, "name")
    other_language = await wa.home.sevgi.client.post(path(wa), json=documented(language="en"))
    assert other_language.status_code == 201


async def test_a_non_whatsapp_channel_has_no_templates(wa):
    response = await wa.home.sevgi.client.post(
        f"/api/v1/channels/{wa.home.channel_id}/templates", json=documented())
    assert (response.status_code, response.json()["error"]["field"]) == (422, "channel_id")


# ---- variables ----------------------------------------------------------------------------------

async def test_the_variables_mapping_is_checked_and_replaced(wa):
    await _order_number_field(wa.home)
    draft = await create(wa)
    url = path(wa, f"/{draft['id']}/variables")
    mapping = {"body.1": "{{ contact.first_name }}",
               "body.2": "{{ contact.custom.siparis_no }}",
               "button.0": "{{ contact.custom.siparis_no }}", "body.3": "  "}
    response = await wa.home.sevgi.client.put(url, json={"variables": mapping})
    assert response.status_code == 200, response.text
    assert response.json()["variables"] == {k: v for k, v in mapping.items() if v.strip()}
    refused = await wa.home.sevgi.client.put(url, json={"variables": {
        "body.1": "{% for x in y %}{% endfor %}"}})
    assert (refused.status_code, refused.json()["error"]["field"]) == (422, "variables.body.1")
    by_agent = await wa.home.bora.client.put(url, json={"variables": {}})
    assert by_agent.status_code == 403


async def _order_number_field(company) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        await contacts.create_custom_field(session, company.system, CustomFieldCreate(
            key="siparis_no", label="Sipariş no", field_type="text"))


async def test_render_parameters_fills_each_placeholder_for_one_recipient(wa):
    await _order_number_field(wa.home)
    draft = await create(wa, variables={
        "body.1": '{{ contact.first_name | default("Değerli müşterimiz", true) }}',
        "body.2": "{{ contact.custom.siparis_no }}",
        "body.3": "Yurtiçi Kargo",
        "button.0": "{{ contact.custom.siparis_no | upper }}"})
    template = await stored(wa, draft["id"])
    ayse = Values(contact_name="Şükriye Çağlayan", custom={"siparis_no": "tr-ığüş-1"})
    assert templates.render_parameters(template, ayse) == {
        "body.1": "Şükriye", "body.2": "tr-ığüş-1", "body.3": "Yurtiçi Kargo",
        "button.0": "TR-IĞÜŞ-1"}
    nameless = templates.render_parameters(template, Values())
    assert nameless["body.1"] == "Değerli müşterimiz"  # the mapping's default
    assert templates.missing_parameters(template, nameless) == ["body.2", "button.0"]


# ---- sync, delete, list -------------------------------------------------------------------------

async def test_sync_adds_updates_and_notices_deletions_page_by_page(wa):
    simulator = wa.simulator
    simulator.state.templates += [
        {"id": str(10**14 + n), "name": f"kampanya_{n:03d}", "language": "tr",
         "status": "APPROVED", "category": "MARKETING", "parameter_format": "POSITIONAL",
         "components": [{"type": "BODY", "text": f"Kampanya {n}"}]} for n in range(230)]
    draft = await create(wa, documented(name="taslak_sablon"))
    first = await wa.home.sevgi.client.post(path(wa, "/sync"))
    assert first.status_code == 200, first.text
    assert first.json() == {"added": 234, "updated": 0, "removed": 0}
    pages = [r for r in simulator.state.requests if r.method == "GET"]
    assert len(pages) == 3  # 100 a page, following paging.next
    listed = (await wa.home.bora.client.get(path(wa))).json()
    by_name = {(t["name"], t["language"]): t for t in listed}
    assert by_name[("kis_kampanyasi", "tr")]["status"] == "REJECTED"
    assert by_name[("taslak_sablon", "tr")]["status"] == "DRAFT"  # ours alone, kept

    mapping = {"body.1": "{{ contact.first_name }}"}
    kargo = by_name[("kargo_bilgilendirme", "tr")]
    await wa.home.sevgi.client.put(path(wa, f"/{kargo['id']}/variables"),
                                   json={"variables": mapping})
    simulator.state.templates = [t for t in simulator.state.templates
                                 if t["name"] != "kampanya_007"]
    next(t for t in simulator.state.templates
         if t["name"] == "kargo_bilgilendirme")["status"] = "PAUSED"
    second = await wa.home.sevgi.client.post(path(wa, "/sync"))
    assert second.json() == {"added": 0, "updated": 233, "removed": 1}
    again = {(t["name"], t["language"]): t for t in (await wa.home.bora.client.get(path(wa))
                                                     ).json()}
    assert ("kampanya_007", "tr") not in again
    assert again[("kargo_bilgilendirme", "tr")]["status"] == "PAUSED"
    assert again[("kargo_bilgilendirme", "tr")]["variables"] == mapping  # ours, kept
    assert draft["id"] in {t["id"] for t in again.values()}


async def test_the_composer_offers_the_synced_approved_templates(wa):
    await wa.home.sevgi.client.post(path(wa, "/sync"))
    async with wa.home.rt.db.tenant_session(wa.home.tenant_id) as session:
        channel = await session.get_one(Channel, wa.channel_id)
        await session.execute(
            MessageTemplate.__table__.update().where(
                MessageTemplate.channel_id == wa.channel_id,
                MessageTemplate.name == "appointment_reminder").values(status="PAUSED"))
        asked = len(wa.simulator.state.requests)
        offered = await inbox.channel_templates(channel)
    assert [(t.name, t.language, t.parameters) for t in offered] == [
        ("kargo_bilgilendirme", "tr", ("1", "2", "3")), ("randevu_hatirlatma", "tr", ("1", "2"))]
    assert len(wa.simulator.state.requests) == asked  # from our table, not the provider


async def test_delete_removes_at_the_provider_then_here(wa):
    draft = await create(wa)
    await wa.home.sevgi.client.post(path(wa, f"/{draft['id']}/submit"))
    provider_id = (await stored(wa, draft["id"])).provider_template_id
    response = await wa.home.sevgi.client.delete(path(wa, f"/{draft['id']}"))
    assert response.status_code == 204, response.text
    deleted = next(r for r in wa.simulator.state.requests if r.method == "DELETE")
    assert (deleted.path, deleted.query) == (
        f"/v25.0/{WABA_ID}/message_templates",
        f"name=kargo_yolda&hsm_id={provider_id}")
    assert all(t["name"] != "kargo_yolda" for t in wa.simulator.state.templates)
    assert await stored(wa, draft["id"]) is None


async def test_a_refused_delete_keeps_the_template(wa):
    draft = await create(wa)
    await wa.home.sevgi.client.post(path(wa, f"/{draft['id']}/submit"))
    wa.simulator.state.templates.clear()  # gone at Meta already: Meta says it is unknown
    response = await wa.home.sevgi.client.delete(path(wa, f"/{draft['id']}"))
    assert response.status_code == 422
    assert await stored(wa, draft["id"]) is not None


async def test_agents_list_but_do_not_manage(wa):
    assert (await wa.home.bora.client.get(path(wa))).status_code == 200
    refused = await wa.home.bora.client.post(path(wa), json=documented())
    assert refused.status_code == 403
    assert (await wa.home.bora.client.post(path(wa, "/sync"))).status_code == 403


async def test_another_companys_template_is_not_found(world, wa):
    draft = await create(wa)
    charlie = world.charlie
    own = await whatsapp_channel(charlie)
    admin = charlie.people["ayla"].client
    for url in (path(wa), path(wa, f"/{draft['id']}"),
                f"/api/v1/channels/{own.id}/templates/{draft['id']}"):
        response = await admin.get(url)
        assert response.status_code == 404, url
    deleted = await admin.delete(f"/api/v1/channels/{own.id}/templates/{draft['id']}")
    assert deleted.status_code == 404
    assert await stored(wa, draft["id"]) is not None


async def test_a_template_of_another_channel_is_not_found_on_this_one(wa):
    draft = await create(wa)
    other = await whatsapp_channel(wa.home, name="İkinci hat")
    response = await wa.home.bora.client.get(
        f"/api/v1/channels/{other.id}/templates/{draft['id']}")
    assert response.status_code == 404
