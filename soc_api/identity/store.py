"""SQL of the identity tables: the one write path every entry point (API, CLI, demo) uses.

Roles change only through `_write_roles`, which applies the pure 三员 rule first; the table's
trigger refuses the same thing again, so a bug above cannot slip past it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from datasoc.state import StateStore
from soc_api.identity.errors import ConflictError, NotFoundError, SeparationOfDutiesError
from soc_api.identity.records import Account, Session, TokenRecord, need_ts, parse_ts, ts
from soc_api.identity.roles import Role, check_separation, parse_scopes
from soc_api.identity.sessions import Stage


class IdentityStore:
    """Accounts, roles, MFA material, sessions and tokens over the state store."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    # ---- accounts ----

    @staticmethod
    def _account(conn: sqlite3.Connection, row: sqlite3.Row) -> Account:
        roles = frozenset(
            Role(r["role"])
            for r in conn.execute("SELECT role FROM account_roles WHERE account_id = ?", (row["id"],))
        )
        return Account(
            id=row["id"],
            username=row["username"],
            display_name=row["display_name"],
            roles=roles,
            disabled=bool(row["disabled"]),
            created_at=need_ts(row["created_at"]),
            updated_at=need_ts(row["updated_at"]),
            password_changed_at=need_ts(row["password_changed_at"]),
            failures=row["failures"],
            locked_until=parse_ts(row["locked_until"]),
            mfa_enrolled=row["totp_sealed"] is not None,
            password_hash=row["password_hash"],
            totp_sealed=row["totp_sealed"],
            totp_pending_sealed=row["totp_pending_sealed"],
            totp_last_counter=row["totp_last_counter"],
        )

    def by_username(self, username: str) -> Account | None:
        """The account named `username` (case-insensitive), or None."""
        with self.state.read() as conn:
            row = conn.execute("SELECT * FROM accounts WHERE username = ?", (username,)).fetchone()
            return self._account(conn, row) if row else None

    def get(self, account_id: str) -> Account:
        """The account with id `account_id`, else `NotFoundError`."""
        with self.state.read() as conn:
            row = conn.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no account {account_id!r}")
            return self._account(conn, row)

    def find(self, key: str) -> Account:
        """An account by id or user name, else `NotFoundError`."""
        with self.state.read() as conn:
            row = conn.execute("SELECT * FROM accounts WHERE id = ? OR username = ?", (key, key)).fetchone()
            if row is None:
                raise NotFoundError(f"no account {key!r}")
            return self._account(conn, row)

    def count_with_role(self, role: Role) -> int:
        """How many enabled accounts hold `role`."""
        with self.state.read() as conn:
            row = conn.execute(
                "SELECT count(*) FROM account_roles r JOIN accounts a ON a.id = r.account_id "
                "WHERE r.role = ? AND a.disabled = 0",
                (role.value,),
            ).fetchone()
            return int(row[0])

    def page(
        self,
        *,
        limit: int,
        after: tuple[str, str] | None,
        sort: str,
        descending: bool,
        username_prefix: str | None,
        role: Role | None,
        disabled: bool | None,
    ) -> list[Account]:
        """Accounts ordered by `sort` (`username` or `created_at`) then id, after the cursor."""
        column = {"username": "username", "created_at": "created_at"}[sort]
        where: list[str] = []
        args: list[str | int] = []
        if username_prefix:
            where.append("username LIKE ? ESCAPE '\\'")
            escaped = username_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(escaped + "%")
        if role is not None:
            where.append("id IN (SELECT account_id FROM account_roles WHERE role = ?)")
            args.append(role.value)
        if disabled is not None:
            where.append("disabled = ?")
            args.append(int(disabled))
        if after is not None:
            where.append(f"({column}, id) {'<' if descending else '>'} (?, ?)")
            args.extend(after)
        order = "DESC" if descending else "ASC"
        sql = (
            "SELECT * FROM accounts"  # noqa: S608 - the column comes from a fixed mapping; values bound
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {column} {order}, id {order} LIMIT ?"
        )
        with self.state.read() as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
            return [self._account(conn, row) for row in rows]

    def create(
        self,
        *,
        account_id: str,
        username: str,
        display_name: str,
        password_hash: str,
        roles: Iterable[Role],
        now: datetime,
    ) -> Account:
        """Insert an account with its roles (三员 checked); `ConflictError` when the name is taken."""
        roles = frozenset(roles)
        check_separation(roles)
        at = ts(now)
        try:
            with self.state.write() as conn:
                conn.execute(
                    "INSERT INTO accounts (id, username, display_name, password_hash, created_at, "
                    "updated_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (account_id, username, display_name, password_hash, at, at, at),
                )
                conn.execute(
                    "INSERT INTO password_history (account_id, password_hash, created_at) VALUES (?, ?, ?)",
                    (account_id, password_hash, at),
                )
                self._write_roles(conn, account_id, roles, at)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise ConflictError(f"user name {username!r} is taken") from None
            raise _integrity(exc) from None
        return self.get(account_id)

    def set_roles(self, account_id: str, roles: Iterable[Role], now: datetime) -> Account:
        """Replace the account's roles (三员 checked here and by the trigger)."""
        roles = frozenset(roles)
        check_separation(roles)
        try:
            with self.state.write() as conn:
                if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone() is None:
                    raise NotFoundError(f"no account {account_id!r}")
                self._write_roles(conn, account_id, roles, ts(now))
                conn.execute("UPDATE accounts SET updated_at = ? WHERE id = ?", (ts(now), account_id))
        except sqlite3.IntegrityError as exc:
            raise _integrity(exc) from None
        return self.get(account_id)

    @staticmethod
    def _write_roles(conn: sqlite3.Connection, account_id: str, roles: frozenset[Role], at: str) -> None:
        # Removals first, so a switch from one administrator role to another passes the trigger.
        current = {
            r[0] for r in conn.execute("SELECT role FROM account_roles WHERE account_id = ?", (account_id,))
        }
        wanted = {r.value for r in roles}
        for role in current - wanted:
            conn.execute("DELETE FROM account_roles WHERE account_id = ? AND role = ?", (account_id, role))
        for role in sorted(wanted - current):
            conn.execute(
                "INSERT INTO account_roles (account_id, role, granted_at) VALUES (?, ?, ?)",
                (account_id, role, at),
            )

    def set_disabled(self, account_id: str, disabled: bool, now: datetime) -> Account:
        """Disable (revoking every session) or enable an account."""
        with self.state.write() as conn:
            changed = conn.execute(
                "UPDATE accounts SET disabled = ?, updated_at = ? WHERE id = ?",
                (int(disabled), ts(now), account_id),
            ).rowcount
            if not changed:
                raise NotFoundError(f"no account {account_id!r}")
            if disabled:
                conn.execute(
                    "UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
                    (ts(now), account_id),
                )
        return self.get(account_id)

    def record_failure(self, account_id: str, failures: int, locked_until: datetime | None) -> None:
        """Store the failure count and lock after a failed sign-in."""
        with self.state.write() as conn:
            conn.execute(
                "UPDATE accounts SET failures = ?, locked_until = ? WHERE id = ?",
                (failures, ts(locked_until) if locked_until else None, account_id),
            )

    def record_success(self, account_id: str) -> None:
        """Reset the failure count after a successful sign-in step."""
        with self.state.write(durable=False) as conn:
            conn.execute("UPDATE accounts SET failures = 0, locked_until = NULL WHERE id = ?", (account_id,))

    def password_history(self, account_id: str, count: int) -> list[str]:
        """The last `count` password hashes, newest first."""
        with self.state.read() as conn:
            rows = conn.execute(
                "SELECT password_hash FROM password_history WHERE account_id = ? "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (account_id, count),
            ).fetchall()
            return [r[0] for r in rows]

    def set_password(self, account_id: str, password_hash: str, now: datetime, *, keep: int) -> None:
        """Store a new password hash, keep the last `keep` in the history, end other sessions."""
        at = ts(now)
        with self.state.write() as conn:
            conn.execute(
                "UPDATE accounts SET password_hash = ?, password_changed_at = ?, updated_at = ?, "
                "failures = 0, "
                "locked_until = NULL WHERE id = ?",
                (password_hash, at, at, account_id),
            )
            conn.execute(
                "INSERT INTO password_history (account_id, password_hash, created_at) VALUES (?, ?, ?)",
                (account_id, password_hash, at),
            )
            conn.execute(
                "DELETE FROM password_history WHERE account_id = ? AND rowid NOT IN (SELECT rowid FROM "
                "password_history WHERE account_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?)",
                (account_id, account_id, keep),
            )

    def rehash_password(self, account_id: str, password_hash: str) -> None:
        """Replace the hash of the same password (new argon2 parameters); history unchanged."""
        with self.state.write() as conn:
            conn.execute("UPDATE accounts SET password_hash = ? WHERE id = ?", (password_hash, account_id))

    # ---- second factor ----

    def set_pending_totp(self, account_id: str, sealed: str | None) -> None:
        """Store (or clear) a TOTP secret awaiting its first code."""
        with self.state.write() as conn:
            conn.execute("UPDATE accounts SET totp_pending_sealed = ? WHERE id = ?", (sealed, account_id))

    def confirm_totp(
        self, account_id: str, sealed: str, counter: int, recovery: list[str], now: datetime
    ) -> None:
        """Make the pending secret the account's second factor, with fresh recovery codes."""
        with self.state.write() as conn:
            conn.execute(
                "UPDATE accounts SET totp_sealed = ?, totp_pending_sealed = NULL, totp_last_counter = ?, "
                "updated_at = ? WHERE id = ?",
                (sealed, counter, ts(now), account_id),
            )
            conn.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account_id,))
            conn.executemany(
                "INSERT INTO recovery_codes (account_id, digest) VALUES (?, ?)",
                [(account_id, d) for d in recovery],
            )

    def use_totp_counter(self, account_id: str, counter: int) -> bool:
        """Record a used TOTP step; False when that step (or a later one) was already used."""
        with self.state.write() as conn:
            changed = conn.execute(
                "UPDATE accounts SET totp_last_counter = ? WHERE id = ? AND totp_last_counter < ?",
                (counter, account_id, counter),
            ).rowcount
            return bool(changed)

    def use_recovery_code(self, account_id: str, digest: str, now: datetime) -> bool:
        """Spend a recovery code; False when it is unknown or already used."""
        with self.state.write() as conn:
            changed = conn.execute(
                "UPDATE recovery_codes SET used_at = ? "
                "WHERE account_id = ? AND digest = ? AND used_at IS NULL",
                (ts(now), account_id, digest),
            ).rowcount
            return bool(changed)

    def recovery_codes_left(self, account_id: str) -> int:
        """Unused recovery codes of the account."""
        with self.state.read() as conn:
            row = conn.execute(
                "SELECT count(*) FROM recovery_codes WHERE account_id = ? AND used_at IS NULL", (account_id,)
            ).fetchone()
            return int(row[0])

    def reset_mfa(self, account_id: str, now: datetime) -> None:
        """Remove the second factor and recovery codes; end the account's sessions."""
        with self.state.write() as conn:
            changed = conn.execute(
                "UPDATE accounts SET totp_sealed = NULL, totp_pending_sealed = NULL, totp_last_counter = -1, "
                "updated_at = ? WHERE id = ?",
                (ts(now), account_id),
            ).rowcount
            if not changed:
                raise NotFoundError(f"no account {account_id!r}")
            conn.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account_id,))
            conn.execute(
                "UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
                (ts(now), account_id),
            )

    # ---- sessions ----

    def create_session(self, session: Session) -> None:
        """Store a new session (without its own fsync: a session lost to a power loss only means
        signing in again, and sign-in latency is mostly fsyncs besides argon2)."""
        with self.state.write(durable=False) as conn:
            conn.execute(
                "INSERT INTO sessions (id_digest, account_id, stage, csrf_digest, created_at, last_seen_at, "
                "peer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session.id_digest,
                    session.account_id,
                    session.stage.value,
                    session.csrf_digest,
                    ts(session.created_at),
                    ts(session.last_seen_at),
                    session.peer,
                ),
            )

    def session(self, id_digest: str) -> Session | None:
        """The session with this id digest, or None."""
        with self.state.read() as conn:
            row = conn.execute("SELECT * FROM sessions WHERE id_digest = ?", (id_digest,)).fetchone()
        if row is None:
            return None
        return Session(
            id_digest=row["id_digest"],
            account_id=row["account_id"],
            stage=Stage(row["stage"]),
            csrf_digest=row["csrf_digest"],
            created_at=need_ts(row["created_at"]),
            last_seen_at=need_ts(row["last_seen_at"]),
            revoked_at=parse_ts(row["revoked_at"]),
            peer=row["peer"],
        )

    def touch_session(self, id_digest: str, now: datetime) -> None:
        """Move the session's last activity to `now`."""
        with self.state.write(durable=False) as conn:
            conn.execute("UPDATE sessions SET last_seen_at = ? WHERE id_digest = ?", (ts(now), id_digest))

    def set_session_stage(self, id_digest: str, stage: Stage, now: datetime) -> None:
        """Advance a session's sign-in stage."""
        with self.state.write() as conn:
            conn.execute(
                "UPDATE sessions SET stage = ?, last_seen_at = ? WHERE id_digest = ?",
                (stage.value, ts(now), id_digest),
            )

    def revoke_session(self, id_digest: str, now: datetime) -> None:
        """End one session."""
        with self.state.write() as conn:
            conn.execute(
                "UPDATE sessions SET revoked_at = ? WHERE id_digest = ? AND revoked_at IS NULL",
                (ts(now), id_digest),
            )

    # ---- tokens ----

    def add_token(self, token: TokenRecord) -> None:
        """Store a new token (digest only)."""
        with self.state.write() as conn:
            conn.execute(
                "INSERT INTO tokens (id, digest, name, kind, scopes, source, parser, created_at, created_by, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token.id,
                    token.digest,
                    token.name,
                    token.kind,
                    json.dumps(sorted(s.value for s in token.scopes)),
                    token.source,
                    token.parser,
                    ts(token.created_at),
                    token.created_by,
                    ts(token.expires_at) if token.expires_at else None,
                ),
            )

    @staticmethod
    def _token(row: sqlite3.Row) -> TokenRecord:
        return TokenRecord(
            id=row["id"],
            digest=row["digest"],
            name=row["name"],
            kind=row["kind"],
            scopes=parse_scopes(json.loads(row["scopes"])),
            source=row["source"],
            parser=row["parser"],
            created_at=need_ts(row["created_at"]),
            created_by=row["created_by"],
            expires_at=parse_ts(row["expires_at"]),
            revoked_at=parse_ts(row["revoked_at"]),
            last_used_at=parse_ts(row["last_used_at"]),
        )

    def tokens(
        self, *, limit: int = 1000, after: str | None = None, kind: str | None = None
    ) -> list[TokenRecord]:
        """Tokens ordered by id, after the cursor."""
        where, args = ["id > ?"], [after or ""]
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        with self.state.read() as conn:
            clause = " AND ".join(where)
            rows = conn.execute(
                f"SELECT * FROM tokens WHERE {clause} ORDER BY id LIMIT ?",  # noqa: S608 - fixed clauses
                (*args, limit),
            ).fetchall()
        return [self._token(r) for r in rows]

    def token(self, token_id: str) -> TokenRecord:
        """One token by id, else `NotFoundError`."""
        with self.state.read() as conn:
            row = conn.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no token {token_id!r}")
        return self._token(row)

    def token_by_digest(self, digest: str) -> TokenRecord | None:
        """The token with this digest, or None."""
        with self.state.read() as conn:
            row = conn.execute("SELECT * FROM tokens WHERE digest = ?", (digest,)).fetchone()
        return self._token(row) if row else None

    def revoke_token(self, token_id: str, now: datetime) -> TokenRecord:
        """Revoke a token (idempotent); the change counter moves so collectors reload."""
        with self.state.write() as conn:
            if conn.execute("SELECT 1 FROM tokens WHERE id = ?", (token_id,)).fetchone() is None:
                raise NotFoundError(f"no token {token_id!r}")
            conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (ts(now), token_id)
            )
        return self.token(token_id)

    def tokens_version(self) -> int:
        """The token change counter (moves on every insert, revocation or expiry change)."""
        with self.state.read() as conn:
            row = conn.execute("SELECT value FROM counters WHERE name = 'tokens'").fetchone()
            return int(row[0])

    def mark_used(self, used: dict[str, datetime]) -> None:
        """Record last-use times (batched by the caller: not one write per request)."""
        if not used:
            return
        with self.state.write(durable=False) as conn:
            conn.executemany(
                "UPDATE tokens SET last_used_at = ? WHERE id = ? "
                "AND (last_used_at IS NULL OR last_used_at < ?)",
                [(ts(at), token_id, ts(at)) for token_id, at in used.items()],
            )


def _integrity(exc: sqlite3.IntegrityError) -> Exception:
    if "separation_of_duties" in str(exc):
        return SeparationOfDutiesError(
            "三员分立: the store refused a second administrator role on one account (GB/T 22239-2019)"
        )
    return ConflictError(f"the change conflicts with stored data: {exc}")
