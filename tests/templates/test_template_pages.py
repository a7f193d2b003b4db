"""Settings → Templates: the page, its create form (as a browser posts it), sync, submit, the
variable mapping and delete, over HTTP with the stub Graph API behind."""

from __future__ import annotations

import re

from sqlalchemy import select

from invekto.templates.models import MessageTemplate

FORM = {
    "name": "siparis_hazir", "language": "tr", "category": "UTILITY",
    "header": "Siparişiniz hazır", "body": "Merhaba {{1}}, {{2}} numaralı siparişiniz hazır.",
    "example_body_1": "Ayşe", "example_body_2": "TR-100245",
    "variable_body_1": "{{ contact.first_name }}", "variable_body_2": "",
    "footer": "Örnek Mağaza", "quick_reply": ["Teşekkürler", "", "Temsilci"],
    "url_text": "Takip et", "url": "https://shop.example.com/track/{{1}}",
    "url_example": "https://shop.example.com/track/TR-100245",
    "variable_url": "{{ contact.phone }}",
}


async def test_the_page_lists_each_whatsapp_channels_templates_with_their_status(wa):
    client = wa.home.sevgi.client
    await client.post(f"/settings/templates/{wa.channel_id}/sync")
    page = await client.get("/settings/templates")
    assert page.status_code == 200
    assert 'data-channel="WhatsApp"' in page.text
    assert 'data-name="kis_kampanyasi"' in page.text and 'data-status="REJECTED"' in page.text
    assert "Onaylandı" in page.text or "Approved" in page.text


async def test_the_form_makes_a_draft_in_metas_format_with_its_variables(wa):
    client = wa.home.sevgi.client
    response = await client.post(f"/settings/templates/{wa.channel_id}", data=FORM,
                                 headers={"HX-Request": "true"})
    assert response.status_code == 200, response.text
    assert 'data-name="siparis_hazir"' in response.text
    template = await wa.scalar(select(MessageTemplate).where(
        MessageTemplate.channel_id == wa.channel_id))
    assert template.components == [
        {"type": "HEADER", "format": "TEXT", "text": "Siparişiniz hazır"},
        {"type": "BODY", "text": FORM["body"],
         "example": {"body_text": [["Ayşe", "TR-100245"]]}},
        {"type": "FOOTER", "text": "Örnek Mağaza"},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Teşekkürler"},
            {"type": "QUICK_REPLY", "text": "Temsilci"},
            {"type": "URL", "text": "Takip et", "url": FORM["url"],
             "example": [FORM["url_example"]]}]}]
    assert template.variables == {"body.1": "{{ contact.first_name }}",
                                  "button.2": "{{ contact.phone }}"}

    submitted = await client.post(f"/settings/templates/{wa.channel_id}/{template.id}/submit")
    assert submitted.status_code == 200
    assert re.search(r'data-name="siparis_hazir".*?data-status="PENDING"', submitted.text,
                     re.S)
    mapped = await client.post(
        f"/settings/templates/{wa.channel_id}/{template.id}/variables",
        data={"variable:body.1": "{{ contact.name }}", "variable:body.2": "{{ today }}"})
    assert mapped.status_code == 200
    deleted = await client.post(f"/settings/templates/{wa.channel_id}/{template.id}/delete")
    assert deleted.status_code == 200
    assert 'data-name="siparis_hazir"' not in deleted.text


async def test_a_form_mistake_is_refused_naming_its_field(wa):
    response = await wa.home.sevgi.client.post(
        f"/settings/templates/{wa.channel_id}", data={**FORM, "example_body_2": ""},
        headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.example.2"


async def test_agents_cannot_open_the_page(wa):
    page = await wa.home.bora.client.get("/settings/templates")
    assert page.status_code == 403
