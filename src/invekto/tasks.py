"""Registers every domain's jobs on the job queue app (procrastinate imports this module)."""

import invekto.ai.steps  # the flows' "AI answer" step, in the web app and workers
import invekto.db.models  # every table known before a job flushes (foreign keys)
import invekto.integrations.events  # order and payment events, for automation rules
import invekto.integrations.steps  # noqa: F401 - the flows' order look-up, in the web app and workers
from invekto.ai import tasks as ai_tasks
from invekto.auth import tasks as auth_tasks
from invekto.automation import tasks as automation_tasks
from invekto.campaigns import tasks as campaigns_tasks
from invekto.channels import tasks as channels_tasks
from invekto.consent import tasks as consent_tasks
from invekto.core.jobs import job_app
from invekto.flows import tasks as flows_tasks
from invekto.follow_ups import tasks as follow_ups_tasks
from invekto.inbox import tasks as inbox_tasks
from invekto.integrations.zoho import tasks as zoho_tasks
from invekto.mail import tasks as mail_tasks
from invekto.ops import tasks as ops_tasks
from invekto.outgoing_webhooks import tasks as outgoing_webhooks_tasks
from invekto.privacy import tasks as privacy_tasks
from invekto.reports import tasks as reports_tasks
from invekto.users import tasks as users_tasks

job_app.add_tasks_from(inbox_tasks.blueprint, namespace="inbox")
job_app.add_tasks_from(auth_tasks.blueprint, namespace="auth")
job_app.add_tasks_from(users_tasks.blueprint, namespace="users")
job_app.add_tasks_from(channels_tasks.blueprint, namespace="channels")
job_app.add_tasks_from(ops_tasks.blueprint, namespace="ops")
job_app.add_tasks_from(follow_ups_tasks.blueprint, namespace="follow_ups")
job_app.add_tasks_from(campaigns_tasks.blueprint, namespace="campaigns")
job_app.add_tasks_from(automation_tasks.blueprint, namespace="automation")
job_app.add_tasks_from(flows_tasks.blueprint, namespace="flows")
job_app.add_tasks_from(ai_tasks.blueprint, namespace="ai")
job_app.add_tasks_from(reports_tasks.blueprint, namespace="reports")
job_app.add_tasks_from(mail_tasks.blueprint, namespace="mail")
job_app.add_tasks_from(consent_tasks.blueprint, namespace="consent")
job_app.add_tasks_from(privacy_tasks.blueprint, namespace="privacy")
job_app.add_tasks_from(zoho_tasks.blueprint, namespace="zoho")
job_app.add_tasks_from(outgoing_webhooks_tasks.blueprint, namespace="outgoing_webhooks")
