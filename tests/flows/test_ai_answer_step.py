"""The flows' "AI answer" step (``ai_answer``, registered by the AI layer): a published flow
answers a question its knowledge base covers and goes on, and takes its "unsure" exit on one it
does not; the builder offers the step, checks it when publishing, and its test panel runs it."""

from __future__ import annotations

from invekto.ai import knowledge
from invekto.ai.schemas import ArticleIn
from tests.flows.conftest import Customer, make_flow

FAQS = [
    ("İmplant fiyatlarınız nedir?",
     "Tek implant, üst yapısıyla birlikte 28.000 TL'den başlar; muayenede net fiyat verilir."),
    ("Çalışma saatleriniz nedir?",
     "Hafta içi 09:00-19:00, cumartesi 10:00-16:00 açığız; pazar kapalıyız."),
]
PRICE = FAQS[0][1]
MORE = "Başka bir sorunuz olursa yazmanız yeterli."
SORRY = "Bunu bir arkadaşımız yanıtlayacak."


async def faqs(company) -> None:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for question, answer in FAQS:
            await knowledge.save_article(session, company.system, ArticleIn(
                kind="faq", title=question, body=answer))
        await knowledge.index_now(session, company.tenant_id)


def answering_flow(question: str = "") -> dict:
    return {"start": "ai", "nodes": {
        "ai": {"type": "ai_answer", "question": question, "save_as": "cevap",
               "next": "more", "unsure_next": "human"},
        "more": {"type": "end", "text": MORE},
        "human": {"type": "handoff", "text": SORRY,
                  "note": "Yapay zekâ emin olamadı"}}}


async def test_a_covered_question_is_answered_and_an_uncovered_one_takes_the_unsure_exit(world):
    home = world.home
    await faqs(home)
    await make_flow(home, answering_flow())
    ayse = Customer(home)
    await ayse.says("implant fiyatlarınız nedir")
    # The answer is an external step: its job, not the ingest, asks the AI.
    flow_session = await ayse.session()
    assert (flow_session.state, flow_session.node_id) == ("running", "ai")
    assert await ayse.heard() == []
    assert await ayse.advance()
    assert await ayse.heard() == [PRICE, MORE]
    flow_session = await ayse.session()
    assert flow_session.end_reason == "completed"
    assert flow_session.variables == {"cevap": PRICE}
    assert [m.sender_kind for m in await ayse.sent()] == ["bot", "bot"]

    mehmet = Customer(home)
    await mehmet.says("zirkonyum kaplama yaptırmak istiyorum, kaç seans sürüyor?")
    assert await mehmet.advance()
    assert await mehmet.heard() == [SORRY]
    assert (await mehmet.session()).end_reason == "handed_off"
    assert await mehmet.notes() == ["Yapay zekâ emin olamadı"]
    assert any(t["node"] == "ai" and t["detail"].startswith("unsure")
               for t in (await mehmet.session()).trail)


async def test_the_builder_offers_it_checks_it_and_its_test_panel_runs_it(world):
    home = world.home
    await faqs(home)
    client = home.sevgi.client
    kinds = {k["kind"]: k for k in (await client.get("/api/v1/flow-step-kinds")).json()}
    assert kinds["ai_answer"]["exits"] == ["next", "unsure_next"]
    assert kinds["ai_answer"]["label"] == "AI answer"
    assert [f["key"] for f in kinds["ai_answer"]["fields"]] == ["question", "save_as"]

    graph = answering_flow("{{ var.yok }}")
    flow = await make_flow(home, graph, publish=False)
    refused = await client.post(f"/api/v1/flows/{flow['id']}/publish")
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "graph.nodes.ai.question"

    # In the test panel there is no conversation: the question comes from an earlier step.
    graph = answering_flow("{{ var.soru }}")
    graph["start"] = "ask"
    graph["nodes"]["ask"] = {"type": "input", "text": "Sorunuz nedir?", "save_to": "var.soru",
                             "next": "ai"}
    flow = await make_flow(home, graph)
    first = await client.post(f"/api/v1/flows/{flow['id']}/test", json={})
    assert [r["text"] for r in first.json()["replies"]] == ["Sorunuz nedir?"]
    done = await client.post(f"/api/v1/flows/{flow['id']}/test", json={
        "state": first.json()["state"], "text": "implant fiyatlarınız nedir"})
    assert done.status_code == 200, done.text
    assert [r["text"] for r in done.json()["replies"]] == [PRICE, MORE]
    assert done.json()["state"]["variables"]["cevap"] == PRICE
    # An empty question in the panel: nothing to ask, so unsure.
    blank = await make_flow(home, answering_flow(), publish=False)
    unsure = await client.post(f"/api/v1/flows/{blank['id']}/test", json={})
    assert [r["text"] for r in unsure.json()["replies"]] == [SORRY]
    assert unsure.json()["handoff"] is not None
