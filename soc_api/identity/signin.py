"""Sign-in, the second factor and sessions: every step audited before its effect.

Flow: `sign_in` (password) creates a session at stage `mfa` (second factor enrolled), `enrol`
(roles require one not yet enrolled: only enrolment is allowed) or `full`. `second_factor`
(TOTP or a recovery code) and `confirm_enrolment` bring it to `full`. `authenticate` checks a
session on every request (idle and absolute timeouts); the CSRF token is bound to the session.
Failures of either factor count towards the account's lockout; only a full sign-in resets it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import segno

from crypto.recipes import KeyStore, SealError, open_field, seal_field
from crypto.sealing import SealedField
from soc_api.identity import totp
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink, audit_draft, audited
from soc_api.identity.config import IdentityConfig
from soc_api.identity.errors import (
    AuthenticationError,
    ConflictError,
    CsrfError,
    EnrolmentRequiredError,
    InvalidRequestError,
    PermissionDeniedError,
    SecondFactorRequiredError,
)
from soc_api.identity.lockout import is_locked
from soc_api.identity.passwords import Passwords
from soc_api.identity.records import Account, Session, ts
from soc_api.identity.roles import needs_second_factor, permissions_of
from soc_api.identity.sessions import Expiry, Stage
from soc_api.identity.store import IdentityStore

_FAILED = (
    "登录失败：用户名、密码或验证码错误，多次失败后账户将被暂时锁定 / sign-in failed: wrong user name, "
    "password or code; repeated failures lock the account for a while"
)
_TOTP_FIELD = "totp_secret"


def secret_digest(value: str) -> str:
    """Stored form of a session id or CSRF token (random 256-bit values: a digest suffices)."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: `session_id` goes into the cookie, `csrf` to the page; both shown once."""

    session_id: str
    csrf: str
    stage: Stage
    account: Account


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A TOTP secret awaiting its first code, with what an authenticator app needs."""

    secret: str
    uri: str
    qr_svg: str


class SignIn:
    """Sign-in and session service over the identity store (see module docstring)."""

    def __init__(
        self,
        store: IdentityStore,
        audit: AuditSink,
        keys: KeyStore,
        config: IdentityConfig,
        passwords: Passwords,
        *,
        token_urlsafe: Callable[[int], str] = secrets.token_urlsafe,
    ) -> None:
        self.store = store
        self.audit = audit
        self.keys = keys
        self.config = config
        self.passwords = passwords
        self._token = token_urlsafe

    # ---- password step ----

    def sign_in(self, username: str, password: str, *, peer: str, now: datetime) -> SignedIn:
        """The password step (see module docstring); `AuthenticationError` on any failure."""
        account = self.store.by_username(username) if 0 < len(username) <= 128 else None
        who = f"user:{account.username if account else username[:128] or '?'}"
        if account is not None and is_locked(account.locked_until, now):
            self.audit.record(
                audit_draft(
                    now=now,
                    kind="login.failure",
                    actor=who,
                    subject="session",
                    outcome="denied",
                    reason="locked",
                    peer=peer,
                    locked_until=ts(account.locked_until),  # type: ignore[arg-type]
                )
            )
            raise AuthenticationError(_FAILED)
        ok = self.passwords.verify(account.password_hash if account else None, password[:1024])
        if account is None or not ok or account.disabled:
            reason = "unknown_user" if account is None else "disabled" if ok else "bad_password"
            self._failure(account, who, reason, peer, now)
        assert account is not None
        stage = (
            Stage.MFA
            if account.mfa_enrolled
            else Stage.ENROL
            if needs_second_factor(account.roles)
            else Stage.FULL
        )
        kind = "login.success" if stage is Stage.FULL else "login.password_ok"
        draft = audit_draft(
            now=now, kind=kind, actor=who, subject="session", outcome="success", peer=peer, stage=stage.value
        )

        def effect() -> SignedIn:
            if stage is Stage.FULL and (account.failures or account.locked_until):
                self.store.record_success(account.id)
            if self.passwords.needs_rehash(account.password_hash):
                self.store.rehash_password(account.id, self.passwords.hash(password))
            return self._new_session(account, stage, peer, now)

        return audited(self.audit, draft, effect)

    def _failure(self, account: Account | None, who: str, reason: str, peer: str, now: datetime) -> None:
        """Audit a failed factor, count it towards the lockout, raise `AuthenticationError`."""
        if account is None:
            self.audit.record(
                audit_draft(
                    now=now,
                    kind="login.failure",
                    actor=who,
                    subject="session",
                    outcome="denied",
                    reason=reason,
                    peer=peer,
                )
            )
            raise AuthenticationError(_FAILED)
        failures, locked_until = self.config.lockout.after_failure(account.failures, now)
        kind = "login.locked" if locked_until is not None else "login.failure"
        draft = audit_draft(
            now=now,
            kind=kind,
            actor=who,
            subject="session",
            outcome="denied",
            reason=reason,
            peer=peer,
            failures=failures,
            locked_until=ts(locked_until) if locked_until else None,
        )
        audited(self.audit, draft, lambda: self.store.record_failure(account.id, failures, locked_until))
        raise AuthenticationError(_FAILED)

    def _new_session(self, account: Account, stage: Stage, peer: str, now: datetime) -> SignedIn:
        session_id, csrf = self._token(32), self._token(32)
        self.store.create_session(
            Session(
                id_digest=secret_digest(session_id),
                account_id=account.id,
                stage=stage,
                csrf_digest=secret_digest(csrf),
                created_at=now,
                last_seen_at=now,
                revoked_at=None,
                peer=peer[:64],
            )
        )
        return SignedIn(session_id, csrf, stage, account)

    # ---- second factor ----

    def _secret(self, account: Account, sealed_json: str | None) -> str:
        if sealed_json is None:
            raise InvalidRequestError("no second factor to check")
        try:
            raw = open_field(
                self.keys.sealing_keys(),
                f"identity/account/{account.id}",
                _TOTP_FIELD,
                json.loads(sealed_json),
            )
        except (SealError, ValueError):
            raise AuthenticationError(
                "the stored second factor cannot be opened; ask an administrator to reset it"
            ) from None
        return raw.decode("ascii")

    def second_factor(
        self, session_id: str, *, code: str | None, recovery_code: str | None, now: datetime
    ) -> SignedIn:
        """Finish sign-in of an `mfa` session with a TOTP code or a one-time recovery code."""
        session, account = self._session(session_id, now, stages={Stage.MFA})
        who = f"user:{account.username}"
        if is_locked(account.locked_until, now):
            self.audit.record(
                audit_draft(
                    now=now,
                    kind="login.failure",
                    actor=who,
                    subject="session",
                    outcome="denied",
                    reason="locked",
                    peer=session.peer,
                )
            )
            raise AuthenticationError(_FAILED)
        if recovery_code:
            digest = totp.recovery_digest(recovery_code)
            draft = audit_draft(
                now=now,
                kind="login.success",
                actor=who,
                subject="session",
                outcome="success",
                factor="recovery_code",
                peer=session.peer,
            )
            if self.store.recovery_codes_left(account.id) and self._recovery_known(account.id, digest):

                def spend() -> SignedIn:
                    if not self.store.use_recovery_code(account.id, digest, now):
                        raise AuthenticationError(_FAILED)
                    return self._finish(session, account, now)

                return audited(self.audit, draft, spend)
            self._failure(account, who, "bad_recovery_code", session.peer, now)
        counter = totp.match_totp(
            self._secret(account, account.totp_sealed),
            code or "",
            now,
            window=self.config.totp_window,
            last_counter=account.totp_last_counter,
        )
        if counter is None:
            self._failure(account, who, "bad_totp", session.peer, now)
        assert counter is not None
        draft = audit_draft(
            now=now,
            kind="login.success",
            actor=who,
            subject="session",
            outcome="success",
            factor="totp",
            peer=session.peer,
        )

        def use() -> SignedIn:
            if not self.store.use_totp_counter(account.id, counter):
                raise AuthenticationError(_FAILED)  # the same code raced in twice: one wins
            return self._finish(session, account, now)

        return audited(self.audit, draft, use)

    def _recovery_known(self, account_id: str, digest: str) -> bool:
        with self.store.state.read() as conn:
            row = conn.execute(
                "SELECT 1 FROM recovery_codes WHERE account_id = ? AND digest = ? AND used_at IS NULL",
                (account_id, digest),
            ).fetchone()
        return row is not None

    def _finish(self, session: Session, account: Account, now: datetime) -> SignedIn:
        # A new session id once fully signed in (no fixation of the half-signed-in one).
        self.store.record_success(account.id)
        self.store.revoke_session(session.id_digest, now)
        return self._new_session(account, Stage.FULL, session.peer, now)

    def begin_enrolment(self, actor: Actor, *, now: datetime) -> Enrolment:
        """A new TOTP secret (sealed, pending) with its otpauth URI and QR code (SVG)."""
        _person(actor)
        account = self.store.get(actor.id)
        if account.mfa_enrolled:
            raise ConflictError("a second factor is already enrolled; an administrator can reset it")
        secret = totp.new_secret()
        sealed = seal_field(
            self.keys.sealing_key, f"identity/account/{account.id}", _TOTP_FIELD, secret.encode("ascii")
        )
        draft = audit_draft(
            now=now,
            kind="login.mfa_enrolment_started",
            actor=actor.label,
            subject=f"account:{account.id}",
            outcome="success",
        )
        audited(self.audit, draft, lambda: self.store.set_pending_totp(account.id, sealed_json(sealed)))
        uri = totp.provisioning_uri(secret, account.username)
        qr = segno.make(uri, error="m").svg_inline(scale=4)
        return Enrolment(secret=secret, uri=uri, qr_svg=qr)

    def confirm_enrolment(self, actor: Actor, code: str, *, now: datetime) -> list[str]:
        """Check the first code of the pending secret; enrol it; the recovery codes (shown once)."""
        _person(actor)
        account = self.store.get(actor.id)
        if account.totp_pending_sealed is None:
            raise InvalidRequestError("no enrolment in progress: start one first")
        counter = totp.match_totp(
            self._secret(account, account.totp_pending_sealed), code, now, window=self.config.totp_window
        )
        if counter is None:
            self.audit.record(
                audit_draft(
                    now=now,
                    kind="login.mfa_enrolment_failed",
                    actor=actor.label,
                    subject=f"account:{account.id}",
                    outcome="denied",
                    reason="bad_totp",
                )
            )
            raise AuthenticationError("验证码错误 / wrong code")
        codes = totp.new_recovery_codes()
        sealed = account.totp_pending_sealed
        draft = audit_draft(
            now=now,
            kind="login.mfa_enrolled",
            actor=actor.label,
            subject=f"account:{account.id}",
            outcome="success",
            recovery_codes=len(codes),
        )

        def effect() -> None:
            self.store.confirm_totp(
                account.id, sealed, counter, [totp.recovery_digest(c) for c in codes], now
            )
            if actor.session is not None:
                session = self.store.session(actor.session)
                if session is not None and session.stage is Stage.ENROL:
                    self.store.set_session_stage(actor.session, Stage.FULL, now)

        audited(self.audit, draft, effect)
        return codes

    def enrol_now(self, actor: Actor, account_id: str, *, now: datetime) -> tuple[Enrolment, list[str]]:
        """Enrol a new TOTP secret for an account at once (operator bootstrap and demo accounts):
        the secret, its QR code and the recovery codes, for the operator to hand over."""
        account = self.store.get(account_id)
        secret = totp.new_secret()
        record = f"identity/account/{account.id}"
        sealed = seal_field(self.keys.sealing_key, record, _TOTP_FIELD, secret.encode("ascii"))
        codes = totp.new_recovery_codes()
        draft = audit_draft(
            now=now,
            kind="login.mfa_enrolled",
            actor=actor.label,
            subject=f"account:{account.id}",
            outcome="success",
            recovery_codes=len(codes),
            by_operator=True,
        )
        audited(
            self.audit,
            draft,
            lambda: self.store.confirm_totp(
                account.id, sealed_json(sealed), -1, [totp.recovery_digest(c) for c in codes], now
            ),
        )
        uri = totp.provisioning_uri(secret, account.username)
        return Enrolment(secret=secret, uri=uri, qr_svg=segno.make(uri, error="m").svg_inline(scale=4)), codes

    def totp_secret(self, account_id: str) -> str | None:
        """The enrolled TOTP secret, opened (demo mode prints it; nothing else reads it back)."""
        account = self.store.get(account_id)
        return self._secret(account, account.totp_sealed) if account.totp_sealed else None

    # ---- sessions ----

    def _session(self, session_id: str, now: datetime, *, stages: set[Stage]) -> tuple[Session, Account]:
        session = self.store.session(secret_digest(session_id)) if session_id else None
        if session is None or session.revoked_at is not None:
            raise AuthenticationError("未登录或会话已结束 / not signed in, or the session has ended")
        expiry = self.config.sessions.expiry(
            created=session.created_at, last_seen=session.last_seen_at, stage=session.stage, now=now
        )
        account = self.store.get(session.account_id)
        if expiry is not Expiry.VALID:
            draft = audit_draft(
                now=now,
                kind="login.session_expired",
                actor=f"user:{account.username}",
                subject="session",
                outcome="denied",
                reason=expiry.value,
                peer=session.peer,
            )
            audited(self.audit, draft, lambda: self.store.revoke_session(session.id_digest, now))
            raise AuthenticationError("会话已过期，请重新登录 / the session has expired; sign in again")
        if account.disabled:
            raise AuthenticationError("账户已停用 / the account is disabled")
        if session.stage not in stages:
            if session.stage is Stage.MFA:
                raise SecondFactorRequiredError("需要第二因素验证 / a second factor is required")
            if session.stage is Stage.ENROL:
                raise EnrolmentRequiredError(
                    "请先绑定动态口令 / enrol a second factor first (POST /api/v1/me/second-factor)"
                )
            raise AuthenticationError("会话阶段不符 / this session cannot do that yet")
        return session, account

    def authenticate(self, session_id: str, now: datetime, *, allow_enrol: bool = False) -> Actor:
        """The actor of a browser session, checked for expiry; touches its idle clock."""
        stages = {Stage.FULL, Stage.ENROL} if allow_enrol else {Stage.FULL}
        session, account = self._session(session_id, now, stages=stages)
        if self.config.sessions.should_touch(session.last_seen_at, now):
            self.store.touch_session(session.id_digest, now)
        permissions = permissions_of(account.roles) if session.stage is Stage.FULL else frozenset()
        return Actor(
            kind="user",
            id=account.id,
            name=account.username,
            permissions=permissions,
            roles=account.roles,
            session=session.id_digest,
        )

    def session_of(self, session_id: str, now: datetime) -> tuple[Session, Account]:
        """A session at any stage (for `GET /session`), checked for expiry."""
        return self._session(session_id, now, stages=set(Stage))

    def check_csrf(self, actor: Actor, presented: str | None) -> None:
        """Refuse a state-changing browser request whose CSRF token is not its session's."""
        session = self.store.session(actor.session) if actor.session else None
        if (
            session is None
            or not presented
            or not hmac.compare_digest(session.csrf_digest, secret_digest(presented))
        ):
            raise CsrfError("缺少或错误的 CSRF 令牌 / missing or wrong X-CSRF-Token header")

    def sign_out(self, actor: Actor, *, now: datetime) -> None:
        """End the actor's session."""
        if actor.session is None:
            return
        session_digest = actor.session
        draft = audit_draft(
            now=now, kind="login.signed_out", actor=actor.label, subject="session", outcome="success"
        )
        audited(self.audit, draft, lambda: self.store.revoke_session(session_digest, now))

    def change_password(self, actor: Actor, current: str, new: str, *, now: datetime) -> None:
        """Change one's own password (current one checked, policy and history applied)."""
        _person(actor)
        account = self.store.get(actor.id)
        if not self.passwords.verify(account.password_hash, current[:1024]):
            self._failure(account, actor.label, "bad_password", "password-change", now)
        policy = self.config.passwords
        policy.check(
            new,
            username=account.username,
            previous=self.store.password_history(account.id, policy.history),
            matches=self.passwords.verify,
        )
        new_hash = self.passwords.hash(new)
        draft = audit_draft(
            now=now,
            kind="admin.password_changed",
            actor=actor.label,
            subject=f"account:{account.id}",
            outcome="success",
        )
        audited(
            self.audit, draft, lambda: self.store.set_password(account.id, new_hash, now, keep=policy.history)
        )


def _person(actor: Actor) -> None:
    if actor.kind != "user":
        raise PermissionDeniedError("只有登录的人员可以这样做 / only a signed-in person can do this")


def sealed_json(sealed: SealedField) -> str:
    """A sealed field as stored (JSON of its dict form)."""
    return json.dumps(sealed.to_dict())
