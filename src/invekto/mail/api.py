"""The company's mail settings (``/api/v1/settings/email``): the mail server (the password is
write-only: ``has_password``), the weekly summary, a test message and "send last week's summary
now". Admins'; the service checks it."""

from __future__ import annotations

from fastapi import APIRouter

from invekto.http.deps import Scoped
from invekto.mail import service
from invekto.mail.schemas import (
    MailSettingsOut,
    SendResultOut,
    SendTestIn,
    SmtpSettingsIn,
    SmtpSettingsOut,
    SummarySendOut,
    SummarySettingsIn,
    SummarySettingsOut,
)

router = APIRouter(prefix="/settings/email", tags=["mail"])


def _smtp_out(settings) -> SmtpSettingsOut:
    return SmtpSettingsOut.model_validate(
        {**{name: getattr(settings, name) for name in SmtpSettingsOut.model_fields
            if name != "has_password"}, "has_password": service.has_password(settings)})


@router.get("", response_model=MailSettingsOut)
async def get_mail_settings(ctx: Scoped):
    found = await service.settings_of(ctx.session, ctx.actor)
    return MailSettingsOut(
        smtp=_smtp_out(found.smtp) if found.smtp else None,
        summary=SummarySettingsOut.model_validate(found.summary),
        last_send=SummarySendOut.model_validate(found.last_send) if found.last_send else None)


@router.put("/smtp", response_model=SmtpSettingsOut)
async def put_smtp_settings(body: SmtpSettingsIn, ctx: Scoped):
    return _smtp_out(await service.save_smtp(ctx.session, ctx.actor, body))


@router.put("/summary", response_model=SummarySettingsOut)
async def put_summary_settings(body: SummarySettingsIn, ctx: Scoped):
    return await service.save_summary_settings(ctx.session, ctx.actor, body)


@router.post("/test", response_model=SendResultOut)
async def send_test_email(body: SendTestIn, ctx: Scoped):
    """Whether the server took the message is the answer (``ok``), not the status code."""
    return await service.send_test_email(ctx.session, ctx.actor, body.to)


@router.post("/summary/send", response_model=SendResultOut)
async def send_summary_now(ctx: Scoped):
    """Last week's summary to the recipients, now."""
    return await service.send_summary_now(ctx.session, ctx.actor)
