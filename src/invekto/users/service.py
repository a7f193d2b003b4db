"""Users and agent groups of a tenant. Everyone may list them (agents transfer chats to
colleagues); only admins change them."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from invekto.audit import service as audit
from invekto.auth import policy as password_rules
from invekto.core import jobs, realtime, security
from invekto.core.actor import Actor, Permission
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import LANGUAGES, N_
from invekto.db.queries import flush_unique, get_in_tenant
from invekto.users import roles
from invekto.users.models import PRESENCES, AgentGroup, GroupMembership, PresencePeriod, User
from invekto.users.schemas import USERNAME_PATTERN, GroupCreate, GroupUpdate, UserCreate, UserUpdate

_USERNAME = re.compile(USERNAME_PATTERN)


def normalize_username(username: str) -> str:
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise ValidationFailed(
            "username must be 2-64 characters: a-z, 0-9, '.', '_' or '-' (no Turkish letters)",
            field="username",
        )
    return username


def check_password_strength(password: str, *, username: str, field: str = "password",
                            policy: password_rules.PasswordPolicy | None = None) -> None:
    """The company's password rules (``auth.policy.password_policy``); without ``policy``,
    the defaults every company starts with."""
    password_rules.check_password(password, policy or password_rules.DEFAULT_PASSWORD_POLICY,
                                  username=username, field=field)


# ---- users -------------------------------------------------------------------------------------

async def list_users(session: AsyncSession, actor: Actor, *, include_inactive: bool = False
                     ) -> list[User]:
    query = select(User).where(User.tenant_id == actor.tenant_id).order_by(User.display_name)
    if not include_inactive:
        query = query.where(User.is_active)
    return list((await session.scalars(query)).all())


async def get_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> User:
    return await get_in_tenant(session, User, actor.tenant_id, user_id, what=N_("user"))


async def find_by_username(session: AsyncSession, tenant_id: uuid.UUID, username: str
                           ) -> User | None:
    return await session.scalar(
        select(User).where(User.tenant_id == tenant_id, User.username == username.strip().lower())
    )


async def create_user(session: AsyncSession, actor: Actor, data: UserCreate
                      ) -> tuple[User, str | None]:
    """Returns the user and, when no password was given, the generated one (shown once)."""
    actor.require(Permission.MANAGE_USERS)
    username = normalize_username(data.username)
    generated = None
    password = data.password
    policy = await password_rules.password_policy(session, actor.tenant_id)
    if password is None:
        password = generated = password_rules.generate_password(policy)
    check_password_strength(password, username=username, policy=policy)
    await roles.check_assignable(session, actor, role=data.role,
                                 custom_role_id=data.custom_role_id)
    user = User(
        tenant_id=actor.tenant_id, username=username, display_name=data.display_name.strip(),
        role=data.role, email=data.email, language=data.language,
        password_hash=security.hash_password(password), custom_role_id=data.custom_role_id,
    )
    session.add(user)
    await flush_unique(session, "username '%(username)s' is taken", field="username",
                       params={"username": username})
    await _set_user_groups(session, actor, user.id, data.group_ids)
    await audit.record(session, actor, "user.created", target_type="user", target_id=user.id,
                       after={"username": username, "role": data.role,
                              "custom_role_id": str(data.custom_role_id or "") or None})
    return user, generated


async def update_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID, data: UserUpdate
                      ) -> User:
    actor.require(Permission.MANAGE_USERS)
    user = await get_user(session, actor, user_id)
    changes = data.model_dump(exclude_unset=True, exclude={"group_ids"})
    changes = {name: value for name, value in changes.items() if getattr(user, name) != value}
    if user.id == actor.user_id and ({"role", "custom_role_id"} & changes.keys()
                                     or changes.get("is_active") is False):
        raise ValidationFailed("you cannot demote or deactivate yourself", field="role")
    # Only someone holding all of a user's permissions may change them (else "manage users"
    # could deactivate or rename an admin); a new role must be within the actor's own too.
    await roles.check_assignable(session, actor, role=user.role,
                                 custom_role_id=user.custom_role_id)
    if {"role", "custom_role_id"} & changes.keys():
        await roles.check_assignable(session, actor, role=changes.get("role", user.role),
                                     custom_role_id=changes.get("custom_role_id",
                                                                user.custom_role_id))
    before = {name: getattr(user, name) for name in changes if name != "email"}
    for name, value in changes.items():
        setattr(user, name, value)
    if data.group_ids is not None:
        await _set_user_groups(session, actor, user.id, data.group_ids)
    if "max_open_conversations" in changes or data.group_ids is not None:
        await _offer_waiting(session, user)  # room for more, or other queues
    if changes.get("is_active") is False:
        from invekto.auth import service as auth

        await auth.end_all_sessions(session, actor, user.id)
    await session.flush()
    await audit.record(session, actor, "user.updated", target_type="user", target_id=user.id,
                       **audit.diff(before, {name: value for name, value in changes.items()
                                             if name != "email"}))
    return user


# ---- groups ------------------------------------------------------------------------------------

async def list_groups(session: AsyncSession, actor: Actor) -> list[AgentGroup]:
    return list((await session.scalars(
        select(AgentGroup).where(AgentGroup.tenant_id == actor.tenant_id).order_by(AgentGroup.name)
    )).all())


async def get_group(session: AsyncSession, actor: Actor, group_id: uuid.UUID) -> AgentGroup:
    return await get_in_tenant(session, AgentGroup, actor.tenant_id, group_id, what=N_("group"))


async def create_group(session: AsyncSession, actor: Actor, data: GroupCreate) -> AgentGroup:
    actor.require(Permission.MANAGE_USERS)
    group = AgentGroup(tenant_id=actor.tenant_id, name=data.name.strip(),
                       description=data.description)
    session.add(group)
    await flush_unique(session, "a group named '%(name)s' exists", field="name",
                       params={"name": group.name})
    await _set_group_members(session, actor, group.id, data.member_ids)
    await audit.record(session, actor, "group.created", target_type="group", target_id=group.id)
    return group


async def update_group(session: AsyncSession, actor: Actor, group_id: uuid.UUID,
                       data: GroupUpdate) -> AgentGroup:
    actor.require(Permission.MANAGE_USERS)
    group = await get_group(session, actor, group_id)
    changes = data.model_dump(exclude_unset=True, exclude={"member_ids"})
    for name, value in changes.items():
        setattr(group, name, value.strip() if name == "name" else value)
    await flush_unique(session, "a group named '%(name)s' exists", field="name",
                       params={"name": group.name})
    if data.member_ids is not None:
        await _set_group_members(session, actor, group.id, data.member_ids)
    await audit.record(session, actor, "group.updated", target_type="group", target_id=group.id)
    return group


async def delete_group(session: AsyncSession, actor: Actor, group_id: uuid.UUID) -> None:
    actor.require(Permission.MANAGE_USERS)
    group = await get_group(session, actor, group_id)
    await session.delete(group)
    await session.flush()
    await audit.record(session, actor, "group.deleted", target_type="group", target_id=group_id)


async def active_users_named(session: AsyncSession, actor: Actor, usernames: list[str]
                             ) -> list[User]:
    return list((await session.scalars(select(User).where(
        User.tenant_id == actor.tenant_id, User.username.in_(usernames),
        User.is_active.is_(True)))).all())


async def set_presence(session: AsyncSession, actor: Actor, presence: str) -> User:
    """An agent's own availability. Routing (and the supervisors' monitor) reads it."""
    if presence not in PRESENCES:
        raise ValidationFailed("presence must be online, away or offline", field="presence")
    user = await get_user(session, actor, actor.user_id)
    user.last_seen_at = datetime.now(UTC)
    if user.presence != presence:
        await _presence_changed(session, user, presence)
    return user


# A user whose tabs have all been silent this long is shown offline (tabs ping every 25 s).
PRESENCE_GRACE = timedelta(minutes=2)


async def touch_presence(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
                         ) -> None:
    """A tab of the user is open: remember when, and bring an offline user online."""
    user = await session.scalar(select(User).where(
        User.tenant_id == tenant_id, User.id == user_id).with_for_update())
    if user is None:
        return
    user.last_seen_at = datetime.now(UTC)
    if user.presence == "offline":
        await _presence_changed(session, user, "online")


async def anyone_online(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Whether someone of the company is at work now (a visitor of the website chat is told
    otherwise that the reply may take a while)."""
    return bool(await session.scalar(select(exists().where(
        User.tenant_id == tenant_id, User.is_active.is_(True), User.presence == "online"))))


