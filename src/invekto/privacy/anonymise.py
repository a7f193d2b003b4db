"""Anonymising conversations: what was said goes, the fact that it was said stays.

Erasure (a contact's request) and retention (closed conversations past the company's limit)
both come here. A message keeps its row, direction, sender, times, status, channel and kind, so
every report number (counts, response times, calls' outcomes and talk time, CSAT scores) is the
same afterwards; its text becomes a marker, its structured content (a location, a shared
contact card, a template's values, buttons) goes, and so does its file. What quotes the
customer elsewhere goes with it: internal notes, the list's preview line, a transfer's note,
the AI's memory of answers and tag examples, an LLM's reasons, chatbot answers, a CSAT
comment, scheduled messages not yet sent, automation run details.

This sweeps other domains' tables on purpose: erasure has to reach wherever a conversation's
words were copied, in one transaction. A domain that starts keeping customer text in a new
place adds it here (docs/architecture.md, "Data protection").

Files are not deleted here: their rows go in the transaction, and the stored bytes are deleted
by the ``privacy:delete_files`` job deferred in the same transaction (``tasks``), so a rolled
back erasure never leaves rows pointing at deleted files.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.core import i18n
from invekto.core.i18n import N_
from invekto.tenants.models import Tenant

# Stored in the company's language; the reasons of an LLM's analysis keep the English key (the
# analysis panel translates them as it shows them).
CONTENT_ERASED = N_("[Content erased]")
ERASED_CONTACT = N_("Erased contact")

# What of a call's record the reports read and the thread shows: how it went, not who called
# (the numbers) or a link to the recording.
_CALL_KEPT = ("direction", "outcome", "duration_seconds", "started_at", "ended_at", "agent",
              "voicemail")
_CLEAN_PAYLOAD = (
    "CASE WHEN jsonb_typeof(payload -> 'call') = 'object' THEN jsonb_build_object('call', "
    "jsonb_strip_nulls(jsonb_build_object("
    + ", ".join(f"'{key}', payload -> 'call' -> '{key}'" for key in _CALL_KEPT)
    + "))) ELSE '{}'::jsonb END")
# The statements below format in only these constants of this module, never a value: values
# are bound parameters.
# Free text an event may carry beside ids: a transfer's note, a campaign message's text.
_EVENT_TEXT_KEYS = "ARRAY['note', 'body', 'text', 'comment']"

# Files the company itself sends (a quick reply's, a chatbot step's): never a customer's, and
# other conversations show them too, so anonymising one conversation leaves them.
COMPANY_FILES = """
    SELECT attachment_id::text AS id FROM quick_replies
     WHERE tenant_id = :tenant AND attachment_id IS NOT NULL
    UNION SELECT found #>> '{}' FROM flows, jsonb_path_query(draft, 'lax $.**.attachment_id') found
     WHERE tenant_id = :tenant
    UNION SELECT found #>> '{}' FROM flow_versions,
                 jsonb_path_query(graph, 'lax $.**.attachment_id') found
     WHERE tenant_id = :tenant"""


@dataclass
class RemovedFiles:
    """Attachment rows deleted: how many, their bytes, and the stored files to delete."""

    count: int = 0
    bytes: int = 0
    storage_keys: list[str] = field(default_factory=list)

    def add(self, other: RemovedFiles) -> None:
        self.count += other.count
        self.bytes += other.bytes
        self.storage_keys += other.storage_keys


@dataclass
class Anonymised:
    conversations: int = 0
    messages: int = 0
    notes: int = 0
    files: RemovedFiles = field(default_factory=RemovedFiles)


async def company_language(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    language = await session.scalar(select(Tenant.default_language).where(
        Tenant.id == tenant_id))
    return language if language in i18n.LANGUAGES else "tr"


async def _run(session: AsyncSession, statement: str, **params) -> int:
    return (await session.execute(text(statement), params)).rowcount


async def delete_attachments(session: AsyncSession, tenant_id: uuid.UUID,
                             attachment_ids: list[uuid.UUID]) -> RemovedFiles:
    """Delete these attachment rows (messages, quick replies and call recordings that pointed
    at them point at nothing); the stored files are the caller's to delete after commit."""
    if not attachment_ids:
        return RemovedFiles()
    rows = (await session.execute(text(
        "DELETE FROM attachments WHERE tenant_id = :tenant AND id = ANY(:ids) "
        "RETURNING storage_key, size_bytes"), {"tenant": tenant_id, "ids": attachment_ids})).all()
    return RemovedFiles(len(rows), sum(size for _, size in rows), [key for key, _ in rows])


