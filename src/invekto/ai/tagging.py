"""A company's tags in the inbox: suggested to the agent while a conversation is open, or put
on by themselves when it closes (the company's ``tagging_mode``: off, suggest, apply), always
from its own tag catalogue, learnt from how its agents tagged past conversations.

- Examples: when a conversation closes, the ``ai:learn_tags`` job keeps its customer text
  (``classify.conversation_text``) and that text's embedding in ``ai_tag_examples``, one row
  per conversation, replaced when it closes again with more said. The tags are not copied:
  they are read from the conversation when a model is fitted, so an agent's later correction
  counts.
- The model (``classify.TagModel``): fitted per company from the stored embeddings (nothing is
  embedded again) of its newest tagged examples, with only the tags still in its catalogue,
  and never from the AI's own tags (``ai_applied``: it would learn itself). Kept per process
  for a few companies while its fingerprint — how many examples, the newest one's time, the
  catalogue — stays the same; fitting runs in a worker thread.
- Suggestions: a conversation's customer text so far, embedded once; the tags it does not have
  yet, at or above the company's threshold.
- Apply mode: the close job then tags an untagged conversation with the tags at or above the
  threshold (``classify.choose_tags``: at most three), as the system with the reason ``ai``;
  its example is marked ``ai_applied`` until a person changes the conversation's tags."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict

import numpy as np
from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.ai import classify, service
from invekto.ai.models import TagExample
from invekto.ai.providers.builtin import MAX_CHARS, embedder
from invekto.contacts.models import Tag
from invekto.core import jobs
from invekto.core.actor import Actor
from invekto.db.base import new_id
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, Message

# A model learns from the company's newest examples, at most this many.
MAX_EXAMPLES = 2000
# Fitted models kept per process: a few companies' (each a few MB).
MODELS_KEPT = 8
# The reason the thread's "tagged" event carries when the AI tagged the conversation.
AI_REASON = "ai"


async def customer_text(session: AsyncSession, tenant_id: uuid.UUID,
                        conversation_id: uuid.UUID) -> str:
    """What a conversation is tagged by: its customer's text messages, in order, cut where the
    embedding stops reading (what its first messages say is what it is about)."""
    bodies = await session.scalars(select(Message.body).where(
        Message.tenant_id == tenant_id, Message.conversation_id == conversation_id,
        Message.direction == "inbound", Message.content_kind.in_(("text", "interactive")),
        Message.body != "").order_by(Message.created_at, Message.id))
    return classify.conversation_text(bodies.all())[:MAX_CHARS]


async def _embed(text: str) -> list[float]:
    [vector] = await embedder().embed([text], kind=classify.TAG_EMBEDDING_KIND)
    return vector


# ---- hooks and the close job -------------------------------------------------------------------


async def after_close(session: AsyncSession, tenant_id: uuid.UUID,
                      conversation_id: uuid.UUID) -> None:
    """Keep a closed conversation's text for learning, and tag it in apply mode (a job:
    embedding and fitting take time)."""
    from invekto.ai import tasks  # the job module imports this one

    await jobs.defer(session, tasks.learn_tags, tenant_id=str(tenant_id),
                     conversation_id=str(conversation_id))


async def tags_changed_by_person(session: AsyncSession, tenant_id: uuid.UUID,
                                 conversation_id: uuid.UUID) -> None:
    """A person's tags are the company's own again: learnt from, and the model is refitted
    (its fingerprint has the examples' newest time)."""
    await session.execute(update(TagExample).where(
        TagExample.tenant_id == tenant_id, TagExample.conversation_id == conversation_id)
        .values(ai_applied=False, updated_at=func.now()))


async def store_example(session: AsyncSession, tenant_id: uuid.UUID,
                        conversation_id: uuid.UUID) -> tuple[str, list[float]] | None:
    """Keep the conversation's customer text and its embedding; (text, embedding), or None
    when the customer wrote nothing. Unchanged text is not embedded again."""
    text = await customer_text(session, tenant_id, conversation_id)
    if not text:
        return None
    kept = await session.scalar(select(TagExample).where(
        TagExample.tenant_id == tenant_id, TagExample.conversation_id == conversation_id))
    if kept is not None and kept.text == text:
        return text, [float(value) for value in kept.embedding]
    vector = await _embed(text)
    statement = pg_insert(TagExample).values(
        id=new_id(), tenant_id=tenant_id, conversation_id=conversation_id, text=text,
        embedding=vector, embedding_model=embedder().name)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id", "conversation_id"],
        set_={"text": statement.excluded.text, "embedding": statement.excluded.embedding,
              "embedding_model": statement.excluded.embedding_model,
              "updated_at": func.now()}))
    return text, vector


