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
from invekto.auth.models import ApiKey, LoginAttempt, UserSession
from invekto.automation.models import AutomationRule, AutomationRun
from invekto.campaigns.models import Campaign, CampaignRecipient, RecipientList, RecipientListRow
from invekto.channels.models import Channel, WebhookEvent
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
from invekto.mail.models import SmtpSettings, SummarySend, SummarySettings
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
from invekto.users.models import AgentGroup, GroupMembership, PresencePeriod, User

__all__ = [
    "AISettings",
    "AIUsage",
    "AgentGroup",
    "AgentShift",
    "AnswerMemory",
    "ApiKey",
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
    "Contact",
    "ContactConsent",
    "ContactIdentity",
    "Conversation",
    "ConversationEvent",
    "CsatResponse",
    "CsatSurvey",
    "CustomFieldDefinition",
    "Flow",
    "FlowSession",
    "FlowVersion",
    "FollowUpRun",
    "FollowUpSequence",
    "FollowUpStep",
    "GroupMembership",
    "Holiday",
    "KnowledgeArticle",
    "KnowledgeChunk",
    "KnowledgeDocument",
    "LoginAttempt",
    "Message",
    "MessageTemplate",
    "Note",
    "Notification",
    "PlatformOperator",
    "PresencePeriod",
    "QuickReply",
    "RecipientList",
    "RecipientListRow",
    "ReportDirty",
    "ReportFact",
    "ReportHourly",
    "ReportRefresh",
    "SavedView",
    "ScheduledMessage",
    "ShiftException",
    "SlaBreach",
    "SlaPolicy",
    "SmtpSettings",
    "StatusBacklog",
    "SummarySend",
    "SummarySettings",
    "Tag",
    "Tenant",
    "User",
    "UserSession",
    "WebhookEvent",
]


def tenant_owned_tables() -> list[str]:
    return sorted(
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if getattr(mapper.class_, "__tenant_owned__", False)
    )
