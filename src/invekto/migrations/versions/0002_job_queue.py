"""procrastinate's job-queue schema, from the locked procrastinate version

Upgrading procrastinate means a new migration that applies the files it ships under
procrastinate/sql/migrations between the two versions, in order.

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    op.execute("""
        DO $$
        DECLARE routine record;
        BEGIN
            DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
                procrastinate_jobs, procrastinate_workers CASCADE;
            FOR routine IN SELECT oid::regprocedure AS signature FROM pg_proc
                           WHERE proname LIKE 'procrastinate%' LOOP
                EXECUTE 'DROP ROUTINE IF EXISTS ' || routine.signature || ' CASCADE';
            END LOOP;
            DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type,
                procrastinate_job_to_defer_v1 CASCADE;
        END $$;
    """)