async def learn_and_apply(session: AsyncSession, tenant_id: uuid.UUID,
                          conversation_id: uuid.UUID) -> list[str]:
    """The close job: keep the example; in apply mode, tag the conversation if it is still
    closed and untagged. Returns the tags the AI put on (run again, it adds none)."""
    stored = await store_example(session, tenant_id, conversation_id)
    if stored is None:
        return []
    settings = await service.get_settings(session, tenant_id)
    if settings.tagging_mode != "apply":
        return []
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.status != "closed" or conversation.tags:
        return []
    text, vector = stored
    model = await model_for(session, tenant_id)
    [probabilities] = model.predict([text], embeddings=np.asarray([vector], dtype=np.float64))
    chosen = classify.choose_tags(probabilities, settings.tag_threshold)
    if not chosen:
        return []
    await inbox.change_tags(session, Actor.system(tenant_id), conversation_id, add=chosen,
                            remove=[], reason=AI_REASON)
    await session.execute(update(TagExample).where(
        TagExample.tenant_id == tenant_id, TagExample.conversation_id == conversation_id)
        .values(ai_applied=True))
    return chosen


# ---- the company's model -----------------------------------------------------------------------

_models: OrderedDict[uuid.UUID, tuple[tuple, classify.TagModel]] = OrderedDict()


def _learnt_from(tenant_id: uuid.UUID):
    """The examples a model learns from: conversations a person (or a rule) tagged."""
    return and_(TagExample.tenant_id == tenant_id, TagExample.ai_applied.is_(False),
                func.cardinality(Conversation.tags) > 0)


def _joined(query):
    return query.join(Conversation, and_(Conversation.tenant_id == TagExample.tenant_id,
                                         Conversation.id == TagExample.conversation_id))


async def _fingerprint(session: AsyncSession, tenant_id: uuid.UUID) -> tuple:
    catalogue = tuple(await session.scalars(select(Tag.name).where(
        Tag.tenant_id == tenant_id).order_by(Tag.name)))
    count, newest = (await session.execute(_joined(
        select(func.count(), func.max(TagExample.updated_at)).select_from(TagExample))
        .where(_learnt_from(tenant_id)))).one()
    return count, newest, catalogue


async def model_for(session: AsyncSession, tenant_id: uuid.UUID) -> classify.TagModel:
    """The company's tag model, fitted again only when its examples or catalogue changed."""
    fingerprint = await _fingerprint(session, tenant_id)
    cached = _models.get(tenant_id)
    if cached is not None and cached[0] == fingerprint:
        _models.move_to_end(tenant_id)
        return cached[1]
    catalogue = set(fingerprint[2])
    rows = await session.execute(_joined(
        select(TagExample.text, TagExample.embedding, Conversation.tags).select_from(TagExample))
        .where(_learnt_from(tenant_id))
        .order_by(TagExample.updated_at.desc(), TagExample.id).limit(MAX_EXAMPLES))
    examples, vectors = [], []
    for text, vector, tags in rows:
        known = [tag for tag in tags if tag in catalogue]
        if known:
            examples.append((text, known))
            vectors.append(np.asarray(vector, dtype=np.float64))
    if examples:
        model = await asyncio.to_thread(classify.TagModel.fit, examples,
                                        embeddings=np.vstack(vectors))
    else:
        model = classify.TagModel()
    _models[tenant_id] = (fingerprint, model)
    _models.move_to_end(tenant_id)
    while len(_models) > MODELS_KEPT:
        _models.popitem(last=False)
    return model


# ---- suggestions -------------------------------------------------------------------------------


async def suggest_tags(session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
                       ) -> list[tuple[str, float]]:
    """(tag, probability) for a conversation the actor may see, most probable first: the tags
    it does not have yet at or above the company's threshold. None when tagging is off, the
    customer wrote nothing, or the model has learnt no tag."""
    conversation = await inbox.get_conversation(session, actor, conversation_id)
    settings = await service.get_settings(session, actor.tenant_id)
    if settings.tagging_mode == "off":
        return []
    text = await customer_text(session, actor.tenant_id, conversation.id)
    if not text:
        return []
    model = await model_for(session, actor.tenant_id)
    candidates = [tag for tag in model.tags if tag not in conversation.tags]
    if not candidates:
        return []
    [probabilities] = model.predict(
        [text], embeddings=np.asarray([await _embed(text)], dtype=np.float64))
    open_ones = {tag: probabilities[tag] for tag in candidates}
    return [(tag, round(open_ones[tag], 3))
            for tag in classify.choose_tags(open_ones, settings.tag_threshold)]
