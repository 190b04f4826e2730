"""MySQL audit log, Percona Server `audit_log` plugin with `audit_log_format=JSON`.

One record per line (Percona Server 8.0 manual, "Audit log plugin", JSON format):

    {"audit_record":{"name":"Query","record":"1043_2026-03-01T22:00:00","timestamp":"2026-03-02T01:13:22 UTC",
     "command_class":"select","connection_id":"47","status":0,"sqltext":"SELECT * FROM rk_jcxx LIMIT 10",
     "user":"dba_li[dba_li] @  [10.10.2.31]","host":"","os_user":"","ip":"10.10.2.31","db":"gaj"}}

`record` (a sequence number and the server start time) is unique per server, so it keys the
stable event id. `status` is 0 on success, else the MySQL error number.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Final

from collectors.parsers import sql
from collectors.parsers.base import DATASET_KEYS, NATIVE_ID, Parser
from datasoc.event import parse_timestamp

_BY_NAME: Final[dict[str, str]] = {
    "Connect": "db.connect",
    "Change user": "db.connect",
    "Quit": "db.disconnect",
    # Written by the plugin when it starts and stops logging.
    "Audit": "audit.enable",
    "NoAudit": "audit.disable",
}
_SQL_RECORDS: Final = frozenset({"Query", "Execute", "Prepare", "Init DB", "Field List"})
_USER = re.compile(r"^\s*([^\[\s]*)(?:\[([^\]]*)\])?")


def _str(record: dict[str, Any], key: str) -> str:
    value = record.get(key, "")
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"audit_record.{key}: expected a string, got {type(value).__name__}")
    return str(value)


def account_name(user_field: str) -> str:
    """The login from Percona's `user` field (`priv_user[user] @ host [ip]` or a bare name)."""
    found = _USER.match(user_field)
    if found is None:
        return ""
    return found.group(2) or found.group(1)


def _time(value: str) -> datetime:
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    return parse_timestamp(text)


class MySqlAuditJsonParser(Parser):
    """Percona audit_log JSON records: DBA sessions, statements, grants, audit switches."""

    name = "mysql_audit_json"
    service = "database"

    def _fields(self, text: str, now: datetime) -> dict[str, Any]:
        doc = json.loads(text)
        record = doc.get("audit_record") if isinstance(doc, dict) else None
        if not isinstance(record, dict):
            raise ValueError('expected {"audit_record": {...}}')
        name = _str(record, "name")
        statement = _str(record, "sqltext")
        if name in _BY_NAME:
            action = _BY_NAME[name]
        elif name in _SQL_RECORDS:
            action = sql.classify(statement)
        elif name:
            action = "db.other"  # Ping, Kill, Shutdown, Binlog Dump, ...: kept, not interpreted
        else:
            raise ValueError("audit_record.name is missing")
        status = record.get("status", 0)
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        if isinstance(status, bool) or not isinstance(status, int):
            raise ValueError("audit_record.status: expected an integer")
        stamp = _str(record, "timestamp")
        if not stamp:
            raise ValueError("audit_record.timestamp is missing")
        user = account_name(_str(record, "user")) or _str(record, "priv_user")
        database = _str(record, "db")
        fields: dict[str, Any] = {
            "@timestamp": _time(stamp),
            "event.action": action,
            "event.outcome": "success" if status == 0 else "failure",
            "event.category": "database",
            NATIVE_ID: _str(record, "record") or None,
            "datasoc.actor_role": self._role(user),
            "user.name": user or None,
            "source.ip": _str(record, "ip") or None,
            "db.system": "mysql",
            "db.name": database or None,
            "db.statement": statement or None,
            "mysql.record_name": name,
            "mysql.command_class": _str(record, "command_class") or None,
            "mysql.connection_id": _str(record, "connection_id") or None,
            "mysql.status": status,
        }
        keys: list[str] = []
        if action == "privilege.grant":
            granted, grant_object = sql.grant_fields(statement)
            fields.update(granted)
            if grant_object is not None:
                keys.append(grant_object)
        for table in sql.tables(statement):
            if "." not in table and database:
                keys.append(f"{database}.{table}")
            keys.append(table)
        fields[DATASET_KEYS] = keys
        return fields

    def _role(self, user: str) -> str:
        # Database accounts are held by DBAs and administrators; applications use service accounts.
        if self.catalog is not None and user in self.catalog.service_accounts:
            return "system"
        return "admin"
