"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 19:13:54.693939
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from invekto.db import rls

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Tenant-owned tables as of this revision; each gets the row-level security policy.
TENANT_TABLES = (
    "agent_groups", "api_keys", "attachments", "audit_events", "channels", "contact_identities",
    "contacts", "conversations", "custom_field_definitions", "group_memberships",
    "login_attempts", "messages", "notes", "tags", "user_sessions", "users",
)
# Created by the provisioning superuser on the embedded server; an external server's
# administrator creates them once (see docs/operations.md). IF NOT EXISTS makes this a no-op then.
EXTENSIONS = ("pg_trgm", "unaccent", "btree_gist", "vector")


def upgrade() -> None:
    for extension in EXTENSIONS:
        op.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
    op.create_table('platform_operators',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_operators')),
    sa.UniqueConstraint('username', name=op.f('uq_platform_operators_username'))
    )
    op.create_table('tenants',
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='active', nullable=False),
    sa.Column('default_language', sa.String(length=5), server_default='tr', nullable=False),
    sa.Column('timezone', sa.String(length=64), server_default='Europe/Istanbul', nullable=False),
    sa.Column('settings', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,39}$'", name=op.f('ck_tenants_slug_format')),
    sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f('ck_tenants_status_valid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('slug', name=op.f('uq_tenants_slug'))
    )
    op.create_table('agent_groups',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), server_default='', nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_agent_groups_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_groups')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_agent_groups_tenant_id_id'),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_agent_groups_tenant_id_name'))
    )
    op.create_table('attachments',
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=150), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_attachments_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_attachments_tenant_id_id')
    )
    op.create_table('audit_events',
    sa.Column('actor_kind', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=True),
    sa.Column('target_id', sa.Uuid(), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('ip', postgresql.INET(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_audit_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_index('ix_audit_events_recent', 'audit_events', ['tenant_id', 'occurred_at'], unique=False)
    op.create_table('channels',
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('settings', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('credentials_encrypted', sa.String(), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('whatsapp_cloud', 'whatsapp_bsp', 'instagram', 'messenger', 'telegram', 'sms_twilio', 'sms_netgsm', 'voice', 'webchat')", name=op.f('ck_channels_kind_valid')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_channels_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channels')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_channels_tenant_id_id'),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_channels_tenant_id_name'))
    )
    op.create_table('contacts',
    sa.Column('name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('language', sa.String(length=5), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=50)), server_default='{}', nullable=False),
    sa.Column('custom_fields', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contacts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_contacts_tenant_id_id')
    )
    op.create_index('ix_contacts_name', 'contacts', ['tenant_id', 'name'], unique=False)
    op.create_index('ix_contacts_tags', 'contacts', ['tags'], unique=False, postgresql_using='gin')
    op.create_index('uq_contacts_phone', 'contacts', ['tenant_id', 'phone'], unique=True, postgresql_where=sa.text('phone IS NOT NULL'))
    op.create_table('custom_field_definitions',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('field_type', sa.String(length=20), nullable=False),
    sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("field_type IN ('text', 'number', 'date', 'boolean', 'select', 'url', 'email')", name=op.f('ck_custom_field_definitions_field_type_valid')),
    sa.CheckConstraint("key ~ '^[a-z][a-z0-9_]{0,39}$'", name=op.f('ck_custom_field_definitions_key_format')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_custom_field_definitions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_field_definitions')),
    sa.UniqueConstraint('tenant_id', 'key', name=op.f('uq_custom_field_definitions_tenant_id_key'))
    )
    op.create_table('login_attempts',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('ip', postgresql.INET(), nullable=True),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_login_attempts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    op.create_index('ix_login_attempts_lookup', 'login_attempts', ['tenant_id', 'username', 'attempted_at'], unique=False)
    op.create_table('tags',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('color', sa.String(length=7), server_default='#6c757d', nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tags_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_tags_tenant_id_name'))
    )
    op.create_table('users',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=5), server_default='tr', nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name=op.f('ck_users_role_valid')),
    sa.CheckConstraint('username = lower(username)', name=op.f('ck_users_username_lowercase')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_users_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_users_tenant_id_id'),
    sa.UniqueConstraint('tenant_id', 'username', name=op.f('uq_users_tenant_id_username'))
    )
    op.create_table('api_keys',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secret_hash', sa.LargeBinary(), nullable=False),
    sa.Column('display_prefix', sa.String(length=20), nullable=False),
    sa.Column('role', sa.String(length=20), server_default='admin', nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name=op.f('ck_api_keys_role_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'created_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_api_keys_tenant_id_created_by_id_users'), ondelete='SET NULL (created_by_id)'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_keys_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_api_keys_secret_hash'))
    )
    op.create_table('contact_identities',
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('channel_id', sa.Uuid(), nullable=False),
    sa.Column('handle', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'channel_id'], ['channels.tenant_id', 'channels.id'], name=op.f('fk_contact_identities_tenant_id_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_contact_identities_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contact_identities_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_identities')),
    sa.UniqueConstraint('tenant_id', 'channel_id', 'handle', name=op.f('uq_contact_identities_tenant_id_channel_id_handle'))
    )
    op.create_index('ix_contact_identities_contact', 'contact_identities', ['tenant_id', 'contact_id'], unique=False)
    op.create_table('conversations',
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('channel_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='open', nullable=False),
    sa.Column('assignee_id', sa.Uuid(), nullable=True),
    sa.Column('group_id', sa.Uuid(), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=50)), server_default='{}', nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_message_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_message_preview', sa.String(length=200), server_default='', nullable=False),
    sa.Column('unread_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('open', 'pending', 'closed')", name=op.f('ck_conversations_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'assignee_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_conversations_tenant_id_assignee_id_users'), ondelete='SET NULL (assignee_id)'),
    sa.ForeignKeyConstraint(['tenant_id', 'channel_id'], ['channels.tenant_id', 'channels.id'], name=op.f('fk_conversations_tenant_id_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_conversations_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'group_id'], ['agent_groups.tenant_id', 'agent_groups.id'], name=op.f('fk_conversations_tenant_id_group_id_agent_groups'), ondelete='SET NULL (group_id)'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_conversations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('tenant_id', 'id', name='uq_conversations_tenant_id_id')
    )
    op.create_index('ix_conversations_assignee_recent', 'conversations', ['tenant_id', 'assignee_id', 'status', sa.literal_column('last_message_at DESC')], unique=False)
    op.create_index('ix_conversations_contact', 'conversations', ['tenant_id', 'contact_id'], unique=False)
    op.create_index('ix_conversations_group_recent', 'conversations', ['tenant_id', 'group_id', 'status', sa.literal_column('last_message_at DESC')], unique=False)
    op.create_index('ix_conversations_status_recent', 'conversations', ['tenant_id', 'status', sa.literal_column('last_message_at DESC'), sa.literal_column('id DESC')], unique=False)
    op.create_index('ix_conversations_tags', 'conversations', ['tags'], unique=False, postgresql_using='gin')
    op.create_index('uq_conversations_active', 'conversations', ['tenant_id', 'contact_id', 'channel_id'], unique=True, postgresql_where=sa.text("status <> 'closed'"))
    op.create_table('group_memberships',
    sa.Column('group_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'group_id'], ['agent_groups.tenant_id', 'agent_groups.id'], name=op.f('fk_group_memberships_tenant_id_group_id_agent_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'user_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_group_memberships_tenant_id_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_group_memberships_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'user_id', name=op.f('pk_group_memberships'))
    )
    op.create_index('ix_group_memberships_user', 'group_memberships', ['tenant_id', 'user_id'], unique=False)
    op.create_table('user_sessions',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip', postgresql.INET(), nullable=True),
    sa.Column('user_agent', sa.String(length=400), server_default='', nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'user_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_user_sessions_tenant_id_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_user_sessions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash'))
    )
    op.create_index('ix_user_sessions_user', 'user_sessions', ['tenant_id', 'user_id'], unique=False)
    op.create_table('messages',
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('channel_id', sa.Uuid(), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('sender_kind', sa.String(length=10), nullable=False),
    sa.Column('sender_user_id', sa.Uuid(), nullable=True),
    sa.Column('content_kind', sa.String(length=20), server_default='text', nullable=False),
    sa.Column('body', sa.String(), server_default='', nullable=False),
    sa.Column('attachment_id', sa.Uuid(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('provider_message_id', sa.String(length=200), nullable=True),
    sa.Column('client_message_id', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error_code', sa.String(length=50), nullable=True),
    sa.Column('error_message', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("content_kind IN ('text', 'image', 'audio', 'video', 'document', 'location', 'contact', 'template', 'interactive', 'call')", name=op.f('ck_messages_content_kind_valid')),
    sa.CheckConstraint("direction IN ('inbound', 'outbound')", name=op.f('ck_messages_direction_valid')),
    sa.CheckConstraint("sender_kind IN ('contact', 'agent', 'bot', 'system')", name=op.f('ck_messages_sender_kind_valid')),
    sa.CheckConstraint("status IN ('pending', 'sent', 'delivered', 'read', 'failed')", name=op.f('ck_messages_status_valid')),
    sa.ForeignKeyConstraint(['tenant_id', 'attachment_id'], ['attachments.tenant_id', 'attachments.id'], name=op.f('fk_messages_tenant_id_attachment_id_attachments'), ondelete='SET NULL (attachment_id)'),
    sa.ForeignKeyConstraint(['tenant_id', 'channel_id'], ['channels.tenant_id', 'channels.id'], name=op.f('fk_messages_tenant_id_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_messages_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_messages_tenant_id_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'sender_user_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_messages_tenant_id_sender_user_id_users'), ondelete='SET NULL (sender_user_id)'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_messages_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('tenant_id', 'channel_id', 'provider_message_id', name=op.f('uq_messages_tenant_id_channel_id_provider_message_id')),
    sa.UniqueConstraint('tenant_id', 'client_message_id', name=op.f('uq_messages_tenant_id_client_message_id'))
    )
    op.create_index('ix_messages_contact', 'messages', ['tenant_id', 'contact_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_messages_conversation', 'messages', ['tenant_id', 'conversation_id', 'created_at', 'id'], unique=False)
    op.create_table('notes',
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=True),
    sa.Column('author_id', sa.Uuid(), nullable=True),
    sa.Column('body', sa.String(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'author_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_notes_tenant_id_author_id_users'), ondelete='SET NULL (author_id)'),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_notes_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'conversation_id'], ['conversations.tenant_id', 'conversations.id'], name=op.f('fk_notes_tenant_id_conversation_id_conversations'), ondelete='SET NULL (conversation_id)'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_notes_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notes'))
    )
    op.create_index('ix_notes_contact', 'notes', ['tenant_id', 'contact_id', 'created_at'], unique=False)
    for table in TENANT_TABLES:
        for statement in rls.enable_statements(table):
            op.execute(statement)


def downgrade() -> None:
    for table in TENANT_TABLES:
        for statement in rls.disable_statements(table):
            op.execute(statement)
    op.drop_index('ix_notes_contact', table_name='notes')
    op.drop_table('notes')
    op.drop_index('ix_messages_conversation', table_name='messages')
    op.drop_index('ix_messages_contact', table_name='messages')
    op.drop_table('messages')
    op.drop_index('ix_user_sessions_user', table_name='user_sessions')
    op.drop_table('user_sessions')
    op.drop_index('ix_group_memberships_user', table_name='group_memberships')
    op.drop_table('group_memberships')
    op.drop_index('uq_conversations_active', table_name='conversations', postgresql_where=sa.text("status <> 'closed'"))
    op.drop_index('ix_conversations_tags', table_name='conversations', postgresql_using='gin')
    op.drop_index('ix_conversations_status_recent', table_name='conversations')
    op.drop_index('ix_conversations_group_recent', table_name='conversations')
    op.drop_index('ix_conversations_contact', table_name='conversations')
    op.drop_index('ix_conversations_assignee_recent', table_name='conversations')
    op.drop_table('conversations')
    op.drop_index('ix_contact_identities_contact', table_name='contact_identities')
    op.drop_table('contact_identities')
    op.drop_table('api_keys')
    op.drop_table('users')
    op.drop_table('tags')
    op.drop_index('ix_login_attempts_lookup', table_name='login_attempts')
    op.drop_table('login_attempts')
    op.drop_table('custom_field_definitions')
    op.drop_index('uq_contacts_phone', table_name='contacts', postgresql_where=sa.text('phone IS NOT NULL'))
    op.drop_index('ix_contacts_tags', table_name='contacts', postgresql_using='gin')
    op.drop_index('ix_contacts_name', table_name='contacts')
    op.drop_table('contacts')
    op.drop_table('channels')
    op.drop_index('ix_audit_events_recent', table_name='audit_events')
    op.drop_table('audit_events')
    op.drop_table('attachments')
    op.drop_table('agent_groups')
    op.drop_table('tenants')
    op.drop_table('platform_operators')
