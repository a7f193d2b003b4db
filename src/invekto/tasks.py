"""Registers every domain's jobs on the job queue app (procrastinate imports this module)."""

from invekto.auth import tasks as auth_tasks
from invekto.core.jobs import job_app
from invekto.inbox import tasks as inbox_tasks

job_app.add_tasks_from(inbox_tasks.blueprint, namespace="inbox")
job_app.add_tasks_from(auth_tasks.blueprint, namespace="auth")
