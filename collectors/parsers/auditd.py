"""Linux audit log records (`/var/log/audit/audit.log`, or audisp/syslog copies of it).

Record format (audit-userspace, `auditd.conf(5)` `log_format = RAW | ENRICHED`, and the kernel's
`audit_log_format`): `[node=NAME ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): key=value ...`.
Values are bare tokens, `"quoted"` strings, or for user-space records a `msg='...'` holding more
`key=value` pairs. Fields that may carry untrusted text (`comm`, `exe`, `cmd`, `proctitle`, the
EXECVE arguments `a0`...) are written quoted when safe and otherwise as upper-case hex of the raw
bytes (the kernel's `audit_log_n_untrustedstring`); bare hex in those fields is decoded here, and
NUL separators of `proctitle` become spaces. The ENRICHED format appends, after a 0x1D (GS)
byte, the interpreted names (`UID="root" AUID="zhangsan"`), which give `user.name`.

Each line becomes one event (records of one audit event share `msg=audit(...)` and can be
grouped downstream by `auditd.sequence`). Every field is kept under `auditd.data.<key>`;
`event.action` comes from `ACTIONS_BY_TYPE` (CONFIG_CHANGE and SERVICE_* on auditd decide between
`audit.disable`, `audit.enable` and `audit.configure` from their fields). The record's own text,
which includes its audit timestamp and serial, is its native id.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from collectors.parsers.base import NATIVE_ID, Parser

_HEADER: Final = re.compile(
    r"^(?:node=(?P<node>\S{1,255}) )?type=(?P<type>[A-Z0-9_]{1,40}|UNKNOWN\[\d{1,6}\]) "
    r"msg=audit\((?P<sec>\d{1,12})\.(?P<ms>\d{3}):(?P<serial>\d{1,20})\):\s?"
)
_FIELD: Final = re.compile(r"""([A-Za-z0-9_-]{1,64})=("[^"]*"|'[^']*'|[^\s"']*)""")
_HEX: Final = re.compile(r"^(?:[0-9A-F]{2})+$")
# Fields written with audit_log_untrustedstring (hex when not safe to quote).
_ESCAPED: Final = frozenset(
    {
        "comm",
        "exe",
        "cmd",
        "proctitle",
        "acct",
        "cwd",
        "path",
        "name",
        "key",
        "data",
        "vm",
        "watch",
        "dir",
        "grp",
    }
)
_ARG: Final = re.compile(r"^a\d{1,5}(?:\[\d{1,5}\])?$")
_UNSET_IDS: Final = frozenset({"4294967295", "-1"})
_UNKNOWN: Final = frozenset({"", "?", "(null)", "(none)", "unset"})
_SYSTEM_USERS: Final = frozenset({"root", "daemon", "nobody", "systemd", "cron"})

# Record types (linux/audit.h, audit-userspace lib/msg_typetab.h) to (action, event.category).
ACTIONS_BY_TYPE: Final[dict[str, tuple[str, str]]] = {
    "USER_AUTH": ("auth.login", "authentication"),
    "USER_LOGIN": ("auth.login", "authentication"),
    "USER_LOGOUT": ("auth.logout", "authentication"),
    "USER_START": ("session.open", "session"),
    "USER_END": ("session.close", "session"),
    "USER_CMD": ("sudo.command", "process"),
    "EXECVE": ("process.start", "process"),
    "SYSCALL": ("host.syscall", "host"),
    "CONFIG_CHANGE": ("audit.configure", "configuration"),
    "DAEMON_START": ("audit.enable", "configuration"),
    "DAEMON_END": ("audit.disable", "configuration"),
    "DAEMON_ABORT": ("audit.disable", "configuration"),
    "DAEMON_CONFIG": ("audit.configure", "configuration"),
    "ADD_USER": ("account.create", "iam"),
    "DEL_USER": ("account.delete", "iam"),
    "USER_MGMT": ("account.modify", "iam"),
    "USER_CHAUTHTOK": ("account.modify", "iam"),
    "ACCT_LOCK": ("account.modify", "iam"),
    "ACCT_UNLOCK": ("account.modify", "iam"),
    "ADD_GROUP": ("account.modify", "iam"),
    "DEL_GROUP": ("account.modify", "iam"),
    "GRP_MGMT": ("account.modify", "iam"),
    "ROLE_ASSIGN": ("privilege.grant", "iam"),
    "ROLE_REMOVE": ("privilege.revoke", "iam"),
}
_SUCCESS: Final = frozenset({"success", "yes", "1"})
_FAILURE: Final = frozenset({"failed", "failure", "no", "0"})


