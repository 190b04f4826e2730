"""Roles, permissions and the one matrix between them (pure; the single source of who may do what).

三员分立 (GB/T 22239-2019 level 3, 8.1.4.2 / 8.1.10.2): the system, security and audit
administrators are three different people. `check_separation` is the rule; the store enforces
it again with a trigger and every entry point (API, CLI) goes through the same write path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from soc_api.identity.errors import InvalidRequestError, SeparationOfDutiesError


class Role(StrEnum):
    """The platform's roles (value = stored and API name)."""

    SYSTEM_ADMIN = "system_admin"
    SECURITY_ADMIN = "security_admin"
    AUDIT_ADMIN = "audit_admin"
    ANALYST = "analyst"
    APPROVER = "approver"
    DATA_OWNER = "data_owner"
    DATA_USER = "data_user"
    VIEWER = "viewer"


#: The three administrator roles, mutually exclusive on one account.
ADMIN_ROLES: frozenset[Role] = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})
#: Roles that must sign in with a second factor (MLPS level 3: two factors for administrators).
MFA_ROLES: frozenset[Role] = ADMIN_ROLES

ROLE_TITLES: Mapping[Role, str] = MappingProxyType(
    {
        Role.SYSTEM_ADMIN: "系统管理员 system administrator",
        Role.SECURITY_ADMIN: "安全管理员 security administrator",
        Role.AUDIT_ADMIN: "审计管理员 audit administrator",
        Role.ANALYST: "安全分析员 SOC analyst",
        Role.APPROVER: "审批人 approver",
        Role.DATA_OWNER: "数据所有者 data owner",
        Role.DATA_USER: "数据使用者 data user",
        Role.VIEWER: "只读 viewer",
    }
)


class Permission(StrEnum):
    """One permission per action. Every API route declares exactly one (or is public/self-service)."""

    USERS_READ = "users.read"
    USERS_CREATE = "users.create"
    USERS_UPDATE = "users.update"
    USERS_ROLES = "users.roles"
    USERS_RESET_MFA = "users.reset_mfa"
    TOKENS_READ = "tokens.read"
    TOKENS_CREATE = "tokens.create"
    TOKENS_REVOKE = "tokens.revoke"
    SETTINGS_READ = "settings.read"
    AUDIT_READ = "audit.read"
    AUDIT_REVIEW = "audit.review"
    AUDIT_EXPORT = "audit.export"
    EVENTS_READ = "events.read"
    EVENTS_READ_ORIGINAL = "events.read_original"
    SOURCES_READ = "sources.read"
    METRICS_READ = "metrics.read"
    ALERTS_READ = "alerts.read"
    ALERTS_HANDLE = "alerts.handle"
    RULES_MANAGE = "rules.manage"
    CLASSIFICATION_MANAGE = "classification.manage"
    POLICIES_MANAGE = "policies.manage"
    ALERT_ROUTING_MANAGE = "alert_routing.manage"
    #: An upper platform's acknowledgement of a notification (a machine token's scope).
    ALERTS_RECEIPT = "alerts.receipt"
    CASES_HANDLE = "cases.handle"
    SUPPRESSIONS_MANAGE = "suppressions.manage"
    BULLETINS_READ = "bulletins.read"
    BULLETINS_MANAGE = "bulletins.manage"
    APPROVALS_READ = "approvals.read"
    APPROVALS_DECIDE = "approvals.decide"
    CATALOG_READ = "catalog.read"
    CATALOG_MANAGE = "catalog.manage"
    ACCESS_REQUEST = "access.request"
    GRANTS_READ = "grants.read"
    GRANTS_MANAGE = "grants.manage"
    INGEST = "ingest"


