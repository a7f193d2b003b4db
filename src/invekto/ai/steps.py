"""The flow builder's "AI answer" step (``ai_answer``): a flow asks the AI to answer the
customer's question from the knowledge base, as auto-answer does (``auto_answer.decide``: the
company's own text at or above its answer threshold, or its LLM's answer with every number
found in the passages it cites).

The node's ``question`` (a text with variables, say ``{{ var.soru }}`` from an "Ask and save"
step) is what is asked; left empty, the customer's latest messages are (``suggestions.
customer_question``: since the business last wrote). Confident: the answer is sent, kept in
the node's ``save_as`` variable, and the flow goes on at ``next``; unsure: it goes to
``unsure_next`` (usually a hand-off; none set, the flow ends and people take over). In the
builder's test panel there is no conversation: an empty question is unsure there.

Registered when ``invekto.tasks`` is imported: by the web app and by the worker alike."""

from __future__ import annotations

from invekto import runtime
from invekto.core.actor import Actor
from invekto.core.i18n import N_
from invekto.flows import steps
from invekto.flows.steps import StepCall, StepKind, StepResult

KIND = "ai_answer"


async def _run(call: StepCall) -> StepResult:
    from invekto.ai import auto_answer, suggestions  # local: they import the inbox and flows
    from invekto.inbox import service as inbox
    from invekto.inbox.models import Conversation
    from invekto.replies import variables

    db = runtime.current().db
    question = call.rendered.get("question", "").strip()
    channel_id = None
    if call.conversation_id is not None:
        async with db.tenant_session(call.tenant_id) as session:
            conversation = await session.get(Conversation, call.conversation_id)
            if conversation is not None:
                channel_id = conversation.channel_id
                if not question:
                    question = await suggestions.customer_question(
                        session, Actor.system(call.tenant_id), conversation.id)
    if not question:
        return StepResult(exit="unsure_next", detail="no question")
    decision = await auto_answer.decide(db, call.tenant_id, question, channel_id=channel_id)
    if not decision.confident or decision.answer is None:
        return StepResult(exit="unsure_next", detail=f"unsure ({decision.confidence:.2f})")
    answer = decision.answer
    if decision.source == "knowledge" and "{" in answer and call.contact_id is not None:
        async with db.tenant_session(call.tenant_id) as session:  # the company's variables
            answer = variables.render(answer, await inbox.text_values(
                session, call.tenant_id, call.contact_id))
    save_as = call.node.get("save_as")
    return StepResult(reply=answer, values={save_as: answer} if save_as else {},
                      detail=f"answered ({decision.confidence:.2f})")


AI_ANSWER = StepKind(
    kind=KIND, label=N_("AI answer"), run=_run, exits=("next", "unsure_next"),
    texts=("question",),
    fields=({"key": "question", "label": N_("Question (empty: the customer's last message)"),
             "type": "text"},
            {"key": "save_as", "label": N_("Save the answer as"), "type": "variable"}),
    saves=lambda node: [node["save_as"]] if isinstance(node.get("save_as"), str)
    and node["save_as"] else [])

steps.register_step(AI_ANSWER)
