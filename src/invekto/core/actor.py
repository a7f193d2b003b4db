"""Who is acting: the identity every service call receives, whatever the entry point.

What an actor may do is a set of named permissions. The three built-in roles are presets of
those sets; a company can also build its own roles from them (``users.models.CustomRole``).
Services check permissions, never role names, so a custom role is honoured everywhere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from invekto.core.errors import PermissionDenied
from invekto.core.i18n import N_


class Permission(StrEnum):
    HANDLE_CONVERSATIONS = "conversations.handle"  # reply, note, close what one can see
    SEE_UNASSIGNED = "conversations.see_unassigned"  # the shared queue (no person, no group)
    SEE_ALL_CONVERSATIONS = "conversations.see_all"  # every conversation and every note
    SUPERVISE = "conversations.supervise"  # assign to others, take over, monitor agents
    EXPORT_DATA = "data.export"  # conversation history and contact exports
    SEE_PERSONAL_DATA = "contacts.see_personal_data"  # phone numbers, e-mails, chosen fields
    MANAGE_CONTACTS = "contacts.manage"  # edit, merge, import, tag definitions, custom fields
    MANAGE_CAMPAIGNS = "campaigns.manage"  # broadcasts, follow-ups, recipient lists
    MANAGE_CONTENT = "content.manage"  # templates, quick replies, knowledge, flows, rules
    MANAGE_ROUTING = "routing.manage"  # routing, business hours, shifts, SLA policies
    SEE_REPORTS = "reports.see"
    MANAGE_SETTINGS = "settings.manage"  # channels, routing, hours, AI, e-mail
    MANAGE_USERS = "users.manage"  # people, groups, roles
    MANAGE_SECURITY = "security.manage"  # API keys, audit log, 2FA/SSO, retention, data requests


PERMISSION_NAMES = {
    Permission.HANDLE_CONVERSATIONS: N_("Handle conversations"),
    Permission.SEE_UNASSIGNED: N_("See unassigned conversations"),
    Permission.SEE_ALL_CONVERSATIONS: N_("See all conversations"),
    Permission.SUPERVISE: N_("Supervise conversations and agents"),
    Permission.EXPORT_DATA: N_("Export data"),
    Permission.SEE_PERSONAL_DATA: N_("See personal data"),
    Permission.MANAGE_CONTACTS: N_("Manage contacts"),
    Permission.MANAGE_CAMPAIGNS: N_("Manage campaigns"),
    Permission.MANAGE_CONTENT: N_("Manage templates, flows and rules"),
    Permission.MANAGE_ROUTING: N_("Manage routing, hours and shifts"),
    Permission.SEE_REPORTS: N_("See reports"),
    Permission.MANAGE_SETTINGS: N_("Manage settings"),
    Permission.MANAGE_USERS: N_("Manage users"),
    Permission.MANAGE_SECURITY: N_("Manage security"),
}

ROLE_RANK = {"agent": 1, "supervisor": 2, "admin": 3}
_AGENT = frozenset({Permission.HANDLE_CONVERSATIONS, Permission.SEE_UNASSIGNED,
                    Permission.SEE_PERSONAL_DATA})
_SUPERVISOR = _AGENT | {Permission.SEE_ALL_CONVERSATIONS, Permission.SUPERVISE,
                        Permission.MANAGE_CONTACTS, Permission.MANAGE_CAMPAIGNS,
                        Permission.MANAGE_CONTENT, Permission.MANAGE_ROUTING,
                        Permission.SEE_REPORTS}
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "agent": _AGENT,
    "supervisor": frozenset(_SUPERVISOR),
    "admin": frozenset(Permission),
}


@dataclass(frozen=True)
class Actor:
    tenant_id: uuid.UUID
    role: str  # a built-in role, or the base a custom role was made from
    kind: str = "user"  # user | api_key | system
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    group_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    language: str = "tr"
    ip: str | None = None
    user_agent: str | None = None
    # None: the built-in role's permissions. A custom role passes its own set.
    granted: frozenset[Permission] | None = None

    @classmethod
    def system(cls, tenant_id: uuid.UUID) -> Actor:
        """Jobs and ingest act for the tenant with full visibility, never as a person."""
        return cls(tenant_id=tenant_id, role="admin", kind="system")

    @property
    def permissions(self) -> frozenset[Permission]:
        return self.granted if self.granted is not None else ROLE_PERMISSIONS[self.role]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def can_any(self, *permissions: Permission) -> bool:
        return not self.permissions.isdisjoint(permissions)

    def require(self, needed: Permission) -> None:
        if not self.can(needed):
            raise PermissionDenied("this action needs the “%(permission)s” permission",
                                   params={"permission": PERMISSION_NAMES[needed]})

    @property
    def sees_whole_tenant(self) -> bool:
        return self.can(Permission.SEE_ALL_CONVERSATIONS)

    @property
    def id_for_audit(self) -> uuid.UUID | None:
        return self.user_id or self.api_key_id
