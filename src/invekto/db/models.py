"""Imports every model so that metadata (Alembic, relationships) sees the whole schema."""

from invekto.audit.models import AuditEvent
from invekto.auth.models import ApiKey, LoginAttempt, UserSession
from invekto.channels.models import Channel, WebhookEvent
from invekto.contacts.models import Contact, ContactIdentity, CustomFieldDefinition, Tag
from invekto.db.base import Base
from invekto.inbox.models import (
    Attachment,
    Conversation,
    ConversationEvent,
    Message,
    Note,
    Notification,
    SavedView,
    StatusBacklog,
)
from invekto.replies.models import QuickReply
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
from invekto.tenants.models import PlatformOperator, Tenant
from invekto.users.models import AgentGroup, GroupMembership, User

__all__ = [
    "AgentGroup", "AgentShift", "ApiKey", "Attachment", "AuditEvent", "Base", "BusinessHours",
    "Channel", "ChannelOperations", "ChannelRouting", "Contact", "ContactIdentity", "Conversation",
    "ConversationEvent", "CustomFieldDefinition", "GroupMembership", "Holiday", "LoginAttempt",
    "Message", "Note", "Notification", "PlatformOperator", "QuickReply", "SavedView",
    "ShiftException", "SlaBreach", "SlaPolicy", "StatusBacklog", "Tag", "Tenant", "User",
    "UserSession", "WebhookEvent",
]


def tenant_owned_tables() -> list[str]:
    return sorted(
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if getattr(mapper.class_, "__tenant_owned__", False)
    )
