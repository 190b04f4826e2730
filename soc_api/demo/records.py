"""Demo log records before and after rendering into the native formats the collectors read.

Generators produce `Draft`s (a time, a target file and the record's fields); the renderers here
turn them, in time order, into the exact lines a real system writes, assigning the sequence
numbers that only exist once order is known (Percona's `record`, PostgreSQL's
`session_line_num`). Rendering is pure: text in memory, no files.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from collectors.parsers.base import CHINA_TZ

APIGW: Final = "apigw_access.jsonl"
MYSQL: Final = "mysql_audit.jsonl"
PGAUDIT: Final = "postgresql.csv"
SYSLOG: Final = "auth.log"
# Each native file and the parser (collectors.parsers.PARSERS) that reads it.
SOURCES: Final[dict[str, str]] = {
    APIGW: "apigw_json",
    MYSQL: "mysql_audit_json",
    PGAUDIT: "pgaudit_csv",
    SYSLOG: "linux_syslog",
}


@dataclass(frozen=True)
class Draft:
    """One record to be written: its time (aware), file, fields, and the incident it belongs to."""

    at: datetime
    file: str
    data: dict[str, Any] = field(hash=False)
    incident: str | None = None


class Renderer(ABC):
    """Turns the drafts of one file, in time order, into lines; may keep per-file counters."""

    @abstractmethod
    def render(self, draft: Draft) -> tuple[str, str | None]:
        """The record text (one line, or several for a multi-line CSV record) and its native id."""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class ApiGatewayRenderer(Renderer):
    """APISIX file-logger with a custom `log_format` (see collectors.parsers.apigw)."""

    def render(self, draft: Draft) -> tuple[str, str | None]:
        """One JSON line; the request id is the record id."""
        local = draft.at.astimezone(CHINA_TZ)
        record = {"time": local.isoformat(timespec="milliseconds")}
        record.update({k: v for k, v in draft.data.items() if v is not None})
        return _json(record), str(draft.data["request_id"])


class MySqlAuditRenderer(Renderer):
    """Percona Server audit_log plugin, `audit_log_format=JSON`."""

    def __init__(self, server_start: datetime, first_record: int = 1) -> None:
        self.server_start = server_start.strftime("%Y-%m-%dT%H:%M:%S")
        self.next_record = first_record

    def render(self, draft: Draft) -> tuple[str, str | None]:
        """One `{"audit_record": {...}}` line; `record` is `<sequence>_<server start>`."""
        d = draft.data
        record_id = f"{self.next_record}_{self.server_start}"
        self.next_record += 1
        record: dict[str, Any] = {
            "name": d["name"],
            "record": record_id,
            "timestamp": draft.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S UTC"),
        }
        if d["name"] in ("Connect", "Quit", "Change user"):
            record.update(
                {
                    "connection_id": str(d["connection_id"]),
                    "status": d.get("status", 0),
                    "user": d["user"],
                    "priv_user": d["user"],
                    "os_login": "",
                    "proxy_user": "",
                    "host": "",
                    "ip": d["ip"],
                    "db": d.get("db", ""),
                }
            )
        else:
            record.update(
                {
                    "command_class": d["command_class"],
                    "connection_id": str(d["connection_id"]),
                    "status": d.get("status", 0),
                    "sqltext": d["sql"],
                    "user": f"{d['user']}[{d['user']}] @  [{d['ip']}]",
                    "host": "",
                    "os_user": "",
                    "ip": d["ip"],
                    "db": d.get("db", ""),
                }
            )
        return _json({"audit_record": record}), record_id


def _csv_field(text: str) -> str:
    """Quote as PostgreSQL's csvlog and pgaudit do: only when the value needs it."""
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _quoted(text: str) -> str:
    """csvlog always quotes its text columns (user, database, message, ...) unless empty."""
    return '"' + text.replace('"', '""') + '"' if text else ""


class PgAuditRenderer(Renderer):
    """PostgreSQL 16 csvlog (26 columns) with `log_timezone = 'PRC'` and pgaudit session logging."""

    def __init__(self) -> None:
        self.line_num: dict[str, int] = {}
        self.statement_id: dict[str, int] = {}

    def render(self, draft: Draft) -> tuple[str, str | None]:
        """One csvlog record; the id is `<session_id>:<session_line_num>`."""
        d = draft.data
        session = str(d["session_id"])
        line = self.line_num[session] = self.line_num.get(session, 0) + 1
        if "message" in d:
            message = str(d["message"])
        else:
            sid = self.statement_id[session] = self.statement_id.get(session, 0) + 1
            message = "AUDIT: " + ",".join(
                [
                    "SESSION",
                    str(sid),
                    "1",
                    d["class"],
                    d["command"],
                    d.get("object_type", ""),
                    d.get("object_name", ""),
                    _csv_field(d["statement"]),
                    "<not logged>",
                ]
            )
        columns = [
            _pg_time(draft.at, millis=True),
            _quoted(d["user"]),
            _quoted(d["db"]),
            str(d["pid"]),
            _quoted(f"{d['ip']}:{d['port']}") if d["ip"] else "",
            session,
            str(line),
            _quoted(d.get("command_tag", d.get("command", ""))),
            _pg_time(d["session_start"], millis=False),
            f"{d['backend']}/{line}" if d["backend"] else "",
            "0",
            d.get("severity", "LOG"),
            d.get("state", "00000"),
            _quoted(message),
            *[""]
            * 8,  # detail, hint, internal_query, internal_query_pos, context, query, query_pos, location
            _quoted(d.get("application", "")),
            _quoted("client backend" if d["user"] else "postmaster"),
            "",
            "0",
        ]
        return ",".join(columns), f"{session}:{line}"


def _pg_time(at: datetime, *, millis: bool) -> str:
    local = at.astimezone(CHINA_TZ)
    stamp = local.strftime("%Y-%m-%d %H:%M:%S")
    if millis:
        stamp += f".{local.microsecond // 1000:03d}"
    return f"{stamp} CST"


class SyslogRenderer(Renderer):
    """RFC 3164 lines as rsyslog forwards them (`<PRI>Mmm dd hh:mm:ss host tag[pid]: msg`), local time."""

    def render(self, draft: Draft) -> tuple[str, str | None]:
        """One line; syslog has no record id."""
        d = draft.data
        local = draft.at.astimezone(CHINA_TZ)
        stamp = f"{local.strftime('%b')} {local.day:>2} {local.strftime('%H:%M:%S')}"
        tag = d["program"] if d.get("pid") is None else f"{d['program']}[{d['pid']}]"
        return f"<{d['pri']}>{stamp} {d['host']} {tag}: {d['message']}", None
