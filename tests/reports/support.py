"""Conversations for the reports' tests, made through the real services and then spread over
known times, so that every duration has a known answer."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from invekto.reports import timeline as t
from invekto.reports.service import Period

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # Monday 10:00 in Istanbul
MONDAY_TUESDAY = Period(date(2026, 11, 23), date(2026, 11, 24))


async def sql(company, statement: str, **params):
    async with company.rt.db.tenant_session(company.tenant_id) as session:
        result = await session.execute(text(statement), params)
        return result.all() if result.returns_rows else []


async def post(person, path: str, body: dict | None = None):
    response = await person.client.post(f"/api/v1{path}", json=body or {})
    assert response.status_code in (200, 201), response.text
    return response.json()


async def take_answer_close(company, *, handle: str, agent: str,
                            transfer_to: str | None = None, close: bool = True):
    """A customer writes twice; ``agent`` takes it and answers, maybe hands it on, closes it."""
    first = await company.inbound("Merhaba, fiyat alabilir miyim?", handle=handle)
    conversation = str(first.conversation_id)
    person = getattr(company, agent)
    await post(person, f"/conversations/{conversation}/assign",
               {"assignee_id": str(person.user_id)})
    await post(person, f"/conversations/{conversation}/messages", {"body": "Tabii, hangisi?"})
    await company.inbound("İmplant", handle=handle)
    if transfer_to:
        await post(person, f"/conversations/{conversation}/transfer",
                   {"user_id": str(getattr(company, transfer_to).user_id)})
        person = getattr(company, transfer_to)
    await post(person, f"/conversations/{conversation}/messages", {"body": "15.000 TL"})
    if close:
        await post(person, f"/conversations/{conversation}/close")
    return first.conversation_id


async def set_times(company, conversation_id: uuid.UUID, start: datetime,
                    step: timedelta) -> None:
    """Spread the conversation's messages and changes ``step`` apart from ``start``, in the
    order they happened (the real ones are milliseconds apart); opened at ``start``."""
    await sql(company, """
        WITH timeline AS (
            SELECT id, 'm' AS source, created_at FROM messages WHERE conversation_id = :c
            UNION ALL
            SELECT id, 'e', created_at FROM conversation_events WHERE conversation_id = :c),
        numbered AS (SELECT id, source, row_number() OVER (ORDER BY created_at, source) AS n
                     FROM timeline),
        m AS (UPDATE messages SET created_at = :start + (n.n - 1) * :step
              FROM numbered n WHERE n.source = 'm' AND messages.id = n.id)
        UPDATE conversation_events SET created_at = :start + (n.n - 1) * :step
        FROM numbered n WHERE n.source = 'e' AND conversation_events.id = n.id""",
              c=conversation_id, start=start, step=step)
    # Moving the opening marks the conversation for the refresher (its trigger).
    await sql(company, "UPDATE conversations SET opened_at = :start WHERE id = :c",
              c=conversation_id, start=start)


async def add_two_known_days(home) -> None:
    """Monday 10:00, Bora, a minute a step: in, assigned, out, in, out, closed (replies 120 s
    and 60 s, resolution 300 s). Tuesday 10:00, Deniz, two minutes a step (240 s, 120 s,
    600 s; tagged "implant"). Sunday 10:00, Bora, left open (120 s, 60 s)."""
    monday = await take_answer_close(home, handle="pazartesi", agent="bora")
    await set_times(home, monday, T0, timedelta(minutes=1))
    tuesday = await take_answer_close(home, handle="sali", agent="deniz")
    await post(home.sevgi, "/tags", {"name": "implant"})
    await post(home.deniz, f"/conversations/{tuesday}/tags", {"add": ["implant"]})
    await set_times(home, tuesday, T0 + timedelta(days=1), timedelta(minutes=2))
    sunday = await take_answer_close(home, handle="pazar", agent="bora", close=False)
    await set_times(home, sunday, T0 - timedelta(days=1), timedelta(minutes=1))


async def rollup_by_kind(company, table: str = "report_hourly", tag: str = "") -> dict[str, int]:
    return dict(await sql(company, f"SELECT kind, sum(count)::int FROM {table} "
                                    "WHERE tag = :tag GROUP BY kind", tag=tag))


async def assert_rollups_equal_the_source_tables(company) -> None:
    rollup = await rollup_by_kind(company)
    facts = dict(await sql(company, "SELECT kind, count(*)::int FROM report_facts "
                                     "GROUP BY kind"))
    assert rollup == facts
    assert await rollup_by_kind(company, "report_daily") == facts
    # Per tag: the sums of each tag are those of the facts of the conversations carrying it.
    for (tag,) in await sql(company, "SELECT DISTINCT unnest(tags) FROM conversations"):
        tagged = dict(await sql(company, """
            SELECT f.kind, count(*)::int FROM report_facts f
            JOIN conversations c ON c.id = f.conversation_id
            WHERE :tag = ANY(c.tags) GROUP BY f.kind""", tag=tag))
        assert tagged
        for table in ("report_hourly", "report_daily"):
            assert await rollup_by_kind(company, table, tag) == tagged, (table, tag)
    for table in ("report_hourly", "report_daily"):  # subtracted to nothing: deleted
        assert await sql(company, f"SELECT count(*) FROM {table} WHERE count = 0") == [(0,)]
    [(inbound, outbound)] = await sql(company, """
        SELECT count(*) FILTER (WHERE direction = 'inbound')::int,
               count(*) FILTER (WHERE direction = 'outbound')::int
        FROM messages WHERE content_kind <> 'call'""")
    assert (rollup.get(t.MESSAGE_IN, 0), rollup.get(t.MESSAGE_OUT, 0)) == (inbound, outbound)
    [(opened,)] = await sql(company, "SELECT count(*)::int FROM conversations")
    assert rollup.get(t.OPENED, 0) == opened
    [(closes,)] = await sql(company, "SELECT count(*)::int FROM conversation_events "
                                      "WHERE kind = 'closed'")
    assert rollup.get(t.CLOSED, 0) == closes
    # Per local day and agent, as a report groups them: the sums equal the messages' own.
    raw = await sql(company, """
        SELECT (created_at AT TIME ZONE 'Europe/Istanbul')::date, sender_user_id,
               count(*)::int
        FROM messages WHERE direction = 'outbound' GROUP BY 1, 2 ORDER BY 1, 2""")
    assert await sql(company, """
        SELECT (hour AT TIME ZONE 'Europe/Istanbul')::date, user_id, sum(count)::int
        FROM report_hourly WHERE kind = 'message_out' AND tag = ''
        GROUP BY 1, 2 ORDER BY 1, 2""") == raw
    assert await sql(company, """
        SELECT day, user_id, sum(count)::int FROM report_daily
        WHERE kind = 'message_out' AND tag = '' GROUP BY 1, 2 ORDER BY 1, 2""") == raw
    [(seconds_rollup, seconds_facts)] = await sql(company, """
        SELECT (SELECT sum(seconds_sum) FROM report_daily WHERE kind = 'reply' AND tag = ''),
               (SELECT sum(seconds) FROM report_facts WHERE kind = 'reply')""")
    assert seconds_rollup == seconds_facts
