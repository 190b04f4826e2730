"""`/api/v1/users`: accounts and their roles (system administrators; 三员 enforced in the service)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from soc_api.identity.actors import Actor
from soc_api.identity.records import Account, ts
from soc_api.identity.roles import Permission, Role
from soc_api.webapi.app import API_PREFIX
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"])


class UserCreate(BaseModel):
    """A new account: the initial password must meet the policy; roles may be empty."""

    username: Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]+$")]
    display_name: Annotated[str, Field(max_length=128)] = ""
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    roles: Annotated[list[Role], Field(max_length=7)] = []


class UserPublic(BaseModel):
    """An account as administrators see it (never a hash or a secret)."""

    id: str
    username: str
    display_name: str
    roles: list[Role]
    disabled: bool
    mfa_enrolled: bool
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime


class RolesUpdate(BaseModel):
    """The complete new set of roles."""

    roles: Annotated[list[Role], Field(max_length=7)]


class UserSort(StrEnum):
    """Sort orders of the account list (`-` for descending)."""

    USERNAME = "username"
    USERNAME_DESC = "-username"
    CREATED = "created_at"
    CREATED_DESC = "-created_at"


def public(account: Account) -> UserPublic:
    """The API view of an account."""
    return UserPublic(
        id=account.id,
        username=account.username,
        display_name=account.display_name,
        roles=sorted(account.roles),
        disabled=account.disabled,
        mfa_enrolled=account.mfa_enrolled,
        locked_until=account.locked_until,
        created_at=account.created_at,
        updated_at=account.updated_at,
    )


@router.get("", response_model=Page[UserPublic])
def list_users(
    actor: Annotated[Actor, require(Permission.USERS_READ)],
    services: Services,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: UserSort = UserSort.USERNAME,
    username_prefix: Annotated[str | None, Query(max_length=64)] = None,
    role: Role | None = None,
    disabled: bool | None = None,
) -> Page[UserPublic]:
    """Accounts (账户列表), filtered and sorted, one page at a time."""
    after = decode_cursor(cursor, (str, str))
    column = sort.value.lstrip("-")
    accounts = services.identity.store.page(
        limit=limit + 1,
        after=(after[0], after[1]) if after else None,
        sort=column,
        descending=sort.value.startswith("-"),
        username_prefix=username_prefix,
        role=role,
        disabled=disabled,
    )
    more = len(accounts) > limit
    accounts = accounts[:limit]
    next_cursor = None
    if more and accounts:
        last = accounts[-1]
        next_cursor = encode_cursor([last.username if column == "username" else ts(last.created_at), last.id])
    return Page[UserPublic](items=[public(a) for a in accounts], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=UserPublic)
def create_user(
    body: UserCreate, actor: Annotated[Actor, require(Permission.USERS_CREATE)], services: Services
) -> UserPublic:
    """Create an account (新建账户). One account holds at most one administrator role (三员分立)."""
    account = services.identity.accounts.create(
        actor,
        username=body.username,
        display_name=body.display_name,
        password=body.password,
        roles=body.roles,
        now=services.clock(),
    )
    return public(account)


@router.get("/{user_id}", response_model=UserPublic)
def get_user(
    user_id: str, actor: Annotated[Actor, require(Permission.USERS_READ)], services: Services
) -> UserPublic:
    """One account."""
    return public(services.identity.store.get(user_id[:64]))


@router.put("/{user_id}/roles", response_model=UserPublic)
def set_roles(
    user_id: str,
    body: RolesUpdate,
    actor: Annotated[Actor, require(Permission.USERS_ROLES)],
    services: Services,
) -> UserPublic:
    """Replace an account's roles (分配角色); refused and ledgered when it would break 三员分立."""
    return public(services.identity.accounts.set_roles(actor, user_id[:64], body.roles, now=services.clock()))


@router.post("/{user_id}/disable", response_model=UserPublic)
def disable_user(
    user_id: str, actor: Annotated[Actor, require(Permission.USERS_UPDATE)], services: Services
) -> UserPublic:
    """Disable an account (停用); its sessions end."""
    return public(services.identity.accounts.set_disabled(actor, user_id[:64], True, now=services.clock()))


@router.post("/{user_id}/enable", response_model=UserPublic)
def enable_user(
    user_id: str, actor: Annotated[Actor, require(Permission.USERS_UPDATE)], services: Services
) -> UserPublic:
    """Enable an account again (启用)."""
    return public(services.identity.accounts.set_disabled(actor, user_id[:64], False, now=services.clock()))


@router.post("/{user_id}/reset-mfa", response_model=UserPublic)
def reset_mfa(
    user_id: str, actor: Annotated[Actor, require(Permission.USERS_RESET_MFA)], services: Services
) -> UserPublic:
    """Remove an account's second factor (重置动态口令); it enrols again at its next sign-in."""
    return public(services.identity.accounts.reset_mfa(actor, user_id[:64], now=services.clock()))
