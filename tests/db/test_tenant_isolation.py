"""Row-level security: a query that forgets its tenant filter sees nothing of other tenants."""

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from invekto.contacts.models import Contact
from invekto.db.session import set_tenant_scope
from invekto.inbox import service as inbox
from invekto.inbox.models import Conversation, Message


async def test_without_a_tenant_scope_no_tenant_rows_are_visible(world, rt):
    await world.home.inbound("Merhaba")
    await world.charlie.inbound("Selam")
    async with rt.db.transaction() as session:
        assert (await session.scalars(select(Message))).all() == []
        assert (await session.scalars(select(Contact))).all() == []
        raw = await session.execute(text("SELECT count(*) FROM conversations"))
        assert raw.scalar_one() == 0


async def test_a_tenant_scope_sees_only_that_tenant_even_without_a_where_clause(world, rt):
    home_message = await world.home.inbound("Merhaba")
    charlie_message = await world.charlie.inbound("Selam")
    async with rt.db.tenant_session(world.home.tenant_id) as session:
        # Deliberately no tenant filter: RLS alone must keep Charlie's rows out.
        bodies = set((await session.scalars(select(Message.body))).all())
        conversation_ids = set((await session.scalars(select(Conversation.id))).all())
    assert "Merhaba" in bodies
    assert "Selam" not in bodies
    assert home_message.conversation_id in conversation_ids
    assert charlie_message.conversation_id not in conversation_ids


async def test_writing_a_row_for_another_tenant_is_refused(world, rt):
    async with rt.db.sessionmaker() as session, session.begin():
        await set_tenant_scope(session, world.home.tenant_id)
        session.add(Contact(tenant_id=world.charlie.tenant_id, name="Sızma denemesi"))
        with pytest.raises(DBAPIError, match="row-level security"):
            await session.flush()


async def test_updates_and_deletes_cannot_reach_another_tenant(world, rt):
    message = await world.charlie.inbound("Charlie'nin mesajı")
    async with rt.db.tenant_session(world.home.tenant_id) as session:
        updated = await session.execute(text("UPDATE messages SET body = 'ele geçirildi'"))
        deleted = await session.execute(text("DELETE FROM contacts"))
        assert (updated.rowcount, deleted.rowcount) == (0, 0)  # home has none of either
    async with rt.db.tenant_session(world.charlie.tenant_id) as session:
        body = await session.scalar(select(Message.body).where(Message.id == message.id))
        contact = await session.get(Contact, message.contact_id)
    assert body == "Charlie'nin mesajı"
    assert contact is not None


async def test_a_row_cannot_reference_another_tenants_row(world, rt):
    """Foreign-key checks bypass RLS; composite (tenant_id, id) keys close that gap."""
    charlie_message = await world.charlie.inbound("Selam")
    async with rt.db.sessionmaker() as session, session.begin():
        await set_tenant_scope(session, world.home.tenant_id)
        session.add(Conversation(tenant_id=world.home.tenant_id,
                                 contact_id=charlie_message.contact_id,
                                 channel_id=world.home.channel_id))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_scope_does_not_leak_to_the_next_transaction_on_a_pooled_connection(world, rt):
    await world.home.inbound("Merhaba")
    async with rt.db.tenant_session(world.home.tenant_id) as session:
        assert (await session.execute(text("SELECT count(*) FROM messages"))).scalar_one() > 0
    for _ in range(3):  # the pool hands the same connections back
        async with rt.db.transaction() as session:
            assert (await session.execute(text("SELECT count(*) FROM messages"))).scalar_one() == 0
            scope = await session.scalar(text("SELECT current_setting('app.tenant_id', true)"))
            assert scope in (None, "")


async def test_an_unknown_tenant_scope_sees_nothing(world, rt):
    await world.home.inbound("Merhaba")
    async with rt.db.tenant_session(uuid.uuid4()) as session:
        assert (await session.execute(text("SELECT count(*) FROM messages"))).scalar_one() == 0


async def test_ingest_keeps_working_once_psycopg_prepares_its_statements(world, rt):
    """psycopg prepares a statement after 5 runs and PostgreSQL then plans it generically; the
    ON CONFLICT clauses must still match their partial indexes (not so with a bound parameter)."""
    from invekto.inbox.schemas import InboundMessage

    async with rt.db.tenant_session(world.home.tenant_id) as session:
        for index in range(20):
            _, created = await inbox.receive_inbound(
                session, world.home.tenant_id, InboundMessage(
                    channel_id=world.home.channel_id, handle=f"prepared-{index}",
                    provider_message_id=f"prepared-{index}", phone=f"+9053200000{index:02d}",
                    body="Merhaba"))
            assert created
        count = await session.scalar(text("SELECT count(*) FROM conversations"))
    assert count == 20
