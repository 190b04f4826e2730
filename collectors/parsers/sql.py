"""Just enough SQL reading for audit logs: the kind of a statement, the tables it names, a GRANT.

This is not a SQL parser; it reads the leading keywords the way a DBA skims an audit log. It is
shared by the MySQL audit and pgaudit parsers so both name the same statement the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
_WORD = re.compile(r"[A-Za-z_]+")
_IDENT = r"(?:`[^`]+`|\"[^\"]+\"|[A-Za-z_][\w$]*)"
_QUALIFIED = rf"{_IDENT}(?:\s*\.\s*{_IDENT})?"
_TABLE_REF = re.compile(rf"\b(?:FROM|JOIN|INTO|UPDATE|TABLE|COPY)\s+(?:ONLY\s+)?({_QUALIFIED})", re.I)
_HEAD: Final = 4096
_NOT_TABLES: Final = frozenset({"select", "dual", "outfile", "dumpfile", "all", "lateral"})

# Audit switches: Percona `audit_log_policy` (ALL|LOGINS|QUERIES|NONE), MySQL Enterprise
# `audit_log_disable`, pgaudit's `pgaudit.log` class list (`none` turns it off).
_AUDIT_SETTING = re.compile(
    r"\b(?:SET\s+(?:GLOBAL\s+|PERSIST\s+|SESSION\s+)?|ALTER\s+SYSTEM\s+SET\s+|ALTER\s+(?:ROLE|USER|DATABASE)\s+\S+\s+SET\s+)"
    r"(?:@@global\.)?(audit_log_policy|audit_log_disable|pgaudit\.log)\s*(?:=|TO)\s*'?\"?([\w,\s-]*)",
    re.I,
)
_UNINSTALL_AUDIT = re.compile(r"^\s*UNINSTALL\s+(?:PLUGIN\s+audit_log|COMPONENT\s+\S*audit)", re.I)
_GRANT = re.compile(
    r"^\s*GRANT\s+(?P<privs>.+?)(?:\s+ON\s+(?P<object>.+?))?\s+TO\s+(?P<grantees>.+?)"
    r"(?:\s+WITH\s+(?:GRANT|ADMIN)\s+OPTION)?\s*;?\s*$",
    re.I | re.S,
)
_GRANTEE = re.compile(r"^\s*(?:'([^']*)'|`([^`]*)`|\"([^\"]*)\"|([\w$.-]+))\s*(?:@\s*\S+)?\s*$")


@dataclass(frozen=True)
class Grant:
    """What a GRANT statement gives to whom."""

    privileges: str
    object: str
    grantees: tuple[str, ...]


def strip_comments(sql: str) -> str:
    """SQL without `/* */` and `--` comments."""
    return _COMMENT.sub(" ", sql)


def classify(sql: str) -> str:
    """The normalized action (a key of `lifecycle.ACTIONS`) of one SQL statement."""
    # Only the head of a statement decides its kind; bounding it keeps the regexes linear on
    # hostile input (a multi-megabyte statement in a fuzzed record).
    text = strip_comments(sql[:_HEAD]).strip()
    audit = audit_action(text)
    if audit is not None:
        return audit
    words = [w.upper() for w in _WORD.findall(text[:400])[:8]]
    if not words:
        return "db.other"
    first = words[0]
    if first in ("SELECT", "WITH", "TABLE", "VALUES"):
        return (
            "db.export"
            if "OUTFILE" in words or re.search(r"\bINTO\s+(OUT|DUMP)FILE\b", text, re.I)
            else "db.select"
        )
    if first in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN"):
        return "db.select"
    if first in ("INSERT", "UPDATE", "REPLACE", "MERGE", "UPSERT"):
        return "db.write"
    if first == "LOAD":
        return "db.import"
    if first == "COPY":
        return (
            "db.import"
            if re.search(r"\bFROM\b", text, re.I) and not re.search(r"\)\s*TO\b", text, re.I)
            else "db.export"
        )
    if first == "DELETE":
        return "db.delete"
    if first == "TRUNCATE" or (first == "DROP" and len(words) > 1 and words[1] == "TABLE"):
        return "db.drop"
    if first in ("CREATE", "ALTER", "DROP", "RENAME", "COMMENT"):
        return "db.ddl"
    if first == "GRANT":
        return "privilege.grant"
    if first == "REVOKE":
        return "privilege.revoke"
    if first in ("CALL", "EXECUTE", "DO"):
        return "db.function"
    return "db.other"


def audit_action(sql: str) -> str | None:
    """`audit.disable|enable|configure` when the statement changes the audit log, else None."""
    if _UNINSTALL_AUDIT.search(sql):
        return "audit.disable"
    found = _AUDIT_SETTING.search(sql)
    if found is None:
        return None
    name, value = found.group(1).lower(), found.group(2).strip().strip("'\"").lower()
    if name == "audit_log_disable":
        return "audit.disable" if value in ("on", "1", "true") else "audit.enable"
    if value in ("none", "", "-all") or (name == "pgaudit.log" and value.startswith("none")):
        return "audit.disable"
    return "audit.enable" if value == "all" else "audit.configure"


def tables(sql: str) -> list[str]:
    """Table names a statement refers to, as written (quotes removed), in order of appearance."""
    found: list[str] = []
    for match in _TABLE_REF.finditer(strip_comments(sql[: _HEAD * 8])):
        name = re.sub(r"[`\"\s]", "", match.group(1))
        if name.lower() not in _NOT_TABLES and name not in found:
            found.append(name)
    return found


def parse_grant(sql: str) -> Grant | None:
    """The privileges, object and grantees of a GRANT statement, or None if it is not one."""
    if len(sql) > _HEAD:
        return None
    found = _GRANT.match(strip_comments(sql))
    if found is None:
        return None
    grantees: list[str] = []
    for part in found.group("grantees").split(","):
        name = _GRANTEE.match(part)
        if name is None:
            continue
        grantee = next(g for g in name.groups() if g is not None)
        if grantee.upper() not in ("PUBLIC", "CURRENT_USER", "SESSION_USER"):
            grantees.append(grantee)
    obj = re.sub(r"^\s*TABLE\s+", "", found.group("object") or "", flags=re.I).strip()
    return Grant(" ".join(found.group("privs").split()), re.sub(r"[`\"]", "", obj), tuple(grantees))


def grant_fields(statement: str) -> tuple[dict[str, Any], str | None]:
    """Normalized fields of a GRANT statement (`db.grant.*`, `user.target.name`) and its object.

    `({}, None)` when the statement is not a GRANT this module can read.
    """
    grant = parse_grant(statement)
    if grant is None:
        return {}, None
    fields: dict[str, Any] = {
        "db.grant.privileges": grant.privileges,
        "db.grant.object": grant.object,
        "db.grant.grantees": list(grant.grantees),
        "user.target.name": grant.grantees[0] if grant.grantees else None,
    }
    return fields, grant.object
