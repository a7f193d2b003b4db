"""What the AI tests share: a clinic's knowledge base, searchable at once, and the company's
LLM pointed at the OpenAI-compatible stub server."""

from __future__ import annotations

import uuid

from invekto.ai import knowledge
from invekto.ai.schemas import ArticleIn
from invekto.ai.simulator import openai as openai_stub

PRICE_FAQ = ("İmplant fiyatlarınız nedir?",
             "Tek implant, üst yapısıyla birlikte 28.000 TL'den başlar; muayenede net fiyat "
             "verilir.")
HOURS_FAQ = ("Çalışma saatleriniz nedir?",
             "Hafta içi 09:00-19:00, cumartesi 10:00-16:00 açığız; pazar kapalıyız.")
PLACE_FAQ = ("Kliniğiniz nerede?",
             "Nişantaşı, Valikonağı Caddesi No: 48, Kat 3, Şişli / İstanbul.")
CLINIC_FAQS = (PRICE_FAQ, HOURS_FAQ, PLACE_FAQ)
OPENAI_MODEL = "qwen2.5:7b-instruct"


async def add_faqs(company, faqs=CLINIC_FAQS) -> dict[str, uuid.UUID]:
    """The FAQ pairs as the company's articles, indexed now; their ids by question."""
    ids = {}
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for question, answer in faqs:
            article = await knowledge.save_article(session, company.system, ArticleIn(
                kind="faq", title=question, body=answer))
            ids[question] = article.id
        await knowledge.index_now(session, company.tenant_id)
    return ids


async def use_openai_stub(admin, url: str) -> None:
    """The company's LLM is the stub server at ``url`` (an admin saves it)."""
    response = await admin.client.put("/api/v1/ai/settings", json={
        "provider": "openai", "model": OPENAI_MODEL, "base_url": f"{url}/v1",
        "api_key": openai_stub.API_KEY})
    assert response.status_code == 200, response.text
