"""Tags that mark a conversion (a sale, a booking), for the reports' attribution

Revision ID: 0028
Revises: 0027
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0028'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('tags', sa.Column('marks_conversion', sa.Boolean(), server_default='false', nullable=False))


def downgrade() -> None:
    op.drop_column('tags', 'marks_conversion')
