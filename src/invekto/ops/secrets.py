"""Re-encrypting the stored secrets with the current key after the secret key changed.

Every column named ``*_encrypted`` holds a SecretBox token (a convention the models keep), and
automation rules keep webhook secrets sealed inside their actions. Each company's rows are
rotated in its own transaction, inside its row-level-security scope; running it twice is
harmless (a token already under the current key is left alone).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.automation.models import AutomationRule
from invekto.core.crypto import SecretBox
from invekto.db.models import Base
from invekto.db.session import Database
from invekto.tenants.models import Tenant

SUFFIX = "_encrypted"


def encrypted_columns() -> list[tuple[Table, str]]:
    return sorted(((table, column.name) for table in Base.metadata.tables.values()
                   for column in table.columns if column.name.endswith(SUFFIX)),
                  key=lambda pair: (pair[0].name, pair[1]))


@dataclass
class Rotation:
    rotated: int = 0  # secrets re-encrypted with the current key
    current: int = 0  # already under it
    per_column: dict[str, int] = field(default_factory=dict)


async def rotate_all(db: Database, box: SecretBox, *,
                     tenant_ids: Sequence[uuid.UUID] | None = None) -> Rotation:
    """Every company's secrets (or those of ``tenant_ids``) under ``box``'s current key."""
    result = Rotation()
    if tenant_ids is None:
        async with db.transaction() as session:
            tenant_ids = (await session.scalars(select(Tenant.id))).all()
    for tenant_id in tenant_ids:
        async with db.tenant_session(tenant_id) as session:
            await _rotate_tenant(session, box, result)
    return result


async def _rotate_tenant(session: AsyncSession, box: SecretBox, result: Rotation) -> None:
    for table, name in encrypted_columns():
        column, keys = table.c[name], list(table.primary_key.columns)
        for row in (await session.execute(select(*keys, column).where(
                column.is_not(None)))).all():
            *key_values, token = row
            if box.uses_current_key(token):
                result.current += 1
                continue
            await session.execute(update(table).where(
                *(key == value for key, value in zip(keys, key_values, strict=True))
            ).values({name: box.rotate(token)}))
            result.rotated += 1
            label = f"{table.name}.{name}"
            result.per_column[label] = result.per_column.get(label, 0) + 1
    for rule in (await session.scalars(select(AutomationRule))).all():
        changed = False
        actions = []
        for action in rule.actions:
            sealed = action.get("secret_sealed")
            if sealed and not box.uses_current_key(sealed):
                action = {**action, "secret_sealed": box.rotate(sealed)}
                changed = True
                result.rotated += 1
            actions.append(action)
        if changed:
            rule.actions = actions
