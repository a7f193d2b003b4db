"""ingest in batches: unprocessed deliveries are claimed per channel, oldest first

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNPROCESSED = sa.text("processed_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_webhook_events_unprocessed", table_name="webhook_events",
                  postgresql_where=_UNPROCESSED)
    op.create_index("ix_webhook_events_unprocessed", "webhook_events",
                    ["tenant_id", "channel_id", "received_at"], postgresql_where=_UNPROCESSED)


def downgrade() -> None:
    op.drop_index("ix_webhook_events_unprocessed", table_name="webhook_events",
                  postgresql_where=_UNPROCESSED)
    op.create_index("ix_webhook_events_unprocessed", "webhook_events", ["received_at"],
                    postgresql_where=_UNPROCESSED)
