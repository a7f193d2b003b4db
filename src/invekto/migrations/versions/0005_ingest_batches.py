"""ingest in batches: waiting deliveries are claimed per channel, oldest first, for a while; a
delivery is stored (and its channel's ingest job made sure of) in one statement

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

# The webhook intake's whole write, one round trip in autocommit (see channels/intake.py): scope
# the statement's transaction to the tenant (row-level security applies as everywhere), keep the
# delivery unless its body is already kept, and, for a new one, insert the ingest job unless one
# for the channel is still waiting (procrastinate's queueing-lock index says so; its insert
# trigger wakes a worker). SECURITY INVOKER: the caller's role and policies.
_STORE_WEBHOOK_EVENT = """
CREATE FUNCTION store_webhook_event(
    event_id uuid, tenant uuid, channel uuid, key text, body jsonb,
    job_queue text, job_task text, job_queueing_lock text, job_args jsonb
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    stored uuid;
    job bigint;
    job_is_new boolean;
    wake_up text;
BEGIN
    PERFORM set_config('app.tenant_id', tenant::text, true), set_config('app.scope', '', true);
    INSERT INTO webhook_events (id, tenant_id, channel_id, event_key, payload)
    VALUES (event_id, tenant, channel, key, body)
    ON CONFLICT (tenant_id, channel_id, event_key) DO NOTHING
    RETURNING id INTO stored;
    IF stored IS NULL THEN
        RETURN false;
    END IF;
    INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock, queueing_lock, args)
    VALUES (job_queue, job_task, 0, NULL, job_queueing_lock, job_args)
    ON CONFLICT (queueing_lock) WHERE status = 'todo'
    -- Not DO NOTHING: touching the waiting job locks it until this delivery is committed, so
    -- no worker can start it (and look for deliveries) without seeing this one.
    DO UPDATE SET args = procrastinate_jobs.args
    RETURNING id, xmax = 0 INTO job, job_is_new;
    IF NOT job_is_new THEN
        -- A worker that tried to start it meanwhile skipped it (locked): wake the workers
        -- again at commit, as procrastinate's insert trigger does for a new job.
        wake_up := json_build_object('type', 'job_inserted', 'job_id', job)::text;
        PERFORM pg_notify('procrastinate_queue_v1#' || job_queue, wake_up),
                pg_notify('procrastinate_any_queue_v1', wake_up);
    END IF;
    RETURN true;
END
$$
"""


def upgrade() -> None:
    op.add_column("webhook_events",
                  sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_webhook_events_unprocessed", table_name="webhook_events",
                  postgresql_where=_UNPROCESSED)
    op.create_index("ix_webhook_events_unprocessed", "webhook_events",
                    ["tenant_id", "channel_id", "received_at"], postgresql_where=_UNPROCESSED)
    op.execute(_STORE_WEBHOOK_EVENT)


def downgrade() -> None:
    op.execute("DROP FUNCTION store_webhook_event(uuid, uuid, uuid, text, jsonb, text, text, "
               "text, jsonb)")
    op.drop_index("ix_webhook_events_unprocessed", table_name="webhook_events",
                  postgresql_where=_UNPROCESSED)
    op.create_index("ix_webhook_events_unprocessed", "webhook_events", ["received_at"],
                    postgresql_where=_UNPROCESSED)
    op.drop_column("webhook_events", "claimed_until")
