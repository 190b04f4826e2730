"""PostgreSQL csvlog records carrying pgaudit messages (and the server's own session messages).

csvlog columns (PostgreSQL 13 docs, "Using CSV-Format Log Output"; 14+ appends backend_type,
leader_pid, query_id): log_time, user_name, database_name, process_id, connection_from,
session_id, session_line_num, command_tag, session_start_time, virtual_transaction_id,
transaction_id, error_severity, sql_state_code, message, ... A pgaudit message is itself CSV
(pgaudit README, "Format"):

    AUDIT: SESSION,<statement_id>,<substatement_id>,<class>,<command>,
           <object_type>,<object_name>,<statement>,<parameter>          (one line in the log)

A record may span lines (a quoted statement with newlines); `readers.iter_records` joins them.
session_id plus session_line_num is unique per server and keys the stable event id.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from collectors.parsers import sql
from collectors.parsers.base import CHINA_TZ, DATASET_KEYS, NATIVE_ID, Parser

_MIN_COLUMNS: Final = 14  # through `message`; older and newer layouts both have these first.
# `log_time` ends with the zone abbreviation of `log_timezone`. Abbreviations are ambiguous in
# general; these are the ones a Chinese deployment writes (`PRC`/`Asia/Shanghai` print CST).
TZ_ABBREVIATIONS: Final[dict[str, timezone]] = {
    "UTC": UTC,
    "GMT": UTC,
    "CST": CHINA_TZ,
    "HKT": timezone(timedelta(hours=8)),
}
_OFFSET = re.compile(r"^([+-])(\d{2})(?::?(\d{2}))?$")
_SERVER_MESSAGES: Final[tuple[tuple[re.Pattern[str], str, str], ...]] = (
    (re.compile(r"^connection authorized"), "db.connect", "success"),
    (re.compile(r"^password authentication failed|^no pg_hba\.conf entry"), "db.connect", "failure"),
    (re.compile(r"^disconnection:"), "db.disconnect", "success"),
    (re.compile(r'^parameter "pgaudit\.log" changed to "(?:none)?"'), "audit.disable", "success"),
    (re.compile(r'^parameter "pgaudit\.log" changed to'), "audit.configure", "success"),
)


def _time(value: str) -> datetime:
    stamp, _, zone = value.strip().rpartition(" ")
    offset = _OFFSET.match(zone)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        tz = timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0)))
    elif zone in TZ_ABBREVIATIONS:
        tz = TZ_ABBREVIATIONS[zone]
    else:
        raise ValueError(
            f"log_time: unknown time zone {zone[:16]!r} (expected an offset or one of UTC, GMT, CST)"
        )
    try:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=tz)
    except ValueError:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)


def _client_ip(connection_from: str) -> str | None:
    """`host:port` (or `[local]`) to an address; None when it is a socket or a name."""
    host = connection_from.rsplit(":", 1)[0] if ":" in connection_from else connection_from
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class PgAuditCsvParser(Parser):
    """pgaudit session and object audit records in PostgreSQL csvlog."""

    name = "pgaudit_csv"
    service = "database"

    def _fields(self, text: str, now: datetime) -> dict[str, Any]:
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        except csv.Error as exc:
            raise ValueError(f"malformed CSV: {exc}") from None
        if len(rows) != 1:
            raise ValueError(f"expected one CSV record, found {len(rows)}")
        row = rows[0]
        if len(row) < _MIN_COLUMNS:
            raise ValueError(f"expected at least {_MIN_COLUMNS} csvlog columns, found {len(row)}")
        (log_time, user, database, pid, connection_from, session_id, line_num, command_tag) = row[:8]
        severity, state, message = row[11], row[12], row[13]
        fields: dict[str, Any] = {
            "@timestamp": _time(log_time),
            "event.category": "database",
            NATIVE_ID: f"{session_id}:{line_num}" if session_id and line_num else None,
            "datasoc.actor_role": self._role(user),
            "user.name": user or None,
            "source.ip": _client_ip(connection_from),
            "db.system": "postgresql",
            "db.name": database or None,
            "process.pid": int(pid) if pid.isdigit() and len(pid) < 10 else None,
            "pg.session_id": session_id or None,
            "pg.command_tag": command_tag or None,
            "pg.error_severity": severity or None,
            "pg.sql_state_code": state or None,
        }
        failed = severity in ("ERROR", "FATAL", "PANIC") or (state not in ("", "00000"))
        if message.startswith("AUDIT: "):
            fields.update(self._audit(message[len("AUDIT: ") :], database))
            fields["event.outcome"] = "failure" if failed else "success"
        else:
            for pattern, action, outcome in _SERVER_MESSAGES:
                if pattern.search(message):
                    fields.update({"event.action": action, "event.outcome": outcome})
                    break
            else:
                fields.update(
                    {"event.action": "db.other", "event.outcome": "failure" if failed else "unknown"}
                )
            fields["message"] = message
        return fields

    def _audit(self, message: str, database: str) -> dict[str, Any]:
        try:
            parts = next(csv.reader(io.StringIO(message, newline=""), strict=True), [])
        except csv.Error as exc:
            raise ValueError(f"pgaudit message: malformed CSV: {exc}") from None
        if len(parts) < 8 or parts[0] not in ("SESSION", "OBJECT"):
            raise ValueError(
                "pgaudit message: expected AUDIT: SESSION|OBJECT,<id>,<sub>,<class>,<command>,..."
            )
        audit_type, statement_id, sub_id, klass, command, object_type, object_name, statement = parts[:8]
        action = "db.function" if klass == "FUNCTION" else sql.classify(statement or command)
        out: dict[str, Any] = {
            "event.action": action,
            "db.statement": statement or None,
            "pgaudit.audit_type": audit_type,
            "pgaudit.statement_id": statement_id,
            "pgaudit.substatement_id": sub_id,
            "pgaudit.class": klass,
            "pgaudit.command": command,
            "pgaudit.object_type": object_type or None,
            "pgaudit.object_name": object_name or None,
        }
        keys: list[str] = []
        if action == "privilege.grant":
            granted, grant_object = sql.grant_fields(statement)
            out.update(granted)
            if grant_object is not None:
                keys.append(grant_object)
        names = [object_name] if object_name else []
        for table in names + sql.tables(statement):
            bare = table.rsplit(".", 1)[-1]
            keys += [f"{database}.{bare}", table, bare]
        out[DATASET_KEYS] = keys
        return out

    def _role(self, user: str) -> str:
        if not user:  # the postmaster and background workers log without a user
            return "system"
        if self.catalog is not None and user in self.catalog.service_accounts:
            return "system"
        return "admin"
