"""Chat analysis: the builtin rules on hand-built timelines with known answers (a good agent
scores high on the right criteria, a rude and slow one low, criteria that do not apply say
so), then through the API on real conversations (analysed now, stored, replaced, analysed by
the job a close defers), the reports (hot leads, averages per agent), the batch endpoint, who
may do what, another company's ids, and the company's LLM through the OpenAI stub server —
with every unusable answer falling back to the builtin analysis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from invekto.ai import quality, tasks
from invekto.ai.models import ConversationAnalysis
from invekto.ai.simulator import openai as openai_stub
from invekto.core import i18n
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, Message
from invekto.inbox.schemas import MessageSend
from tests.ai.support import add_faqs, use_openai_stub
from tests.factories import Company, Person
from tests.processes import serving

API = "/api/v1/analysis"
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
FAQS = [
    ("İmplant fiyatlarınız nedir?",
     "Tek implant, üst yapısıyla birlikte 28.000 TL'den başlar; muayenede net fiyat verilir."),
    ("Çalışma saatleriniz nedir?",
     "Hafta içi 09:00-19:00, cumartesi 10:00-16:00 açığız; pazar kapalıyız."),
    ("İmplantta kampanya var mı?",
     "Bu ay implant tedavisinde %10 indirim kampanyamız var; 12 aya varan taksit imkânı."),
]
# A clinic's agent doing everything right: greets and introduces himself, asks, answers the
# price with the knowledge base's figures, meets the objection with the campaign, proposes an
# appointment, promises a call at a set time, thanks and wishes well.
GOOD = [
    (0, "customer", "Merhaba, implant fiyatı ne kadar? Biraz pahalı buluyorum açıkçası"),
    (2, "agent", "Merhaba Ayşe Hanım, ben Bora, size nasıl yardımcı olabilirim? Tek implant "
                 "üst yapısıyla 28.000 TL'den başlıyor."),
    (3, "agent", "Kaç dişiniz için düşünüyorsunuz? Daha önce muayene oldunuz mu?"),
    (5, "customer", "İki diş için. Başka klinikte daha ucuz gördüm ama yarın gelip randevu "
                    "almak istiyorum"),
    (6, "agent", "Anlıyorum. Bu ay implant tedavisinde %10 indirim kampanyamız var, 12 aya "
                 "varan taksit imkânı da sunuyoruz."),
    (7, "agent", "Size cumartesi 10:00 için randevu oluşturalım mı? Yarın sizi arayıp "
                 "hatırlatacağım."),
    (9, "customer", "Olur, çok teşekkürler"),
    (10, "agent", "Rica ederim Ayşe Hanım, bizi tercih ettiğiniz için teşekkür ederiz. "
                  "İyi günler!"),
]
# A complaint answered hours late, curtly and rudely, after a bot's greeting.
BAD = [
    (0, "customer", "Merhaba, kargom 3 haftadır gelmedi, rezalet! Kimse cevap vermiyor"),
    (0, "bot", "Merhaba! Mesajınızı aldık, en kısa sürede dönüş yapılacak."),
    (180, "agent", "sipariş no"),
    (182, "customer", "12345678, hala bekliyorum, çok sinir bozucu"),
    (500, "agent", "DAHA ÖNCE SÖYLEDİM KARGODA!!"),
    (501, "agent", "bekleyin"),
]


def timeline(lines: list[tuple[int, str, str]]) -> list[quality.Turn]:
    return [quality.Turn(role, body, START + timedelta(minutes=minute))  # type: ignore[arg-type]
            for minute, role, body in lines]


def scores(found: list[quality.Score]) -> dict[str, int | None]:
    return {item.criterion: item.score for item in found}


def facts(**given: Any) -> quality.Facts:
    values = {"customer_name": "Ayşe Yılmaz", "knowledge": tuple(a for _q, a in FAQS),
              "closed": True, "purchase_intent": "high", "sentiment": "neutral", **given}
    return quality.Facts(**values)


# ---- the builtin rules -----------------------------------------------------------------------


def test_the_15_criteria_are_defined_once_each():
    assert len(quality.CRITERIA) == len(set(quality.KEYS)) == 15
    assert all(len(criterion.points) == 3 and criterion.not_applicable
               for criterion in quality.CRITERIA)


def test_a_good_agent_scores_full_marks_on_every_criterion():
    found = quality.score(timeline(GOOD), facts())
    assert [item.criterion for item in found] == list(quality.KEYS)
    assert scores(found) == dict.fromkeys(quality.KEYS, 2)
    assert quality.quality_score(found) == 100
    by_key = {item.criterion: item for item in found}
    assert by_key["response_speed"].params == {"first": 2, "slowest": 2}
    assert by_key["objection_handling"].params == {"objection": "pahalı"}
    assert by_key["correct_information"].params == {"count": 4}  # 28.000, %10, 12, 10:00


def test_a_rude_slow_agent_scores_low_and_only_where_it_applies():
    found = quality.score(timeline(BAD), facts(purchase_intent="none", sentiment="negative",
                                               customer_name="Müşteri"))
    got = scores(found)
    assert got == {
        "greeting": 1,  # only the bot greeted
        "response_speed": 0, "personalisation": 0, "need_discovery": 0,
        "product_knowledge": None,  # the clinic's knowledge base knows nothing of parcels
        "clarity": 2, "empathy": 0, "objection_handling": None, "offer_made": None,
        "price_communicated": None, "call_to_action": None, "follow_up": 0,
        "correct_information": None,  # the only figure is the customer's own
        "closing": 0, "tone": 0}
    assert quality.quality_score(found) == 17  # 3 points of 18 (9 criteria apply)
    by_key = {item.criterion: item for item in found}
    # The bot answered at once; the customer waited three hours for a person.
    assert by_key["response_speed"].params == {"first": 180, "slowest": 318}
    assert by_key["tone"].params == {"words": "daha önce söyledim"}


def test_criteria_that_do_not_apply_and_the_score_they_leave():
    plain = [(0, "customer", "Merhaba, bilgi alabilir miyim?"),
             (1, "agent", "Merhaba, tabii ki, nasıl yardımcı olabilirim?")]
    found = {item.criterion: item for item in quality.score(
        timeline(plain), facts(knowledge=None, closed=False, purchase_intent="low"))}
    assert found["product_knowledge"].score is None
    assert found["product_knowledge"].reason == "The knowledge base is empty."
    assert found["correct_information"].score is None
    assert found["closing"].score is None  # still open
    assert found["objection_handling"].score is None
    assert found["price_communicated"].score is None
    assert found["offer_made"].score == 0  # some intent: an offer was possible
    applicable = [item.score for item in found.values() if item.score is not None]
    assert quality.quality_score(found.values()) == round(
        sum(applicable) / (2 * len(applicable)) * 100)
    # No agent at all: nothing applies, no score.
    bot_only = quality.score(timeline([(0, "customer", "Merhaba"), (0, "bot", "Merhaba!")]),
                             facts())
    assert all(item.score is None for item in bot_only)
    assert quality.quality_score(bot_only) is None


def test_figures_are_checked_against_the_knowledge_base():
    lines = [(0, "customer", "İmplant fiyatı nedir, cumartesi açık mısınız?"),
             (1, "agent", "Merhaba, implant 25.000 TL, cumartesi 10:00-16:00 açığız.")]
    found = {item.criterion: item for item in quality.score(timeline(lines), facts())}
    assert found["correct_information"].score == 1
    assert found["correct_information"].params == {"figures": "25.000"}
    assert found["price_communicated"].score == 2
    wrong = [(0, "customer", "İmplant fiyatı nedir?"),
             (1, "agent", "Merhaba, implant 25.000 TL'dir.")]
    found = {item.criterion: item for item in quality.score(timeline(wrong), facts())}
    assert found["correct_information"].score == 0
    # The same, written differently, is the same figure.
    right = [(0, "customer", "İmplant fiyatı nedir?"),
             (1, "agent", "Merhaba, implant 28000 TL'den başlıyor.")]
    found = {item.criterion: item for item in quality.score(timeline(right), facts())}
    assert found["correct_information"].score == 2
    assert found["product_knowledge"].score == 2


def test_price_objection_and_follow_up_rules():
    lines = [(0, "customer", "Fiyat ne kadar? Çok pahalı değil mi"),
             (30, "agent", "Fiyatı muayenede belli oluyor."),
             (40, "agent", "Size dönüş yapacağım.")]
    found = scores(quality.score(timeline(lines), facts(knowledge=None)))
    assert found["price_communicated"] == 1  # talked about, no figure
    assert found["objection_handling"] == 1  # replied, did not address it
    assert found["follow_up"] == 1  # a promise without a time
    assert found["response_speed"] == 1
    assert found["greeting"] == 0
    unanswered = [(0, "customer", "Fiyat ne kadar?"), (1, "agent", "Merhaba, hoş geldiniz.")]
    assert scores(quality.score(timeline(unanswered), facts()))["price_communicated"] == 0


# ---- through the API -------------------------------------------------------------------------


async def with_knowledge(company: Company) -> None:
    await add_faqs(company, FAQS)


async def chat(company: Company, agent: Person, lines: list[tuple[int, str, str]], *,
               name: str = "Ayşe Yılmaz", close: bool = True) -> uuid.UUID:
    """A conversation as ``lines`` say (the agent's lines written by ``agent`` through the
    API), its messages then dated ``START`` + their minute."""
    handle = f"musteri-{uuid.uuid4().hex[:8]}"
    conversation_id: uuid.UUID | None = None
    dated: list[tuple[uuid.UUID, datetime]] = []
    for minute, role, body in lines:
        if role == "customer":
            message = await company.inbound(body, handle=handle, name=name)
            conversation_id, message_id = message.conversation_id, message.id
        elif role == "bot":
            async with company.rt.db.tenant_session(company.tenant_id) as session:
                sent, _ = await inbox.send_message(session, company.system, conversation_id,
                                                   MessageSend(body=body), as_bot=True)
                message_id = sent.id
        else:
            response = await agent.client.post(
                f"/api/v1/conversations/{conversation_id}/messages", json={"body": body})
            assert response.status_code == 201, response.text
            message_id = uuid.UUID(response.json()["id"])
        dated.append((message_id, START + timedelta(minutes=minute)))
    assert conversation_id is not None
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        for message_id, moment in dated:
            await session.execute(update(Message).where(Message.id == message_id)
                                  .values(created_at=moment))
        await session.execute(update(Conversation).where(Conversation.id == conversation_id)
                              .values(last_message_at=dated[-1][1]))
    if close:
        response = await company.ayla.client.post(
            f"/api/v1/conversations/{conversation_id}/close")
        assert response.status_code == 200, response.text
    return conversation_id


async def analyse(person: Person, conversation_id: uuid.UUID, expect: int = 200) -> dict:
    response = await person.client.post(f"{API}/conversations/{conversation_id}")
    assert response.status_code == expect, response.text
    return response.json()


def by_criterion(analysis: dict) -> dict[str, dict]:
    return {item["criterion"]: item for item in analysis["quality"]}


async def stored_count(company: Company) -> int:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(ConversationAnalysis))


async def analyse_jobs(company: Company, conversation_id: uuid.UUID) -> list[dict]:
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        rows = await session.execute(text(
            "SELECT queueing_lock, args, status::text FROM procrastinate_jobs "
            "WHERE task_name = 'ai:analyse' AND args->>'conversation_id' = :id"),
            {"id": str(conversation_id)})
        return [dict(row._mapping) for row in rows]


async def test_a_good_conversation_analysed_now_stored_and_replaced(world):
    home = world.home
    await with_knowledge(home)
    conversation_id = await chat(home, home.bora, GOOD)
    assert (await home.bora.client.get(f"{API}/conversations/{conversation_id}")).status_code \
        == 404  # not analysed yet

    found = await analyse(home.bora, conversation_id)
    assert found["conversation_id"] == str(conversation_id)
    assert found["agent_id"] == str(home.bora.user_id)
    assert found["provider"] == "builtin"
    assert found["sentiment"] in ("neutral", "positive")
    assert found["intent"] in ("medium", "high")
    assert 1 <= len(found["intent_reasons"]) <= 3
    assert found["messages_analysed"] == len(GOOD)
    assert found["last_message_at"].startswith("2025-03-03T09:10")
    assert [item["criterion"] for item in found["quality"]] == list(quality.KEYS)
    criteria = by_criterion(found)
    for key in ("greeting", "response_speed", "personalisation", "need_discovery",
                "objection_handling", "price_communicated", "call_to_action", "follow_up",
                "correct_information", "closing", "tone", "empathy", "product_knowledge"):
        assert criteria[key]["score"] == 2, (key, criteria[key])
    assert found["quality_score"] >= 90
    speed = criteria["response_speed"]
    assert speed["reason_id"] == "First reply after %(first)s min; the slowest after " \
        "%(slowest)s min."
    assert speed["params"] == {"first": 2, "slowest": 2}
    # In the caller's language (the cast's is Turkish).
    assert speed["reason"] == i18n.text("tr", speed["reason_id"], first=2, slowest=2)

    stored = await home.sevgi.client.get(f"{API}/conversations/{conversation_id}")
    assert stored.status_code == 200
    assert stored.json() == found
    again = await analyse(home.sevgi, conversation_id)
    assert again["quality"] == found["quality"]
    assert again["analysed_at"] >= found["analysed_at"]
    assert await stored_count(home) == 1  # replaced, not added


async def test_a_rude_slow_complaint_scores_low(world):
    home = world.home
    await with_knowledge(home)
    conversation_id = await chat(home, home.deniz, BAD, name="Müşteri")
    found = await analyse(home.deniz, conversation_id)
    assert found["sentiment"] == "negative"
    assert found["intent"] == "none"
    assert found["agent_id"] == str(home.deniz.user_id)
    criteria = by_criterion(found)
    for key in ("response_speed", "empathy", "closing", "tone", "follow_up"):
        assert criteria[key]["score"] == 0, (key, criteria[key])
    assert criteria["greeting"]["score"] == 1  # a bot greeted, the agent did not
    for key in ("offer_made", "call_to_action", "price_communicated", "objection_handling"):
        assert criteria[key]["score"] is None, (key, criteria[key])
    assert found["quality_score"] <= 30


async def test_closing_a_conversation_defers_its_analysis_which_the_job_does(world):
    home = world.home
    conversation_id = await chat(home, home.bora, GOOD)
    [job] = await analyse_jobs(home, conversation_id)
    assert job["queueing_lock"] == f"ai.analysis.{conversation_id}"
    assert job["args"] == {"tenant_id": str(home.tenant_id),
                           "conversation_id": str(conversation_id)}
    score = await tasks.analyse(tenant_id=str(home.tenant_id),
                                conversation_id=str(conversation_id))
    stored = (await home.ayla.client.get(f"{API}/conversations/{conversation_id}")).json()
    assert stored["quality_score"] == score
    assert score is not None and score >= 80
    assert by_criterion(stored)["product_knowledge"]["score"] is None  # no knowledge base
    # A conversation that is gone (or another company's) is skipped, not retried forever.
    assert await tasks.analyse(tenant_id=str(world.charlie.tenant_id),
                               conversation_id=str(conversation_id)) is None


async def test_reports_hot_leads_and_averages_per_agent(world):
    home = world.home
    await with_knowledge(home)
    good = await chat(home, home.bora, GOOD)
    bad = await chat(home, home.deniz, BAD, name="Müşteri")
    never = await chat(home, home.bora, GOOD, close=False)  # not analysed: not in the reports
    for conversation_id in (good, bad):
        await analyse(home.sevgi, conversation_id)

    response = await home.sevgi.client.get(f"{API}/hot-leads")
    assert response.status_code == 200, response.text
    leads = response.json()
    assert [lead["conversation_id"] for lead in leads] == [str(good)]
    assert leads[0]["contact_name"] == "Ayşe Yılmaz"
    assert leads[0]["agent_id"] == str(home.bora.user_id)
    assert leads[0]["intent"] in ("medium", "high") and leads[0]["intent_reasons"]
    assert str(never) not in {lead["conversation_id"] for lead in leads}
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await home.sevgi.client.get(f"{API}/hot-leads",
                                        params={"since": later})).json() == []

    response = await home.ayla.client.get(f"{API}/agents")
    assert response.status_code == 200, response.text
    rows = {row["agent_id"]: row for row in response.json()}
    bora, deniz = rows[str(home.bora.user_id)], rows[str(home.deniz.user_id)]
    assert [row["agent_id"] for row in response.json()] == [str(home.bora.user_id),
                                                            str(home.deniz.user_id)]
    assert bora["conversations"] == deniz["conversations"] == 1
    assert bora["quality_score"] > 80 > 30 > deniz["quality_score"]
    assert bora["criteria"]["greeting"] == 2.0 and deniz["criteria"]["greeting"] == 1.0
    assert deniz["criteria"]["tone"] == 0.0
    assert "offer_made" not in deniz["criteria"]  # not applicable: not averaged as 0
    assert set(bora["criteria"]) == set(quality.KEYS)
    refused = await home.ayla.client.get(f"{API}/agents", params={
        "since": "2025-03-02T00:00:00Z", "until": "2025-03-01T00:00:00Z"})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "until"

    # Agents do not read reports; another company sees none of these.
    for path in ("hot-leads", "agents"):
        forbidden = await home.bora.client.get(f"{API}/{path}")
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["code"] == "forbidden"
        async with world.charlie.api_client() as charlie:
            assert (await charlie.get(f"{API}/{path}")).json() == []


async def test_the_batch_endpoint_queues_one_job_per_conversation(world):
    home, charlie = world.home, world.charlie
    first = await chat(home, home.bora, GOOD[:2], close=False)
    second = await chat(home, home.deniz, BAD[:3], close=False)
    body = {"conversation_ids": [str(first), str(second), str(first)]}
    response = await home.sevgi.client.post(f"{API}/conversations", json=body)
    assert (response.status_code, response.json()) == (202, {"queued": 2})
    again = await home.sevgi.client.post(f"{API}/conversations", json=body)
    assert again.status_code == 202
    for conversation_id in (first, second):
        assert len(await analyse_jobs(home, conversation_id)) == 1  # one waits, not two

    # Unknown ids, and another company's, are named; nothing is queued then.
    unknown = uuid.uuid4()
    third = await chat(home, home.bora, GOOD[:2], close=False)
    other = (await charlie.inbound("Merhaba")).conversation_id
    for wrong in (unknown, other):
        refused = await home.sevgi.client.post(f"{API}/conversations", json={
            "conversation_ids": [str(third), str(wrong)]})
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["field"] == "conversation_ids"
        assert str(wrong) in refused.json()["error"]["message"]
    assert await analyse_jobs(home, third) == []

    for bad_body in ({}, {"conversation_ids": [str(first)],
                          "closed_since": "2025-01-01T00:00:00Z"},
                     {"conversation_ids": []},
                     {"conversation_ids": [str(uuid.uuid4()) for _ in range(501)]},
                     {"closed_since": "2025-01-01T00:00:00Z", "limit": 0}):
        refused = await home.sevgi.client.post(f"{API}/conversations", json=bad_body)
        assert refused.status_code == 422, (bad_body, refused.text)
    forbidden = await home.bora.client.post(f"{API}/conversations", json=body)
    assert forbidden.status_code == 403

    # "Everything closed since": the newest, up to the limit.
    closed = [await chat(home, home.bora, GOOD[:2]) for _ in range(3)]
    since = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    response = await home.ayla.client.post(f"{API}/conversations", json={
        "closed_since": since, "limit": 2})
    assert (response.status_code, response.json()) == (202, {"queued": 2})
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await home.ayla.client.post(f"{API}/conversations", json={
        "closed_since": future})
    assert (response.status_code, response.json()) == (202, {"queued": 0})
    assert [len(await analyse_jobs(home, c)) for c in closed] == [1, 1, 1]  # the close's


async def test_who_may_analyse_what(world):
    home, charlie = world.home, world.charlie
    mine = await chat(home, home.bora, GOOD[:2], close=False)  # Bora's now
    # Deniz (in no group) cannot see Bora's conversation: not found, as for any hidden one.
    refused = await home.deniz.client.post(f"{API}/conversations/{mine}")
    assert refused.status_code == 404
    assert (await home.deniz.client.get(f"{API}/conversations/{mine}")).status_code == 404
    await analyse(home.bora, mine)
    assert (await home.deniz.client.get(f"{API}/conversations/{mine}")).status_code == 404
    # Another company: the same 404, by session or key; nothing stored for it.
    assert (await charlie.ayla.client.post(f"{API}/conversations/{mine}")).status_code == 404
    async with charlie.api_client() as key:
        assert (await key.get(f"{API}/conversations/{mine}")).status_code == 404
    assert await stored_count(charlie) == 0
    assert await stored_count(home) == 1


# ---- with the company's LLM ------------------------------------------------------------------


def llm_answer(**changes: Any) -> dict:
    criteria = {key: {"score": 1, "reason": f"{key} yeterli"} for key in quality.KEYS}
    criteria["tone"] = {"score": 2, "reason": "Kibar ve sabırlı"}
    criteria["objection_handling"] = {"score": None, "reason": "İtiraz yok"}
    answer = {"sentiment": "positive", "intent": "high",
              "intent_reasons": ["Randevu almak istiyor", "Fiyat sordu"], "criteria": criteria}
    answer.update(changes)
    return answer




async def test_the_llm_analyses_in_a_strict_schema_and_failures_fall_back(world):
    home = world.home
    await with_knowledge(home)
    conversation_id = await chat(home, home.bora, GOOD, close=False)
    stub = openai_stub.OpenAISimulator()
    stub.chat_replies.data(llm_answer(), usage=(900, 300))
    stub.chat_replies.text("Bu konuşma gayet iyi geçti.")  # not JSON
    missing = llm_answer()
    del missing["criteria"]["closing"]
    stub.chat_replies.data(missing)  # a criterion left out
    stub.chat_replies.data(llm_answer(criteria={
        **llm_answer()["criteria"], "greeting": {"score": 3, "reason": "çok iyi"}}))
    stub.chat_replies.data(llm_answer(intent="very high"))
    async with serving(stub) as url:
        await use_openai_stub(home.ayla, url)
        written = await analyse(home.bora, conversation_id)
        # Nothing new since: the stored analysis is the answer, the LLM is not asked again.
        assert await analyse(home.bora, conversation_id) == written
        assert len(stub.requests) == 1
        fallbacks = []
        for n in range(4):  # a new message each time: analysed again, by a failing LLM
            response = await home.bora.client.post(
                f"/api/v1/conversations/{conversation_id}/messages",
                json={"body": f"Başka bir sorunuz var mı? ({n})"})
            assert response.status_code == 201, response.text
            fallbacks.append(await analyse(home.bora, conversation_id))
        # The job (a close's) asks the LLM too, its transaction committed before the call.
        stub.chat_replies.data(llm_answer(), usage=(10, 5))
        assert await tasks.analyse(tenant_id=str(home.tenant_id),
                                   conversation_id=str(conversation_id)) == round(15 / 28 * 100)
        by_job = (await home.ayla.client.get(f"{API}/conversations/{conversation_id}")).json()
        assert by_job["provider"] == "openai"

    assert written["provider"] == "openai"
    assert (written["sentiment"], written["intent"]) == ("positive", "high")
    assert written["intent_reasons"] == ["Randevu almak istiyor", "Fiyat sordu"]
    criteria = by_criterion(written)
    assert [item["criterion"] for item in written["quality"]] == list(quality.KEYS)
    assert criteria["tone"] == {"criterion": "tone", "score": 2, "reason": "Kibar ve sabırlı",
                                "reason_id": "Kibar ve sabırlı", "params": {}}
    assert criteria["objection_handling"]["score"] is None
    # 13 criteria at 1 point and one at 2, of 14 applicable.
    assert written["quality_score"] == round(15 / 28 * 100)

    call = stub.requests[0]
    assert call.body["response_format"]["type"] == "json_schema"
    assert call.body["response_format"]["json_schema"]["strict"] is True
    system, asked = call.body["messages"]
    assert "Test Kliniği" in system["content"]
    for criterion in quality.CRITERIA:
        assert criterion.key in system["content"]
    assert "Write every reason in Turkish" in " ".join(system["content"].split())
    assert "Agent: Merhaba Ayşe Hanım, ben Bora" in asked["content"]
    assert "Customer: Merhaba, implant fiyatı ne kadar?" in asked["content"]
    assert FAQS[0][1] in asked["content"]  # the knowledge base's passages
    assert "first reply after 2 min" in asked["content"]

    assert len(stub.requests) == 6
    builtin = fallbacks[0]
    assert all(found["provider"] == "builtin" for found in fallbacks)
    assert [found["messages_analysed"] for found in fallbacks] == [
        written["messages_analysed"] + n for n in range(1, 5)]
    assert by_criterion(builtin)["greeting"]["reason_id"] == \
        "Greeted and offered help in the first message."
    usage = (await home.ayla.client.get("/api/v1/ai/usage")).json()
    [counted] = [row for row in usage if row["provider"] == "openai"]
    assert (counted["requests"], counted["failures"], counted["fallbacks"]) == (6, 4, 4)
    assert (counted["input_tokens"], counted["output_tokens"]) == (910, 305)
