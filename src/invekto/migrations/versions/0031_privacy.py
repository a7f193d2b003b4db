"""Data subject requests and retention policies

Revision ID: 0031
Revises: 0030
"""
from collections.abc import Sequence

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
