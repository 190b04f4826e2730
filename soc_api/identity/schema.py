"""The identity component's tables in the state store (`datasoc.state`), as numbered migrations.

Times are stored as `YYYY-MM-DDTHH:MM:SS.ffffffZ` text (sorts as time). Secrets are never stored
in clear: passwords as argon2id PHC strings, recovery codes and tokens as digests, TOTP secrets
sealed with SM4 (`crypto.recipes.seal_field`: they must be recoverable to check codes).

三员分立 is enforced here too: a trigger refuses a second administrator role on one account,
and role rows cannot be updated in place (only granted or removed), so no write path skips it.
"""

from __future__ import annotations

from datasoc.state import Migration

_ADMIN = "('system_admin', 'security_admin', 'audit_admin')"
_ROLES = "('system_admin', 'security_admin', 'audit_admin', 'analyst', 'approver', 'data_owner', 'viewer')"
#: Migration 2 adds `data_user` (数据使用者, who requests access to data).
_ROLES_2 = (
    "('system_admin', 'security_admin', 'audit_admin', 'analyst', 'approver', 'data_owner', 'data_user', "
    "'viewer')"
)
_ROLE_TRIGGERS = f"""
CREATE TRIGGER account_roles_separation BEFORE INSERT ON account_roles
WHEN NEW.role IN {_ADMIN} AND EXISTS (
    SELECT 1 FROM account_roles
    WHERE account_id = NEW.account_id AND role IN {_ADMIN} AND role != NEW.role
)
BEGIN
    SELECT RAISE(ABORT, 'separation_of_duties: one account holds at most one administrator role');
END;

CREATE TRIGGER account_roles_immutable BEFORE UPDATE ON account_roles
BEGIN
    SELECT RAISE(ABORT, 'account_roles rows are granted or removed, never updated');
END;
"""  # noqa: S608 - the role lists interpolated are this module's constants

# The role lists are constants of this module; nothing from outside reaches this SQL.
IDENTITY_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "identity",
        1,
        "accounts, roles (三员 trigger), password history, recovery codes, sessions, tokens",
        f"""
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until TEXT,
    totp_sealed TEXT,
    totp_pending_sealed TEXT,
    totp_last_counter INTEGER NOT NULL DEFAULT -1
) STRICT;

CREATE TABLE account_roles (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN {_ROLES}),
    granted_at TEXT NOT NULL,
    PRIMARY KEY (account_id, role)
) STRICT;

CREATE TRIGGER account_roles_separation BEFORE INSERT ON account_roles
WHEN NEW.role IN {_ADMIN} AND EXISTS (
    SELECT 1 FROM account_roles
    WHERE account_id = NEW.account_id AND role IN {_ADMIN} AND role != NEW.role
)
BEGIN
    SELECT RAISE(ABORT, 'separation_of_duties: one account holds at most one administrator role');
END;

CREATE TRIGGER account_roles_immutable BEFORE UPDATE ON account_roles
BEGIN
    SELECT RAISE(ABORT, 'account_roles rows are granted or removed, never updated');
END;

CREATE TABLE password_history (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX password_history_account ON password_history (account_id, created_at);

CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    used_at TEXT,
    PRIMARY KEY (account_id, digest)
) STRICT;

CREATE TABLE sessions (
    id_digest TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    stage TEXT NOT NULL CHECK (stage IN ('mfa', 'enrol', 'full')),
    csrf_digest TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    revoked_at TEXT,
    peer TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('ingest', 'api')),
    scopes TEXT NOT NULL,
    source TEXT,
    parser TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT,
    CHECK (kind = 'api' OR source IS NOT NULL)
) STRICT;

-- Bumped on every token change: a collector re-reads tokens only when it moved.
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
INSERT OR IGNORE INTO counters (name, value) VALUES ('tokens', 0);
CREATE TRIGGER tokens_changed_insert AFTER INSERT ON tokens
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'tokens'; END;
CREATE TRIGGER tokens_changed_update AFTER UPDATE OF revoked_at, expires_at, scopes ON tokens
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'tokens'; END;
CREATE TRIGGER tokens_changed_delete AFTER DELETE ON tokens
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'tokens'; END;
""",  # noqa: S608 - the role lists interpolated are this module's constants
    ),
    Migration(
        "identity",
        2,
        "role data_user (SQLite cannot alter a CHECK: the role table is copied into a new one)",
        f"""
CREATE TABLE account_roles_2 (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN {_ROLES_2}),
    granted_at TEXT NOT NULL,
    PRIMARY KEY (account_id, role)
) STRICT;
INSERT INTO account_roles_2 (account_id, role, granted_at)
    SELECT account_id, role, granted_at FROM account_roles;
DROP TABLE account_roles;
ALTER TABLE account_roles_2 RENAME TO account_roles;
{_ROLE_TRIGGERS}
""",  # noqa: S608 - the role lists interpolated are this module's constants
    ),
)

#: The platform audit's outbox (CLI actions while `datasoc run` holds the ledger) and its search index.
AUDIT_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "platform_audit",
        1,
        "audit outbox and search index of the platform's own audit entries",
        """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;

CREATE TABLE audit_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE audit_index (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL,
    payload TEXT NOT NULL
) STRICT;
CREATE INDEX audit_index_ts ON audit_index (ts, seq);
CREATE INDEX audit_index_actor ON audit_index (actor, ts, seq);
CREATE INDEX audit_index_kind ON audit_index (kind, ts, seq);
CREATE INDEX audit_index_subject ON audit_index (subject, ts, seq);
""",
    ),
)
