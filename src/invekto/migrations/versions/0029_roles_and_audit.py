"""Custom roles built from permissions; the audit log keeps the user agent and before/after values

Revision ID: 0029
Revises: 0028
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0029'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('audit_events', sa.Column('user_agent', sa.String(length=400), nullable=True))
    op.add_column('audit_events', sa.Column('before', postgresql.JSONB(astext_type=sa.Text()),
                                            nullable=True))
    op.add_column('audit_events', sa.Column('after', postgresql.JSONB(astext_type=sa.Text()),
                                            nullable=True))


def downgrade() -> None:
    op.drop_column('audit_events', 'after')
    op.drop_column('audit_events', 'before')
    op.drop_column('audit_events', 'user_agent')