def _unquote(key: str, value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    if (key in _ESCAPED or _ARG.match(key)) and _HEX.match(value):
        raw = bytes.fromhex(value)
        if key == "proctitle":
            raw = raw.rstrip(b"\x00").replace(b"\x00", b" ")  # argv joined by NUL
        return raw.decode("utf-8", "backslashreplace")
    return value


def _pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for found in _FIELD.finditer(text):
        key, value = found.group(1), found.group(2)
        if key == "msg" and value.startswith("'"):
            pairs.update(_pairs(value[1:-1]))  # user-space record: the real fields are inside
            continue
        pairs.setdefault(key, _unquote(key, value))
    return pairs


def _known(value: str | None) -> str | None:
    return None if value is None or value in _UNKNOWN else value


def _ip(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _outcome(data: dict[str, str]) -> str:
    result = (data.get("res") or data.get("result") or data.get("success") or "").lower()
    if result in _SUCCESS:
        return "success"
    return "failure" if result in _FAILURE else "unknown"


def _action(kind: str, data: dict[str, str]) -> tuple[str, str]:
    action, category = ACTIONS_BY_TYPE.get(kind, ("auditd.record", "host"))
    if kind == "CONFIG_CHANGE" and "audit_enabled" in data:
        # auditctl -e 0 disables, 1 enables, 2 enables and locks the configuration.
        action = "audit.disable" if data["audit_enabled"] == "0" else "audit.enable"
    elif kind in ("SERVICE_START", "SERVICE_STOP") and data.get("unit") == "auditd":
        action, category = ("audit.enable" if kind == "SERVICE_START" else "audit.disable"), "configuration"
    return action, category


def _command_line(kind: str, data: dict[str, str]) -> str | None:
    if kind == "EXECVE":
        count = int(data["argc"]) if data.get("argc", "").isdigit() and len(data["argc"]) < 6 else 0
        args = [data[f"a{i}"] for i in range(count) if f"a{i}" in data]
        return " ".join(args) or None
    return _known(data.get("cmd")) or _known(data.get("proctitle"))


class AuditdParser(Parser):
    """One Linux audit record per line (RAW or ENRICHED log format)."""

    name = "auditd"
    service = "host"

    def _fields(self, text: str, now: datetime) -> dict[str, Any]:
        raw, _, enriched_text = text.partition("\x1d")
        header = _HEADER.match(raw)
        if header is None:
            raise ValueError(
                "not an audit record: expected 'type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): ...'"
            )
        kind = header.group("type")
        data = _pairs(raw[header.end() :])
        enriched = _pairs(enriched_text)
        stamp = datetime.fromtimestamp(int(header.group("sec")), UTC) + timedelta(
            milliseconds=int(header.group("ms"))
        )
        action, category = _action(kind, data)
        auid = data.get("auid") if data.get("auid") not in _UNSET_IDS else None
        user = _known(data.get("acct")) or _known(enriched.get("AUID")) or _known(data.get("id"))
        if user is None and auid is None and data.get("uid") == "0":
            user = _known(enriched.get("UID")) or "root"
        fields: dict[str, Any] = {
            "@timestamp": stamp,
            "event.action": action,
            "event.outcome": _outcome(data),
            "event.category": category,
            NATIVE_ID: raw,
            "auditd.message_type": kind,
            "auditd.sequence": int(header.group("serial")) if len(header.group("serial")) < 16 else None,
            "host.name": header.group("node"),
            "user.id": auid,
            "user.name": user,
            "source.ip": _ip(_known(data.get("addr"))),
            "source.address": _known(data.get("hostname")),
            "process.pid": int(data["pid"])
            if data.get("pid", "").isdigit() and len(data["pid"]) < 10
            else None,
            "process.executable": _known(data.get("exe")),
            "process.name": _known(data.get("comm")),
            "process.command_line": _command_line(kind, data),
            "datasoc.actor_role": self._role(user, auid),
        }
        for key, value in data.items():
            fields[f"auditd.data.{key}"] = value
        for key, value in enriched.items():
            fields[f"auditd.enriched.{key}"] = value
        return fields

    @staticmethod
    def _role(user: str | None, auid: str | None) -> str:
        # auid (the login uid) is set only for actions traceable to a person who logged in; without
        # it, a named non-system account (a login attempt) is still a person at the host.
        if auid is not None:
            return "admin"
        return "admin" if user is not None and user not in _SYSTEM_USERS else "system"
