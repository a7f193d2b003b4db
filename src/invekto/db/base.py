"""Declarative base and the column conventions every table shares."""

from __future__ import annotations

import uuid
from datetime import datetime

import uuid_utils.compat
from sqlalchemy import DateTime, ForeignKey, ForeignKeyConstraint, MetaData, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> uuid.UUID:
    """Time-ordered UUIDv7: unguessable across tenants, yet index-friendly like a sequence."""
    return uuid_utils.compat.uuid7()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class TenantMixin:
    """Marks a tenant-owned table: migrations give it a row-level security policy."""

    __tenant_owned__ = True

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=False
    )


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's text: ``column`` holds one of ``values``."""
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def tenant_unique_id(table: str) -> UniqueConstraint:
    """The target of composite foreign keys: lets a row reference another only in its own tenant."""
    return UniqueConstraint("tenant_id", "id", name=f"uq_{table}_tenant_id_id")


def tenant_fk(column: str, target_table: str, *, ondelete: str | None = "CASCADE"
              ) -> ForeignKeyConstraint:
    """A foreign key that includes ``tenant_id``, so a row can never point into another tenant,
    even though foreign-key checks themselves are exempt from row-level security."""
    set_null = ondelete == "SET NULL"
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{target_table}.tenant_id", f"{target_table}.id"],
        # SET NULL must not null tenant_id too: PostgreSQL 15+ takes the column to clear.
        ondelete=f"SET NULL ({column})" if set_null else ondelete,
    )