P = Permission
#: The declared role → permission matrix. The system administrator manages accounts and settings
#: but cannot read trails, approve or change rules; the security administrator owns rules,
#: classification, policies and alert routing but not accounts or trail exports; the audit
#: administrator reads every trail, records reviews and exports, and changes nothing else.
#: Data governance: data owners manage, grade and approve access to their own departments' assets
#: (the services check the department), data users request access, approvers decide under the
#: approval policy, and the security administrator is the second approver of core data.
MATRIX: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.SYSTEM_ADMIN: frozenset(
            {
                P.USERS_READ,
                P.USERS_CREATE,
                P.USERS_UPDATE,
                P.USERS_ROLES,
                P.USERS_RESET_MFA,
                P.TOKENS_READ,
                P.TOKENS_CREATE,
                P.TOKENS_REVOKE,
                P.SETTINGS_READ,
                P.SOURCES_READ,
                P.METRICS_READ,
            }
        ),
        Role.SECURITY_ADMIN: frozenset(
            {
                P.RULES_MANAGE,
                P.CLASSIFICATION_MANAGE,
                P.POLICIES_MANAGE,
                P.ALERT_ROUTING_MANAGE,
                P.CATALOG_READ,
                P.CATALOG_MANAGE,
                P.APPROVALS_READ,
                P.APPROVALS_DECIDE,
                P.GRANTS_READ,
                P.GRANTS_MANAGE,
                P.ALERTS_READ,
                P.ALERTS_HANDLE,
                P.ALERTS_RECEIPT,
                P.CASES_HANDLE,
                P.SUPPRESSIONS_MANAGE,
                P.BULLETINS_READ,
                P.BULLETINS_MANAGE,
                P.EVENTS_READ,
                P.EVENTS_READ_ORIGINAL,
                P.SOURCES_READ,
                P.METRICS_READ,
            }
        ),
        Role.AUDIT_ADMIN: frozenset(
            {
                P.AUDIT_READ,
                P.AUDIT_REVIEW,
                P.AUDIT_EXPORT,
                P.EVENTS_READ,
                P.EVENTS_READ_ORIGINAL,
                P.SOURCES_READ,
                P.CATALOG_READ,
                P.APPROVALS_READ,
                P.GRANTS_READ,
            }
        ),
        Role.ANALYST: frozenset(
            {
                P.EVENTS_READ,
                P.EVENTS_READ_ORIGINAL,
                P.ALERTS_READ,
                P.ALERTS_HANDLE,
                P.CASES_HANDLE,
                P.BULLETINS_READ,
                P.SOURCES_READ,
                P.CATALOG_READ,
            }
        ),
        Role.APPROVER: frozenset({P.APPROVALS_READ, P.APPROVALS_DECIDE, P.CATALOG_READ, P.GRANTS_READ}),
        Role.DATA_OWNER: frozenset(
            {
                P.APPROVALS_READ,
                P.APPROVALS_DECIDE,
                P.EVENTS_READ,
                P.CATALOG_READ,
                P.CATALOG_MANAGE,
                P.CLASSIFICATION_MANAGE,
                P.GRANTS_READ,
                P.GRANTS_MANAGE,
            }
        ),
        Role.DATA_USER: frozenset({P.CATALOG_READ, P.ACCESS_REQUEST}),
        Role.VIEWER: frozenset(
            {P.EVENTS_READ, P.ALERTS_READ, P.BULLETINS_READ, P.SOURCES_READ, P.CATALOG_READ}
        ),
    }
)
#: Scopes a machine token may carry: every permission a person may hold, plus `ingest`.
TOKEN_SCOPES: frozenset[Permission] = frozenset(Permission)


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Roles from their names; `InvalidRequestError` names an unknown one."""
    roles = set()
    for name in names:
        try:
            roles.add(Role(name))
        except ValueError:
            raise InvalidRequestError(
                f"unknown role {name!r}; known: {sorted(r.value for r in Role)}"
            ) from None
    return frozenset(roles)


def parse_scopes(names: Iterable[str]) -> frozenset[Permission]:
    """Token scopes from their names; `InvalidRequestError` names an unknown one."""
    scopes = set()
    for name in names:
        try:
            scopes.add(Permission(name))
        except ValueError:
            raise InvalidRequestError(
                f"unknown scope {name!r}; known: {sorted(p.value for p in Permission)}"
            ) from None
    return frozenset(scopes)


def check_separation(roles: Iterable[Role]) -> None:
    """Raise `SeparationOfDutiesError` when `roles` hold two or more of the administrator roles."""
    held = sorted(r.value for r in set(roles) & ADMIN_ROLES)
    if len(held) > 1:
        raise SeparationOfDutiesError(
            f"三员分立: one account may hold only one of system_admin, security_admin, audit_admin "
            f"(GB/T 22239-2019); requested {held}"
        )


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    """Union of the roles' permissions."""
    out: set[Permission] = set()
    for role in roles:
        out |= MATRIX[role]
    return frozenset(out)


def needs_second_factor(roles: Iterable[Role]) -> bool:
    """True when any role requires a second factor."""
    return bool(set(roles) & MFA_ROLES)
