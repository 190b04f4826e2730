"""Machine identities: API tokens (scoped permissions) and ingest tokens (a source and parser),
one table and one code path; hashed at rest (`sha256:<hex>`, as `collect.tokens_file` has always
stored them), shown once, expiring, revocable while the platform runs.

`IngestTokens` is what the collector's HTTP input asks (`authenticate(authorization, now)`): it
keeps the active ingest tokens in memory and re-reads them when the store's change counter moved,
checking the counter at most every `refresh` (default 1 s), so a revocation takes effect within
about a second; tokens of `collect.tokens_file` are re-read when that file changes. Last-use times
are written in batches (at most every `flush_every`), never once per request.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from collectors.inputs.errors import AuthError
from collectors.inputs.tokens import TokenGrant, TokenStore, hash_token
from collectors.parsers import PARSERS
from datasoc.logging import get_logger
from datasoc.state import StateUnavailableError
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink, audit_draft, audited
from soc_api.identity.errors import AuthenticationError, InvalidRequestError, PermissionDeniedError
from soc_api.identity.records import TokenRecord, ts
from soc_api.identity.roles import Permission
from soc_api.identity.store import IdentityStore

log = get_logger("tokens")
TOKEN_PREFIX = "dst_"  # noqa: S105 - a prefix for secret scanners, not a secret
_NAME_MAX = 128


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: `secret` is shown once and stored nowhere."""

    secret: str
    record: TokenRecord


class Tokens:
    """Create, list and revoke tokens; authenticate API tokens (see module docstring)."""

    def __init__(
        self,
        store: IdentityStore,
        audit: AuditSink,
        *,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
        new_secret: Callable[[], str] = lambda: TOKEN_PREFIX + secrets.token_urlsafe(32),
    ) -> None:
        self.store = store
        self.audit = audit
        self._new_id = new_id
        self._new_secret = new_secret

    def create(
        self,
        actor: Actor,
        *,
        name: str,
        kind: str,
        scopes: Iterable[Permission] = (),
        source: str | None = None,
        parser: str | None = None,
        expires_at: datetime | None = None,
        now: datetime,
    ) -> IssuedToken:
        """Issue a token. An API token's scopes must be permissions the creator holds (no token
        outranks its maker); an ingest token names its source and optionally a known parser."""
        scopes = frozenset(scopes)
        payload = {
            "name": name[:_NAME_MAX],
            "token_kind": kind,
            "scopes": sorted(s.value for s in scopes),
            "source": source,
            "parser": parser,
            "expires_at": ts(expires_at) if expires_at else None,
        }
        problem = self._problem(actor, name, kind, scopes, source, parser, expires_at, now)
        if problem is not None:
            self.audit.record(
                audit_draft(
                    now=now,
                    kind="admin.token_created",
                    actor=actor.label,
                    subject="token:-",
                    outcome="denied",
                    reason=problem.problem,
                    detail=problem.detail[:300],
                    **payload,
                )
            )
            raise problem
        secret = self._new_secret()
        record = TokenRecord(
            id="tok_" + self._new_id(),
            digest=hash_token(secret),
            name=name,
            kind=kind,
            scopes=frozenset({Permission.INGEST}) if kind == "ingest" else scopes,
            source=source if kind == "ingest" else None,
            parser=parser if kind == "ingest" else None,
            created_at=now,
            created_by=actor.label,
            expires_at=expires_at,
            revoked_at=None,
            last_used_at=None,
        )
        draft = audit_draft(
            now=now,
            kind="admin.token_created",
            actor=actor.label,
            subject=f"token:{record.id}",
            outcome="success",
            **payload,
        )
        audited(self.audit, draft, lambda: self.store.add_token(record))
        return IssuedToken(secret, record)

    @staticmethod
    def _problem(
        actor: Actor,
        name: str,
        kind: str,
        scopes: frozenset[Permission],
        source: str | None,
        parser: str | None,
        expires_at: datetime | None,
        now: datetime,
    ) -> InvalidRequestError | PermissionDeniedError | None:
        if not name or len(name) > _NAME_MAX:
            return InvalidRequestError(f"a token needs a name of 1-{_NAME_MAX} characters")
        if kind not in ("api", "ingest"):
            return InvalidRequestError("kind must be 'api' or 'ingest'")
        if expires_at is not None and expires_at <= now:
            return InvalidRequestError("expires_at must be in the future")
        if kind == "ingest":
            if not source:
                return InvalidRequestError("an ingest token needs a source")
            if parser is not None and parser not in PARSERS:
                return InvalidRequestError(f"unknown parser {parser!r}; known: {sorted(PARSERS)}")
            return None
        if not scopes:
            return InvalidRequestError("an API token needs at least one scope")
        if Permission.INGEST in scopes:
            return InvalidRequestError("'ingest' is the scope of ingest tokens (kind 'ingest')")
        beyond = sorted(s.value for s in scopes - actor.permissions)
        if beyond:
            return PermissionDeniedError(f"a token cannot hold permissions its creator lacks: {beyond}")
        return None

    def revoke(self, actor: Actor, token_id: str, *, now: datetime) -> TokenRecord:
        """Revoke a token; collectors stop accepting it within about a second."""
        record = self.store.token(token_id)
        draft = audit_draft(
            now=now,
            kind="admin.token_revoked",
            actor=actor.label,
            subject=f"token:{record.id}",
            outcome="success",
            name=record.name,
        )
        return audited(self.audit, draft, lambda: self.store.revoke_token(record.id, now))

    def authenticate(self, bearer: str, now: datetime, *, peer: str) -> Actor:
        """The actor of an API token (active, kind `api`); a refusal is ledgered."""
        record = self.store.token_by_digest(hash_token(bearer)) if bearer else None
        if record is None or record.kind != "api" or not record.active(now):
            reason = (
                "unknown"
                if record is None
                else "revoked"
                if record.revoked_at
                else "expired"
                if record.kind == "api"
                else "wrong_kind"
            )
            self.audit.record(
                audit_draft(
                    now=now,
                    kind="login.token_denied",
                    actor=f"peer:{peer}",
                    subject=f"token:{record.id if record else '-'}",
                    outcome="denied",
                    reason=reason,
                )
            )
            raise AuthenticationError("令牌无效、已过期或已吊销 / the token is unknown, expired or revoked")
        if record.last_used_at is None or now - record.last_used_at >= timedelta(minutes=1):
            try:
                self.store.mark_used({record.id: now})
            except StateUnavailableError as exc:
                log.warning("token_last_use_unrecorded", token=record.id, error=str(exc)[:200])
        return Actor(kind="token", id=record.id, name=record.name, permissions=record.scopes)