async def anonymise_conversations(session: AsyncSession, tenant_id: uuid.UUID,
                                  conversation_ids: list[uuid.UUID], *, reason: str,
                                  language: str) -> Anonymised:
    """Replace the content of these conversations (see the module's docstring) and record them
    as anonymised now. Safe to repeat: a second pass changes nothing that matters."""
    if not conversation_ids:
        return Anonymised()
    marker = i18n.text(language, CONTENT_ERASED)
    scope = {"tenant": tenant_id, "ids": conversation_ids}
    attached = list((await session.scalars(text(
        "SELECT DISTINCT attachment_id FROM messages WHERE tenant_id = :tenant "
        "AND conversation_id = ANY(:ids) AND attachment_id IS NOT NULL"), scope)).all())
    # The files only these conversations show; one another conversation shows too (a
    # chatbot's picture) stays for it. One pass over the company's messages, not one a file.
    own_files = list((await session.scalars(text(f"""
        WITH company_files AS ({COMPANY_FILES})
        SELECT a.id FROM attachments a
         WHERE a.tenant_id = :tenant AND a.id = ANY(:attached)
           AND a.id NOT IN (SELECT m.attachment_id FROM messages m
                             WHERE m.tenant_id = :tenant AND m.attachment_id = ANY(:attached)
                               AND NOT (m.conversation_id = ANY(:ids)))
           AND NOT EXISTS (SELECT 1 FROM company_files f WHERE f.id = a.id::text)"""),  # noqa: S608
        {**scope, "attached": attached})).all()) if attached else []

    messages = await _run(session, """
        UPDATE messages SET body = CASE WHEN content_kind = 'call' THEN '' ELSE :marker END,
               attachment_id = NULL, error_message = NULL
         WHERE tenant_id = :tenant AND conversation_id = ANY(:ids)""", marker=marker, **scope)
    # Only where something goes: the payload's update marks the conversation for the reports
    # to derive again (same numbers, needless work).
    await _run(session, f"""
        UPDATE messages SET payload = {_CLEAN_PAYLOAD}
         WHERE tenant_id = :tenant AND conversation_id = ANY(:ids)
           AND payload <> {_CLEAN_PAYLOAD}""", **scope)  # noqa: S608
    notes = await _run(session, """
        UPDATE notes SET body = :marker WHERE tenant_id = :tenant
           AND conversation_id = ANY(:ids) AND body <> :marker""", marker=marker, **scope)
    await _run(session, """
        UPDATE conversations SET last_message_preview = :marker
         WHERE tenant_id = :tenant AND id = ANY(:ids) AND last_message_preview <> ''""",
               marker=marker[:200], **scope)
    await _run(session, f"""
        UPDATE conversation_events SET data = data - {_EVENT_TEXT_KEYS}
         WHERE tenant_id = :tenant AND conversation_id = ANY(:ids)
           AND data ?| {_EVENT_TEXT_KEYS}""", **scope)  # noqa: S608
    await _clear_follow_on(session, scope)
    await _clear_ai(session, scope)
    await _run(session, """
        INSERT INTO privacy_anonymised (tenant_id, conversation_id, reason)
        SELECT :tenant, id, :reason FROM conversations
         WHERE tenant_id = :tenant AND id = ANY(:ids)
        ON CONFLICT (tenant_id, conversation_id)
        DO UPDATE SET reason = EXCLUDED.reason, anonymised_at = now()""",
               reason=reason, **scope)
    files = await delete_attachments(session, tenant_id, own_files)
    return Anonymised(len(conversation_ids), messages, notes, files)