async def online_members(session: AsyncSession, actor: Actor, group_id: uuid.UUID
                         ) -> list[User]:
    """The group's active members who are online now (an incoming call rings them)."""
    return list((await session.scalars(select(User).join(GroupMembership, and_(
        GroupMembership.tenant_id == User.tenant_id, GroupMembership.user_id == User.id)).where(
        User.tenant_id == actor.tenant_id, GroupMembership.group_id == group_id,
        User.is_active.is_(True), User.presence == "online").order_by(User.username))).all())


async def sweep_presence(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Turn offline everyone whose last tab went quiet (system scope: all tenants)."""
    silent_since = (now or datetime.now(UTC)) - PRESENCE_GRACE
    silent = (await session.scalars(select(User).where(
        User.presence != "offline",
        or_(User.last_seen_at.is_(None), User.last_seen_at < silent_since),
    ).with_for_update(skip_locked=True))).all()
    for user in silent:
        # Gone when their last tab was last heard from, not when the sweep noticed.
        await _presence_changed(session, user, "offline", at=user.last_seen_at)
    return len(silent)


async def _presence_changed(session: AsyncSession, user: User, presence: str, *,
                            at: datetime | None = None) -> None:
    """Set the user's presence and keep its history (``PresencePeriod``: the reports' online
    and away time): the open period ends at ``at`` (now), and a new one starts unless they
    went offline."""
    at = at or datetime.now(UTC)
    # The user's row lock puts two tabs' changes one after the other: periods never overlap.
    await session.execute(select(User.id).where(
        User.tenant_id == user.tenant_id, User.id == user.id).with_for_update())
    await session.execute(update(PresencePeriod).where(
        PresencePeriod.tenant_id == user.tenant_id, PresencePeriod.user_id == user.id,
        PresencePeriod.ended_at.is_(None)).values(
        ended_at=func.greatest(PresencePeriod.started_at, at)))
    if presence != "offline":
        session.add(PresencePeriod(tenant_id=user.tenant_id, user_id=user.id,
                                   presence=presence, started_at=at))
    user.presence = presence
    user.presence_changed_at = at
    await session.flush()
    await realtime.publish(session, realtime.Event(
        tenant_id=user.tenant_id, type="presence.changed", restricted=False,
        data={"user_id": str(user.id), "presence": presence}))
    if presence == "online":
        await _offer_waiting(session, user)


async def _offer_waiting(session: AsyncSession, user: User) -> None:
    """The agent can take conversations: those waiting in their groups' queues go to them at
    once (a job, after this transaction commits; the inbox owns conversations)."""
    from invekto.inbox import tasks

    await jobs.defer(session, tasks.offer_waiting, queueing_lock=f"offer:{user.id}",
                     tenant_id=str(user.tenant_id), user_id=str(user.id))


async def set_language(session: AsyncSession, actor: Actor, language: str) -> User:
    if language not in LANGUAGES:
        raise ValidationFailed("language must be tr or en", field="language")
    user = await get_user(session, actor, actor.user_id)
    user.language = language
    await session.flush()
    return user


async def group_ids_of(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
                       ) -> frozenset[uuid.UUID]:
    rows = await session.scalars(select(GroupMembership.group_id).where(
        GroupMembership.tenant_id == tenant_id, GroupMembership.user_id == user_id))
    return frozenset(rows.all())


async def members_by_group(session: AsyncSession, actor: Actor,
                           group_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(select(GroupMembership.group_id, GroupMembership.user_id).where(
        GroupMembership.tenant_id == actor.tenant_id,
        GroupMembership.group_id.in_(list(group_ids))))
    members: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for group_id, user_id in rows:
        members[group_id].append(user_id)
    return members


async def groups_by_user(session: AsyncSession, actor: Actor,
                         user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(select(GroupMembership.user_id, GroupMembership.group_id).where(
        GroupMembership.tenant_id == actor.tenant_id,
        GroupMembership.user_id.in_(list(user_ids))))
    groups: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for user_id, group_id in rows:
        groups[user_id].append(group_id)
    return groups


async def _existing_ids(session: AsyncSession, actor: Actor, model, ids: list[uuid.UUID],
                        field: str) -> set[uuid.UUID]:
    wanted = set(ids)
    if not wanted:
        return wanted
    found = set((await session.scalars(select(model.id).where(
        model.tenant_id == actor.tenant_id, model.id.in_(wanted)))).all())
    if missing := wanted - found:
        raise ValidationFailed(f"unknown id: {sorted(map(str, missing))[0]}", field=field)
    return wanted


async def _set_user_groups(session: AsyncSession, actor: Actor, user_id: uuid.UUID,
                           group_ids: list[uuid.UUID]) -> None:
    wanted = await _existing_ids(session, actor, AgentGroup, group_ids, "group_ids")
    await session.execute(delete(GroupMembership).where(
        GroupMembership.tenant_id == actor.tenant_id, GroupMembership.user_id == user_id))
    session.add_all(GroupMembership(tenant_id=actor.tenant_id, group_id=g, user_id=user_id)
                    for g in wanted)
    await session.flush()


async def _set_group_members(session: AsyncSession, actor: Actor, group_id: uuid.UUID,
                             user_ids: list[uuid.UUID]) -> None:
    wanted = await _existing_ids(session, actor, User, user_ids, "member_ids")
    await session.execute(delete(GroupMembership).where(
        GroupMembership.tenant_id == actor.tenant_id, GroupMembership.group_id == group_id))
    session.add_all(GroupMembership(tenant_id=actor.tenant_id, group_id=group_id, user_id=u)
                    for u in wanted)
    await session.flush()