class IngestTokens:
    """The collector's token lookup: state-store ingest tokens plus `collect.tokens_file`."""

    def __init__(
        self,
        store: IdentityStore | None,
        *,
        tokens_file: Path | None = None,
        refresh: timedelta = timedelta(seconds=1),
        flush_every: timedelta = timedelta(seconds=30),
    ) -> None:
        self.store = store
        self.tokens_file = tokens_file
        self.refresh = refresh
        self.flush_every = flush_every
        self._lock = threading.Lock()
        self._checked: datetime | None = None
        self._version = -1
        self._file_stamp: tuple[int, int, int] | None = None
        self._by_digest: dict[str, TokenRecord] = {}
        self._file = TokenStore({})
        self._used: dict[str, datetime] = {}
        self._flushed: datetime | None = None
        self.reloads = 0

    def _reload(self, now: datetime) -> None:
        if self._checked is not None and now - self._checked < self.refresh:
            return
        self._checked = now
        if self.store is not None:
            try:
                version = self.store.tokens_version()
                if version != self._version:
                    records = [t for t in self.store.tokens(limit=1_000_000, kind="ingest")]
                    self._by_digest = {t.digest: t for t in records}
                    self._version = version
                    self.reloads += 1
            except StateUnavailableError as exc:
                # Keep the last known tokens: a locked database must not stop ingest.
                log.error("ingest_tokens_unavailable", error=str(exc)[:200])
        if self.tokens_file is not None:
            self._reload_file()

    def _reload_file(self) -> None:
        assert self.tokens_file is not None
        try:
            st = os.stat(self.tokens_file)
        except OSError as exc:
            log.error("tokens_file_unreadable", path=str(self.tokens_file), error=str(exc))
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._file_stamp:
            return
        import json

        try:
            self._file = TokenStore.from_dict(json.loads(self.tokens_file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            # A broken edit keeps the previous tokens (never "no tokens", never "any token").
            log.error("tokens_file_invalid", path=str(self.tokens_file), error=str(exc)[:300])
            return
        self._file_stamp = stamp
        self.reloads += 1
        log.info("tokens_file_loaded", path=str(self.tokens_file), tokens=len(self._file.grants))

    def authenticate(self, authorization: str | None, now: datetime) -> TokenGrant:
        """The grant of a Bearer ingest token at `now`, else `AuthError` with a reason."""
        if not authorization:
            raise AuthError("missing Authorization header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("Authorization must be 'Bearer <token>'")
        digest = hash_token(token)
        with self._lock:
            self._reload(now)
            found: TokenRecord | None = None
            for stored, record in self._by_digest.items():
                if hmac.compare_digest(stored, digest):
                    found = record
            if found is not None:
                if found.revoked_at is not None:
                    raise AuthError("revoked token")
                if found.expires_at is not None and now >= found.expires_at:
                    raise AuthError("expired token")
                self._used[found.id] = now
                self._flush(now)
                return TokenGrant(source=found.source or "", parser=found.parser)
        return self._file.authenticate(authorization)

    def _flush(self, now: datetime) -> None:
        if self.store is None or not self._used:
            return
        if self._flushed is not None and now - self._flushed < self.flush_every:
            return
        used, self._used = self._used, {}
        self._flushed = now
        try:
            self.store.mark_used(used)
        except StateUnavailableError as exc:
            log.warning("token_last_use_unrecorded", error=str(exc)[:200])

    @property
    def parsers(self) -> frozenset[str]:
        """Parser names of the tokens known now (file and store)."""
        names = {g.parser for g in self._file.grants.values() if g.parser}
        names |= {t.parser for t in self._by_digest.values() if t.parser}
        return frozenset(names)