async def _clear_follow_on(session: AsyncSession, scope: dict) -> None:
    """What would still speak to or about the customer later: an unsent scheduled message, a
    follow-up sequence, a survey not yet asked; and what they answered a chatbot, a survey or
    a rule's steps."""
    await _run(session, """
        UPDATE scheduled_messages
           SET status = CASE WHEN status = 'scheduled' THEN 'cancelled' ELSE status END,
               spec = '{}'::jsonb
         WHERE tenant_id = :tenant AND conversation_id = ANY(:ids) AND spec <> '{}'::jsonb""",
               **scope)
    await _run(session, """
        UPDATE follow_up_runs SET state = 'stopped', stop_reason = 'cancelled', next_at = NULL,
               ended_at = now()
         WHERE tenant_id = :tenant AND conversation_id = ANY(:ids) AND state = 'running'""",
               **scope)
    # A survey asked counts in the reports (its score kept); one not asked yet is never sent.
    await _run(session, """
        DELETE FROM csat_responses WHERE tenant_id = :tenant AND conversation_id = ANY(:ids)
           AND asked_at IS NULL""", **scope)
    await _run(session, """
        UPDATE csat_responses SET comment = ''
         WHERE tenant_id = :tenant AND conversation_id = ANY(:ids) AND comment <> ''""",
               **scope)
    await _run(session, """
        UPDATE flow_sessions SET variables = '{}'::jsonb,
               trail = CASE WHEN jsonb_typeof(trail) = 'array' THEN coalesce(
                   (SELECT jsonb_agg(entry.value - 'detail')
                      FROM jsonb_array_elements(trail) entry),
                   '[]'::jsonb) ELSE '[]'::jsonb END
         WHERE tenant_id = :tenant AND conversation_id = ANY(:ids)""", **scope)
    await _run(session, """
        UPDATE automation_runs SET error = '',
               results = CASE WHEN jsonb_typeof(results) = 'array' THEN coalesce(
                   (SELECT jsonb_agg(entry.value - 'detail')
                      FROM jsonb_array_elements(results) entry), '[]'::jsonb) ELSE '[]'::jsonb END
         WHERE tenant_id = :tenant AND conversation_id = ANY(:ids)""", **scope)


async def _clear_ai(session: AsyncSession, scope: dict) -> None:
    """The AI's copies: answers remembered with the customer's question, texts kept to learn
    tags from, and an LLM's own words about the conversation (the builtin analysis's reasons
    are fixed sentences; the scores stay for the quality reports)."""
    await _run(session, "DELETE FROM ai_answer_memory WHERE tenant_id = :tenant "
                        "AND conversation_id = ANY(:ids)", **scope)
    await _run(session, "DELETE FROM ai_tag_examples WHERE tenant_id = :tenant "
                        "AND conversation_id = ANY(:ids)", **scope)
    await _run(session, """
        UPDATE conversation_analyses SET intent_reasons = jsonb_build_array(CAST(:erased AS text)),
               quality = CASE WHEN jsonb_typeof(quality) = 'array' THEN coalesce(
                   (SELECT jsonb_agg(entry.value || jsonb_build_object(
                               'reason', CAST(:erased AS text), 'params', '{}'::jsonb))
                      FROM jsonb_array_elements(quality) entry), '[]'::jsonb)
                   ELSE '[]'::jsonb END
         WHERE tenant_id = :tenant AND conversation_id = ANY(:ids) AND provider <> 'builtin'""",
               erased=CONTENT_ERASED, **scope)
