"""The alerting component's tables in the state store (`datasoc.state`), as numbered migrations.

- `alerts`: one row per handled alert (a roll-up of detection alerts of one rule and group key).
- `alert_members`: every detection alert taken in, by its `alert.id`: intake is idempotent by it.
- `alert_changes`: the append-only history of every alert (intake, roll-ups, transitions, comments,
  notifications, receipts, escalations); its `seq` orders the SSE stream. Rows are never updated
  or deleted (triggers refuse it): reopening keeps the history.
- `alert_observables`: users, IPs, datasets and hosts per alert (a case's "other sightings").
- `notifications`: the transactional outbox. A row is written in the same transaction as the alert
  change that causes it; `key` is the idempotency key the receiver gets; `batch` is the send it
  belongs to, fixed before sending so a send retried after a crash is the same send.
- `suppressions`, `routes`, `cases` (+ tasks, attachments, timeline), `bulletins`.

Times are `YYYY-MM-DDTHH:MM:SS.ffffffZ` text (sorts as time); JSON columns hold lists and objects.
"""

from __future__ import annotations

from datasoc.state import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "alerting",
        1,
        "alerts, members, history, observables, notification outbox, suppressions, routes, cases, bulletins",
        """
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    rule_level TEXT NOT NULL,
    tags TEXT NOT NULL,
    warning_level TEXT NOT NULL CHECK (warning_level IN ('red', 'orange', 'yellow', 'blue')),
    event_class TEXT NOT NULL,
    grade TEXT CHECK (grade IS NULL OR grade IN ('general', 'important', 'core')),
    group_key TEXT NOT NULL,
    group_values TEXT NOT NULL,
    facts TEXT NOT NULL,
    sources TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 1),
    events INTEGER NOT NULL CHECK (events >= 1),
    status TEXT NOT NULL CHECK (status IN ('new', 'notified', 'in_progress', 'closed')),
    resolution TEXT CHECK (
        resolution IS NULL OR resolution IN ('resolved', 'false_positive', 'accepted_risk')
    ),
    suppressed_by TEXT,
    assignee TEXT,
    case_id TEXT,
    raised_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    notified_at TEXT,
    responded_at TEXT,
    closed_at TEXT,
    sla_stage TEXT NOT NULL CHECK (sla_stage IN ('respond', 'resolve', 'done')),
    sla_due_at TEXT,
    sla_step INTEGER NOT NULL DEFAULT 0,
    sla_breaches INTEGER NOT NULL DEFAULT 0,
    CHECK ((status = 'closed') = (resolution IS NOT NULL))
) STRICT;
CREATE INDEX alerts_group ON alerts (group_key, status, last_seen);
CREATE INDEX alerts_raised ON alerts (raised_at, id);
CREATE INDEX alerts_status ON alerts (status, raised_at, id);
CREATE INDEX alerts_level ON alerts (warning_level, raised_at, id);
CREATE INDEX alerts_rule ON alerts (rule_id, raised_at, id);
CREATE INDEX alerts_case ON alerts (case_id);
CREATE INDEX alerts_sla_due ON alerts (sla_due_at) WHERE sla_stage != 'done' AND suppressed_by IS NULL;

CREATE TABLE alert_members (
    detection_id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    events INTEGER NOT NULL,
    event_ids TEXT NOT NULL,
    received_at TEXT NOT NULL
) STRICT;
CREATE INDEX alert_members_alert ON alert_members (alert_id, first_seen);

CREATE TABLE alert_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
CREATE INDEX alert_changes_alert ON alert_changes (alert_id, seq);
CREATE TRIGGER alert_changes_append_only_update BEFORE UPDATE ON alert_changes
BEGIN SELECT RAISE(ABORT, 'alert history is append-only'); END;
CREATE TRIGGER alert_changes_append_only_delete BEFORE DELETE ON alert_changes
BEGIN SELECT RAISE(ABORT, 'alert history is append-only'); END;

CREATE TABLE alert_observables (
    kind TEXT NOT NULL CHECK (kind IN ('user', 'ip', 'dataset', 'host')),
    value TEXT NOT NULL,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    PRIMARY KEY (kind, value, alert_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX alert_observables_alert ON alert_observables (alert_id);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('alert', 'level_raised', 'escalation', 'bulletin')),
    alert_id TEXT,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    batch TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    delivered_at TEXT,
    acked_at TEXT
) STRICT;
CREATE INDEX notifications_due ON notifications (status, next_attempt_at, id);
CREATE INDEX notifications_batch ON notifications (batch) WHERE batch IS NOT NULL;
CREATE INDEX notifications_alert ON notifications (alert_id);

CREATE TABLE suppressions (
    id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    conditions TEXT NOT NULL,
    owner TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT,
    hits INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE routes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'merged')),
    warning_level TEXT NOT NULL CHECK (warning_level IN ('red', 'orange', 'yellow', 'blue')),
    owner TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    merged_into TEXT REFERENCES cases (id)
) STRICT;
CREATE INDEX cases_created ON cases (created_at, id);

CREATE TABLE case_tasks (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    title TEXT NOT NULL,
    owner TEXT,
    due_at TEXT,
    done_at TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX case_tasks_case ON case_tasks (case_id, created_at);

CREATE TABLE case_attachments (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    digest TEXT NOT NULL,
    content BLOB NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX case_attachments_case ON case_attachments (case_id, created_at);

CREATE TABLE case_timeline (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
CREATE INDEX case_timeline_case ON case_timeline (case_id, seq);
CREATE TRIGGER case_timeline_append_only_update BEFORE UPDATE ON case_timeline
BEGIN SELECT RAISE(ABORT, 'case timeline is append-only'); END;
CREATE TRIGGER case_timeline_append_only_delete BEFORE DELETE ON case_timeline
BEGIN SELECT RAISE(ABORT, 'case timeline is append-only'); END;

CREATE TABLE bulletins (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('daily', 'weekly', 'adhoc')),
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    generated_at TEXT NOT NULL,
    generated_by TEXT NOT NULL,
    title TEXT NOT NULL,
    html_digest TEXT NOT NULL,
    pdf_digest TEXT NOT NULL,
    pages INTEGER NOT NULL,
    html BLOB NOT NULL,
    pdf BLOB NOT NULL
) STRICT;
CREATE UNIQUE INDEX bulletins_scheduled ON bulletins (kind, period_start) WHERE kind != 'adhoc';
CREATE INDEX bulletins_generated ON bulletins (generated_at, id);
""",
    ),
)
