"""inbox UI: text search, conversation events, notifications, saved views, quick replies,
priority and snooze, presence

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_TENANT_TABLES = ("conversation_events", "notifications", "saved_views", "quick_replies")


def _id_columns() -> list[sa.Column]:
    return [sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("tenant_id", sa.Uuid(), nullable=False)]


def _tenant_fk(table: str, column: str, target: str, ondelete: str = "CASCADE"
               ) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"],
        name=op.f(f"fk_{table}_tenant_id_{column}_{target}"),
        ondelete=f"SET NULL ({column})" if ondelete == "SET NULL" else ondelete)


def _tenants_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                   name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE")


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                      nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                      nullable=False)]


def upgrade() -> None:
    # Messages: Turkish stemming after accent folding, so "gorusme" finds "görüşmemizi".
    op.execute("CREATE TEXT SEARCH CONFIGURATION invekto_turkish (COPY = pg_catalog.turkish)")
    op.execute("ALTER TEXT SEARCH CONFIGURATION invekto_turkish ALTER MAPPING FOR "
               "hword, hword_part, word WITH unaccent, turkish_stem")
    # Names and e-mail addresses: folded, never stemmed ("Ayşe" is not a word to inflect).
    op.execute("CREATE TEXT SEARCH CONFIGURATION invekto_names (COPY = pg_catalog.simple)")
    op.execute("ALTER TEXT SEARCH CONFIGURATION invekto_names ALTER MAPPING FOR "
               "hword, hword_part, word, asciiword, asciihword, hword_asciipart WITH unaccent, "
               "simple")

    op.add_column("messages", sa.Column(
        "search_vector", postgresql.TSVECTOR(),
        sa.Computed("to_tsvector('invekto_turkish'::regconfig, body)", persisted=True),
        nullable=True))
    op.create_index("ix_messages_search", "messages", ["search_vector"], postgresql_using="gin")
    op.add_column("contacts", sa.Column(
        "search_vector", postgresql.TSVECTOR(),
        sa.Computed("to_tsvector('invekto_names'::regconfig, coalesce(name, '') || ' ' || "
                    "coalesce(email, ''))", persisted=True), nullable=True))
    op.create_index("ix_contacts_search", "contacts", ["search_vector"], postgresql_using="gin")
    op.create_index("ix_contacts_phone_trgm", "contacts", ["phone"], postgresql_using="gin",
                    postgresql_ops={"phone": "gin_trgm_ops"})

    op.add_column("conversations", sa.Column("priority", sa.String(length=10),
                                             server_default="normal", nullable=False))
    op.add_column("conversations", sa.Column("snoozed_until", sa.DateTime(timezone=True),
                                             nullable=True))
    op.add_column("conversations", sa.Column("waiting_since", sa.DateTime(timezone=True),
                                             nullable=True))
    op.create_check_constraint(op.f("ck_conversations_priority_valid"), "conversations",
                               "priority IN ('low', 'normal', 'high', 'urgent')")
    op.create_index("ix_conversations_snoozed", "conversations", ["snoozed_until"],
                    postgresql_where=sa.text("snoozed_until IS NOT NULL"))
    op.create_index("ix_conversations_recent", "conversations",
                    ["tenant_id", sa.text("last_message_at DESC"), sa.text("id DESC")])

    op.add_column("users", sa.Column("presence", sa.String(length=10), server_default="offline",
                                     nullable=False))
    op.add_column("users", sa.Column("presence_changed_at", sa.DateTime(timezone=True),
                                     nullable=True))
    op.add_column("users", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_users_presence_valid"), "users",
                               "presence IN ('online', 'away', 'offline')")

    op.create_table(
        "conversation_events", *_id_columns(),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("kind IN ('assigned', 'transferred', 'closed', 'reopened', 'tagged', "
                           "'untagged', 'snoozed', 'priority', 'takeover', 'status')",
                           name=op.f("ck_conversation_events_kind_valid")),
        _tenant_fk("conversation_events", "actor_user_id", "users", "SET NULL"),
        _tenant_fk("conversation_events", "contact_id", "contacts"),
        _tenant_fk("conversation_events", "conversation_id", "conversations"),
        _tenants_fk("conversation_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_events")),
    )
    op.create_index("ix_conversation_events_contact", "conversation_events",
                    ["tenant_id", "contact_id", "created_at"])

    # Notes are now a foreign-key target in their tenant.
    op.create_unique_constraint(op.f("uq_notes_tenant_id_id"), "notes", ["tenant_id", "id"])
    op.create_table(
        "notifications", *_id_columns(),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), server_default="mention", nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("note_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        _tenant_fk("notifications", "actor_user_id", "users", "SET NULL"),
        _tenant_fk("notifications", "conversation_id", "conversations"),
        _tenant_fk("notifications", "note_id", "notes"),
        _tenant_fk("notifications", "user_id", "users"),
        _tenants_fk("notifications"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_user_unread", "notifications",
                    ["tenant_id", "user_id", "created_at"],
                    postgresql_where=sa.text("read_at IS NULL"))

    op.create_table(
        "saved_views", *_id_columns(),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        *_timestamps(),
        _tenant_fk("saved_views", "user_id", "users"),
        _tenants_fk("saved_views"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint("tenant_id", "user_id", "name",
                            name=op.f("uq_saved_views_tenant_id_user_id_name")),
    )

    op.create_table(
        "quick_replies", *_id_columns(),
        sa.Column("shortcut", sa.String(length=30), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("shortcut ~ '^[a-z0-9_-]{1,30}$'",
                           name=op.f("ck_quick_replies_shortcut_format")),
        _tenants_fk("quick_replies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quick_replies")),
        sa.UniqueConstraint("tenant_id", "shortcut",
                            name=op.f("uq_quick_replies_tenant_id_shortcut")),
    )

    for table in NEW_TENANT_TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in NEW_TENANT_TABLES:
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_table("quick_replies")
    op.drop_table("saved_views")
    op.drop_index("ix_notifications_user_unread", table_name="notifications",
                  postgresql_where=sa.text("read_at IS NULL"))
    op.drop_table("notifications")
    op.drop_constraint(op.f("uq_notes_tenant_id_id"), "notes", type_="unique")
    op.drop_index("ix_conversation_events_contact", table_name="conversation_events")
    op.drop_table("conversation_events")
    op.drop_constraint(op.f("ck_users_presence_valid"), "users", type_="check")
    op.drop_column("users", "last_seen_at")
    op.drop_column("users", "presence_changed_at")
    op.drop_column("users", "presence")
    op.drop_index("ix_conversations_recent", table_name="conversations")
    op.drop_index("ix_conversations_snoozed", table_name="conversations",
                  postgresql_where=sa.text("snoozed_until IS NOT NULL"))
    op.drop_constraint(op.f("ck_conversations_priority_valid"), "conversations", type_="check")
    op.drop_column("conversations", "waiting_since")
    op.drop_column("conversations", "snoozed_until")
    op.drop_column("conversations", "priority")
    op.drop_index("ix_contacts_phone_trgm", table_name="contacts", postgresql_using="gin")
    op.drop_index("ix_contacts_search", table_name="contacts", postgresql_using="gin")
    op.drop_column("contacts", "search_vector")
    op.drop_index("ix_messages_search", table_name="messages", postgresql_using="gin")
    op.drop_column("messages", "search_vector")
    op.execute("DROP TEXT SEARCH CONFIGURATION invekto_names")
    op.execute("DROP TEXT SEARCH CONFIGURATION invekto_turkish")
