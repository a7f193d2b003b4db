"""The FastAPI application: routers, middleware and the per-process lifespan."""

from __future__ import annotations

import gc
import threading
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from invekto import runtime, tasks  # noqa: F401 - registers job tasks for deferring
from invekto.ai.api import router as ai_router
from invekto.audit.api import router as audit_router
from invekto.auth.api import router as auth_router
from invekto.auth.rate_limits import RateLimitHeaders
from invekto.automation.api import router as automation_router
from invekto.campaigns.api import router as campaigns_router
from invekto.channels.api import router as channels_router
from invekto.channels.webhooks import router as webhooks_router
from invekto.consent.api import router as consent_router
from invekto.contacts.api import router as contacts_router
from invekto.core import jobs
from invekto.core.realtime import Hub
from invekto.db.provision import to_libpq_url
from invekto.flows.api import router as flows_router
from invekto.follow_ups.api import router as follow_ups_router
from invekto.http import errors, openapi
from invekto.http.middleware import RequestContextMiddleware
from invekto.http.security_headers import SecurityHeadersMiddleware
from invekto.http.ws import router as ws_router
from invekto.inbox.api import router as inbox_router
from invekto.integrations.api import router as integrations_router
from invekto.integrations.payments.api import router as payments_router
from invekto.integrations.payments.views import router as payment_pages
from invekto.integrations.webhooks import router as integration_hooks_router
from invekto.integrations.zoho.views import router as zoho_pages
from invekto.mail.api import router as mail_router
from invekto.ops.api import router as ops_router
from invekto.outgoing_webhooks.api import router as outgoing_webhooks_router
from invekto.privacy.api import router as privacy_router
from invekto.reports.api import router as reports_router
from invekto.routing.api import router as routing_router
from invekto.templates.api import router as templates_router
from invekto.users.api import router as users_router
from invekto.web.account_views import router as account_pages
from invekto.web.ai_inbox_views import router as ai_inbox_pages
from invekto.web.ai_settings_views import router as ai_settings_pages
from invekto.web.automation_views import router as automation_pages
from invekto.web.campaign_views import router as campaign_pages
from invekto.web.consent_views import router as consent_pages
from invekto.web.flow_views import router as flow_pages
from invekto.web.help_centre_views import router as help_centre_pages
from invekto.web.inbox_views import router as inbox_pages
from invekto.web.integration_views import router as integration_pages
from invekto.web.knowledge_views import router as knowledge_pages
from invekto.web.monitor_views import router as monitor_pages
from invekto.web.privacy_views import router as privacy_pages
from invekto.web.report_views import router as report_pages
from invekto.web.security_views import router as security_pages
from invekto.web.settings_views import router as settings_pages
from invekto.web.views import router as web_router
from invekto.web.webhook_views import router as webhook_pages
from invekto.widget.api import WidgetCors
from invekto.widget.api import router as widget_router

# Only each package's built files are served, never node_modules as a whole.
_ASSETS = {"tabler": "@tabler/core/dist", "tabler-icons": "@tabler/icons-webfont/dist",
           "htmx": "htmx.org/dist", "alpinejs": "alpinejs/dist",
           "twilio-voice": "@twilio/voice-sdk/dist", "drawflow": "drawflow/dist",
           "chartjs": "chart.js/dist"}

log = structlog.get_logger(__name__)


def _freeze_long_lived_objects() -> None:
    """Move everything loaded so far (modules, templates, models) out of the garbage
    collector's sight: a full collection would otherwise walk them all, a pause of a hundred
    milliseconds and more in whichever request allocated past the threshold."""
    gc.collect()
    gc.freeze()


def _warm_up_ai() -> None:
    from invekto.ai import classify  # numpy and scikit-learn load here, off the event loop

    try:
        classify.warm_up()
    except Exception:  # the first analysis will try again, and report what fails
        log.exception("ai.warm_up_failed")
    else:
        log.info("ai.warmed_up")
        _freeze_long_lived_objects()


def create_app(rt: runtime.Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime.install(rt)
        if rt.settings.ai_warm_up:
            threading.Thread(target=_warm_up_ai, name="ai-warm-up", daemon=True).start()
        hub = Hub(to_libpq_url(rt.db.url))
        await hub.start()
        app.state.hub = hub
        if rt.settings.demo:
            # Re-wired on every start: the demo number's provider is this process's simulator,
            # and so is the demo company's iyzico.
            await app.state.demo_phone.connect()
            await app.state.demo_payments.connect()
        async with jobs.opened(to_libpq_url(rt.db.url), max_size=2):
            _freeze_long_lived_objects()
            yield
        await hub.stop()
        await rt.db.dispose()

    app = FastAPI(title="Invekto API", version="1", lifespan=lifespan,
                  description="Customer messaging CRM. Authenticate with a tenant API key "
                              "(`Authorization: Bearer ivk_...`) or a browser session.")
    runtime.install(rt)
    errors.install(app)
    openapi.install(app)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(WidgetCors)
    app.add_middleware(RequestContextMiddleware)
    # Outermost: CORS answers and error pages get the headers too.
    app.add_middleware(SecurityHeadersMiddleware)

    # First: providers' deliveries are the busiest path, and routes are matched in order.
    app.include_router(webhooks_router)
    app.include_router(integration_hooks_router)
    api = APIRouter(prefix="/api/v1")
    for router in (auth_router, users_router, channels_router, contacts_router, inbox_router,
                   routing_router, templates_router, follow_ups_router, campaigns_router,
                   automation_router, flows_router, ai_router, reports_router, mail_router,
                   consent_router, privacy_router, audit_router, integrations_router,
                   outgoing_webhooks_router):
        api.include_router(router)
    api.include_router(payments_router)
    app.include_router(api)
    app.include_router(ops_router)
    app.include_router(ws_router)
    app.include_router(widget_router)
    app.include_router(web_router)
    app.include_router(inbox_pages)
    app.include_router(ai_inbox_pages)
    # Before the settings: their /settings/{slug} would take /settings/knowledge and /ai.
    app.include_router(knowledge_pages)
    # Its /settings/knowledge/help-centre and the public /help/... pages.
    app.include_router(help_centre_pages)
    app.include_router(ai_settings_pages)
    app.include_router(consent_pages)
    app.include_router(zoho_pages)
    app.include_router(payment_pages)
    app.include_router(integration_pages)
    app.include_router(webhook_pages)
    app.include_router(settings_pages)
    app.include_router(security_pages)
    app.include_router(account_pages)
    app.include_router(monitor_pages)
    app.include_router(privacy_pages)
    app.include_router(report_pages)
    app.include_router(campaign_pages)
    app.include_router(automation_pages)
    app.include_router(flow_pages)
    if rt.settings.demo:
        from invekto.web import demo_views

        demo_views.install(app, rt)
    app.mount("/static/app", StaticFiles(directory=Path(__file__).parent / "web" / "static"),
              name="app")
    for mount, relative in _ASSETS.items():
        directory = rt.settings.assets_dir / relative
        if directory.is_dir():
            app.mount(f"/static/{mount}", StaticFiles(directory=directory), name=mount)
    return app
