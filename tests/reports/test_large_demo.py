"""`invekto demo --scale large`, built small: the generator's company has the shape it promises
(turns of customer and agent, closes, surveys, presence), the real refresher derives all of it,
and the hourly sums equal what its source tables say."""

from __future__ import annotations

from types import SimpleNamespace

from invekto import demo_large
from tests.factories import unique_slug
from tests.reports.support import assert_rollups_equal_the_source_tables, sql


async def test_the_large_demo_generator_at_a_small_size(rt, database_url):
    company = await demo_large.build(rt.settings, database_url, conversations=600, days=14,
                                     slug=unique_slug("buyuk"))
    assert 450 <= company.conversations <= 750  # fewer at weekends, as planned
    assert 8 <= company.messages / company.conversations <= 12  # 10 on average
    made = SimpleNamespace(rt=rt, tenant_id=company.tenant_id)
    [(closed, surveyed, answered, presence, transferred)] = await sql(made, """
        SELECT (SELECT count(*) FROM conversations WHERE status = 'closed'),
               (SELECT count(*) FROM csat_responses),
               (SELECT count(*) FROM csat_responses WHERE score IS NOT NULL),
               (SELECT count(*) FROM presence_periods),
               (SELECT count(*) FROM conversation_events WHERE kind = 'transferred')""")
    assert closed > 0.8 * company.conversations  # the last two days half open
    assert 0 < answered < surveyed < closed
    assert presence > 0 and transferred > 0
    # Customer and agent take turns: half the messages are the agents'.
    [(inbound, outbound)] = await sql(made, """
        SELECT count(*) FILTER (WHERE direction = 'inbound'),
               count(*) FILTER (WHERE direction = 'outbound') FROM messages""")
    assert inbound == outbound
    # Everything derived, and the sums agree with the tables they came from.
    assert await sql(made, "SELECT count(*) FROM report_dirty") == [(0,)]
    [(first_responses,)] = await sql(made, "SELECT count(*) FROM report_facts "
                                           "WHERE kind = 'first_response'")
    assert first_responses == company.conversations
    await assert_rollups_equal_the_source_tables(made)
