"""Who is acting: the identity every service call receives, whatever the entry point."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from invekto.core.errors import PermissionDenied
from invekto.core.i18n import N_

ROLE_RANK = {"agent": 1, "supervisor": 2, "admin": 3}
_ROLE_NAMES = {"agent": N_("agent"), "supervisor": N_("supervisor"), "admin": N_("admin")}


@dataclass(frozen=True)
class Actor:
    tenant_id: uuid.UUID
    role: str
    kind: str = "user"  # user | api_key | system
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    group_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    language: str = "tr"
    ip: str | None = None

    @classmethod
    def system(cls, tenant_id: uuid.UUID) -> Actor:
        """Jobs and ingest act for the tenant with full visibility, never as a person."""
        return cls(tenant_id=tenant_id, role="admin", kind="system")

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def require(self, role: str) -> None:
        if not self.has_role(role):
            raise PermissionDenied("this action needs the %(role)s role",
                                   params={"role": _ROLE_NAMES[role]})

    @property
    def sees_whole_tenant(self) -> bool:
        return self.has_role("supervisor")

    @property
    def id_for_audit(self) -> uuid.UUID | None:
        return self.user_id or self.api_key_id
