"""Account administration: create, roles, disable, reset the second factor (audited, 三员 enforced).

Every entry point (API, CLI, demo) calls these, so the rules hold everywhere: the pure 三员
check refuses first (ledgered as `denied`), the store's trigger refuses again. Nobody changes
their own roles, and the last enabled system administrator cannot be disabled or demoted.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink, audit_draft, audited
from soc_api.identity.config import IdentityConfig
from soc_api.identity.errors import ConflictError, IdentityError, InvalidRequestError, PermissionDeniedError
from soc_api.identity.passwords import Passwords
from soc_api.identity.records import Account
from soc_api.identity.roles import Role, check_separation
from soc_api.identity.store import IdentityStore

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}\Z")


class Accounts:
    """Account administration service (see module docstring)."""

    def __init__(
        self,
        store: IdentityStore,
        audit: AuditSink,
        config: IdentityConfig,
        passwords: Passwords,
        *,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self.store = store
        self.audit = audit
        self.config = config
        self.passwords = passwords
        self._new_id = new_id

    def _deny(
        self, actor: Actor, kind: str, subject: str, now: datetime, error: IdentityError, **payload: object
    ) -> None:
        self.audit.record(
            audit_draft(
                now=now,
                kind=kind,
                actor=actor.label,
                subject=subject,
                outcome="denied",
                reason=error.problem,
                detail=error.detail[:300],
                **payload,
            )
        )
        raise error

    def create(
        self,
        actor: Actor,
        *,
        username: str,
        display_name: str,
        password: str,
        roles: Iterable[Role],
        now: datetime,
    ) -> Account:
        """A new account with `roles`; refusals (三员, policy, name) are ledgered."""
        roles = frozenset(roles)
        subject = f"account:{username[:64]}"
        payload = {"username": username[:64], "roles": sorted(r.value for r in roles)}
        if not USERNAME.match(username):
            self._deny(
                actor,
                "admin.user_created",
                subject,
                now,
                InvalidRequestError(
                    "用户名须为 2–64 个字母、数字或 _.@- / user names are 2-64 letters, digits or _.@-"
                ),
                **payload,
            )
        try:
            check_separation(roles)
            self.config.passwords.check(password, username=username)
        except IdentityError as exc:
            self._deny(actor, "admin.user_created", subject, now, exc, **payload)
        if self.store.by_username(username) is not None:
            self._deny(
                actor,
                "admin.user_created",
                subject,
                now,
                ConflictError(f"user name {username!r} is taken"),
                **payload,
            )
        password_hash = self.passwords.hash(password)
        account_id = "acc_" + self._new_id()
        draft = audit_draft(
            now=now,
            kind="admin.user_created",
            actor=actor.label,
            subject=f"account:{account_id}",
            outcome="success",
            **payload,
        )
        return audited(
            self.audit,
            draft,
            lambda: self.store.create(
                account_id=account_id,
                username=username,
                display_name=display_name[:128] or username,
                password_hash=password_hash,
                roles=roles,
                now=now,
            ),
        )

    def set_roles(self, actor: Actor, key: str, roles: Iterable[Role], *, now: datetime) -> Account:
        """Replace an account's roles; refusals (三员, self-grant, last system admin) are ledgered."""
        roles = frozenset(roles)
        account = self.store.find(key)
        subject = f"account:{account.id}"
        payload = {
            "username": account.username,
            "before": sorted(r.value for r in account.roles),
            "after": sorted(r.value for r in roles),
        }
        if actor.kind == "user" and actor.id == account.id:
            self._deny(
                actor,
                "admin.roles_changed",
                subject,
                now,
                PermissionDeniedError("不得修改自己的角色 / nobody changes their own roles"),
                **payload,
            )
        try:
            check_separation(roles)
        except IdentityError as exc:
            self._deny(actor, "admin.roles_changed", subject, now, exc, **payload)
        self._keep_a_system_admin(
            actor, account, remains=Role.SYSTEM_ADMIN in roles, kind="admin.roles_changed", now=now
        )
        draft = audit_draft(
            now=now,
            kind="admin.roles_changed",
            actor=actor.label,
            subject=subject,
            outcome="success",
            **payload,
        )
        return audited(self.audit, draft, lambda: self.store.set_roles(account.id, roles, now))

    def _keep_a_system_admin(
        self, actor: Actor, account: Account, *, remains: bool, kind: str, now: datetime
    ) -> None:
        last = Role.SYSTEM_ADMIN in account.roles and not remains and not account.disabled
        if last and self.store.count_with_role(Role.SYSTEM_ADMIN) <= 1:
            self._deny(
                actor,
                kind,
                f"account:{account.id}",
                now,
                ConflictError("这是最后一个启用的系统管理员 / this is the last enabled system administrator"),
            )

    def set_disabled(self, actor: Actor, key: str, disabled: bool, *, now: datetime) -> Account:
        """Disable (ending its sessions) or enable an account."""
        account = self.store.find(key)
        kind = "admin.user_disabled" if disabled else "admin.user_enabled"
        if disabled:
            if actor.kind == "user" and actor.id == account.id:
                self._deny(
                    actor,
                    kind,
                    f"account:{account.id}",
                    now,
                    PermissionDeniedError("不得停用自己的账户 / you cannot disable your own account"),
                )
            self._keep_a_system_admin(actor, account, remains=False, kind=kind, now=now)
        draft = audit_draft(
            now=now,
            kind=kind,
            actor=actor.label,
            subject=f"account:{account.id}",
            outcome="success",
            username=account.username,
        )
        return audited(self.audit, draft, lambda: self.store.set_disabled(account.id, disabled, now))

    def reset_mfa(self, actor: Actor, key: str, *, now: datetime) -> Account:
        """Remove an account's second factor (it enrols again at its next sign-in)."""
        account = self.store.find(key)
        draft = audit_draft(
            now=now,
            kind="admin.mfa_reset",
            actor=actor.label,
            subject=f"account:{account.id}",
            outcome="success",
            username=account.username,
        )
        audited(self.audit, draft, lambda: self.store.reset_mfa(account.id, now))
        return self.store.get(account.id)
