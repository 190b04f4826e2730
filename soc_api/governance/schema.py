"""The governance component's tables in the state store (`datasoc.state`), as numbered migrations.

Times are `YYYY-MM-DDTHH:MM:SS.ffffffZ` text (sorts as time). Documents (request terms, grants,
evidence, policies) are JSON text in their wire forms. Two change counters let readers in other threads
and processes reload only when something changed: `governance_catalog` (assets, fields, departments, the
network plan) and `governance_grants` (grants), bumped by triggers so no write path forgets them.

One decision per person per request is the table's key: a second vote by the same account is refused
by the store as well as by the policy.
"""

from __future__ import annotations

from datasoc.state import Migration

_GRADES = "('general', 'important', 'core')"

GOVERNANCE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "governance",
        1,
        "catalog (departments, members, assets, fields, grade history, proposals, discoveries), approval "
        "policies, access requests and decisions, grants, notifications, change counters",
        f"""
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
INSERT OR IGNORE INTO counters (name, value) VALUES ('governance_catalog', 0);
INSERT OR IGNORE INTO counters (name, value) VALUES ('governance_grants', 0);

CREATE TABLE gov_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    document TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE gov_departments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_en TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE gov_members (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    department_id TEXT NOT NULL REFERENCES gov_departments (id),
    since TEXT NOT NULL,
    PRIMARY KEY (account_id, department_id)
) STRICT;

CREATE TABLE gov_assets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_en TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL REFERENCES gov_departments (id),
    region TEXT NOT NULL,
    table_engine TEXT,
    table_database TEXT,
    table_name TEXT,
    record_count INTEGER CHECK (record_count IS NULL OR record_count >= 0),
    lifecycle TEXT NOT NULL CHECK (lifecycle IN ('published', 'withdrawn', 'deleted')),
    grade TEXT NOT NULL CHECK (grade IN {_GRADES}),
    sub_grade INTEGER CHECK (sub_grade IS NULL OR (grade = 'general' AND sub_grade BETWEEN 1 AND 4)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX gov_assets_owner ON gov_assets (owner, id);

CREATE TABLE gov_fields (
    asset_id TEXT NOT NULL REFERENCES gov_assets (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    grade TEXT CHECK (grade IS NULL OR grade IN {_GRADES}),
    sub_grade INTEGER CHECK (sub_grade IS NULL OR (grade = 'general' AND sub_grade BETWEEN 1 AND 4)),
    position INTEGER NOT NULL,
    PRIMARY KEY (asset_id, name)
) STRICT;

CREATE TABLE gov_grade_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id TEXT NOT NULL,
    field TEXT,
    before_grade TEXT,
    before_sub INTEGER,
    after_grade TEXT,
    after_sub INTEGER,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL
) STRICT;
CREATE INDEX gov_grade_history_asset ON gov_grade_history (asset_id, id);

CREATE TABLE gov_proposals (
    id TEXT PRIMARY KEY,
    asset_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('new_asset', 'grade')),
    source TEXT NOT NULL,
    document TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'rejected')),
    created_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    note TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX gov_proposals_status ON gov_proposals (status, created_at);

CREATE TABLE gov_discoveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id TEXT NOT NULL REFERENCES gov_assets (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    evidence TEXT NOT NULL
) STRICT;
CREATE INDEX gov_discoveries_asset ON gov_discoveries (asset_id, id);

CREATE TABLE gov_policies (
    version INTEGER PRIMARY KEY CHECK (version >= 1),
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE gov_requests (
    id TEXT PRIMARY KEY,
    requester_id TEXT NOT NULL REFERENCES accounts (id),
    requester TEXT NOT NULL,
    document TEXT NOT NULL,
    grade TEXT NOT NULL CHECK (grade IN {_GRADES}),
    sub_grade INTEGER,
    owners TEXT NOT NULL,
    policy_version INTEGER NOT NULL CHECK (policy_version >= 0),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    created_at TEXT NOT NULL,
    decided_at TEXT
) STRICT;
CREATE INDEX gov_requests_status ON gov_requests (status, created_at, id);
CREATE INDEX gov_requests_requester ON gov_requests (requester_id, created_at, id);

CREATE TABLE gov_decisions (
    request_id TEXT NOT NULL REFERENCES gov_requests (id),
    account_id TEXT NOT NULL,
    username TEXT NOT NULL,
    roles TEXT NOT NULL,
    departments TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    note TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    PRIMARY KEY (request_id, account_id)
) STRICT;

CREATE TABLE gov_grants (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'expired')),
    source TEXT NOT NULL CHECK (source IN ('request', 'import')),
    document TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX gov_grants_user ON gov_grants (user, id);
CREATE INDEX gov_grants_status ON gov_grants (status, id);

CREATE TABLE gov_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    request_id TEXT NOT NULL REFERENCES gov_requests (id),
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT,
    UNIQUE (account_id, request_id)
) STRICT;
CREATE INDEX gov_notifications_account ON gov_notifications (account_id, id);

CREATE TRIGGER gov_catalog_meta_i AFTER INSERT ON gov_meta
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_catalog_meta_u AFTER UPDATE ON gov_meta
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_catalog_departments_i AFTER INSERT ON gov_departments
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_catalog_departments_u AFTER UPDATE ON gov_departments
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_catalog_assets_i AFTER INSERT ON gov_assets
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_catalog_assets_u AFTER UPDATE ON gov_assets
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_catalog_assets_d AFTER DELETE ON gov_assets
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_catalog_fields_i AFTER INSERT ON gov_fields
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_catalog_fields_u AFTER UPDATE ON gov_fields
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_catalog_fields_d AFTER DELETE ON gov_fields
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_catalog'; END;
CREATE TRIGGER gov_grants_i AFTER INSERT ON gov_grants
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_grants'; END;
CREATE TRIGGER gov_grants_u AFTER UPDATE ON gov_grants
BEGIN UPDATE counters SET value = value + 1 WHERE name = 'governance_grants'; END;
""",  # noqa: S608 - the grade list interpolated is this module's constant
    ),
)
