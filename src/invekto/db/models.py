"""Imports every model so that metadata (Alembic, relationships) sees the whole schema."""

from invekto.ai.models import (
    AISettings,
    AIUsage,
    AnswerMemory,
    KnowledgeArticle,
    KnowledgeChunk,
    KnowledgeDocument,
)
from invekto.audit.models import AuditEvent
from invekto.auth.models import (
    ApiKey,
    ApiRateCounter,
    LoginAttempt,
    PendingLogin,
    RecoveryCode,
    SecuritySettings,
    SsoIdentity,
    SsoSettings,
    TwoFactor,
    UserSession,
)
from invekto.automation.models import AutomationRule, AutomationRun
from invekto.campaigns.models import Campaign, CampaignRecipient, RecipientList, RecipientListRow
from invekto.channels.models import Channel, WebhookEvent
from invekto.consent.models import ConsentEvent, IysPush, IysSettings
from invekto.contacts.models import (
    Contact,
    ContactConsent,
    ContactIdentity,
    CustomFieldDefinition,
    Tag,
)
from invekto.db.base import Base
from invekto.flows.models import Flow, FlowSession, FlowVersion
from invekto.follow_ups.models import (
    CsatResponse,
    CsatSurvey,
    FollowUpRun,
    FollowUpSequence,
    FollowUpStep,
)
from invekto.inbox.models import (
    Attachment,
    Conversation,
    ConversationEvent,
    Message,
    Note,
    Notification,
    SavedView,
    ScheduledMessage,
    StatusBacklog,
)
from invekto.integrations.models import Integration, IntegrationEvent
from invekto.integrations.payments.models import PaymentLinkRecord
from invekto.integrations.zoho.models import ZohoLink
from invekto.mail.models import SmtpSettings, SummarySend, SummarySettings
from invekto.outgoing_webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from invekto.privacy.models import (
    AnonymisedConversation,
    PrivacyRequest,
    RetentionPolicy,
    RetentionRun,
)
from invekto.replies.models import QuickReply
from invekto.reports.models import ReportDirty, ReportFact, ReportHourly, ReportRefresh
from invekto.routing.models import (
    AgentShift,
    BusinessHours,
    ChannelOperations,
    ChannelRouting,
    Holiday,
    ShiftException,
    SlaBreach,
    SlaPolicy,
)
from invekto.templates.models import MessageTemplate
from invekto.tenants.models import PlatformOperator, Tenant
from invekto.users.models import (
    AgentGroup,
    CustomRole,
    GroupMembership,
    PresencePeriod,
    User,
)

__all__ = [
    "AISettings",
    "AIUsage",
    "AgentGroup",
    "AgentShift",
    "AnonymisedConversation",
    "AnswerMemory",
    "ApiKey",
    "ApiRateCounter",
    "Attachment",
    "AuditEvent",
    "AutomationRule",
    "AutomationRun",
    "Base",
    "BusinessHours",
    "Campaign",
    "CampaignRecipient",
    "Channel",
    "ChannelOperations",
    "ChannelRouting",
    "ConsentEvent",
    "Contact",
    "ContactConsent",
    "ContactIdentity",
    "Conversation",
    "ConversationEvent",
    "CsatResponse",
    "CsatSurvey",
    "CustomFieldDefinition",
    "CustomRole",
    "Flow",
    "FlowSession",
    "FlowVersion",
    "FollowUpRun",
    "FollowUpSequence",
    "FollowUpStep",
    "GroupMembership",
    "Holiday",
    "Integration",
    "IntegrationEvent",
    "IysPush",
    "IysSettings",
    "KnowledgeArticle",
    "KnowledgeChunk",
    "KnowledgeDocument",
    "LoginAttempt",
    "Message",
    "MessageTemplate",
    "Note",
    "Notification",
    "PaymentLinkRecord",
    "PendingLogin",
    "PlatformOperator",
    "PresencePeriod",
    "PrivacyRequest",
    "QuickReply",
    "RecipientList",
    "RecipientListRow",
    "RecoveryCode",
    "ReportDirty",
    "ReportFact",
    "ReportHourly",
    "ReportRefresh",
    "RetentionPolicy",
    "RetentionRun",
    "SavedView",
    "ScheduledMessage",
    "SecuritySettings",
    "ShiftException",
    "SlaBreach",
    "SlaPolicy",
    "SmtpSettings",
    "SsoIdentity",
    "SsoSettings",
    "StatusBacklog",
    "SummarySend",
    "SummarySettings",
    "Tag",
    "Tenant",
    "TwoFactor",
    "User",
    "UserSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
    "ZohoLink",
]


def tenant_owned_tables() -> list[str]:
    return sorted(
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if getattr(mapper.class_, "__tenant_owned__", False)
    )
