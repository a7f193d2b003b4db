"""quick replies may carry a file

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("quick_replies", sa.Column("attachment_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_quick_replies_tenant_id_attachment_id_attachments"), "quick_replies",
        "attachments", ["tenant_id", "attachment_id"], ["tenant_id", "id"],
        ondelete="SET NULL (attachment_id)")


def downgrade() -> None:
    op.drop_constraint(op.f("fk_quick_replies_tenant_id_attachment_id_attachments"),
                       "quick_replies", type_="foreignkey")
    op.drop_column("quick_replies", "attachment_id")
