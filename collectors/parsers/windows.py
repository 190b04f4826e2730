"""Windows event log records (evtx_dump JSON of one `<Event>`), flattened so SigmaHQ rules apply.

Input is one record as pyevtx-rs / evtx_dump writes it (`{"Event": {"System": ..., "EventData":
...}}`); `collectors.inputs.evtx` reads `.evtx` files and evtx_dump JSON streams into such records.
Every flattened native field (`EventID`, `Channel`, `Provider_Name`, `Image`, `CommandLine`, ...;
see `datasoc.winevent`) is kept unchanged beside the normalized ones:

- `@timestamp` from `System/TimeCreated/@SystemTime` (UTC);
- `event.code` (the EventID as text), `event.provider`, `winlog.channel`, `winlog.record_id`;
- `event.action` from `WELL_KNOWN` for the ids a data platform's SOC acts on, else `winevent.event`
  (the EventID and Channel stay native, so rules still select on them);
- `event.outcome` from the table, else from the audit keywords (Audit Success / Audit Failure bits
  of `System/Keywords`, [MS-EVEN6] and winmeta.xml `WINEVENT_KEYWORD_AUDIT_*`), else unknown;
- native integers beyond ±(2**53-1) (unsigned 64-bit fields) are kept as decimal strings, since
  the event contract is I-JSON; every other native value is kept as flattened;
- `host.name` (Computer), `user.name` and `user.domain`, `source.ip` (logon events' IpAddress),
  `datasoc.actor_role` (system for machine and service accounts, admin for people on the hosts).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from collectors.parsers.base import NATIVE_ID, Parser
from datasoc.event import parse_timestamp
from datasoc.winevent import flatten, is_evtx

SECURITY: Final = "Security"
SYSTEM: Final = "System"
SYSMON: Final = "Microsoft-Windows-Sysmon/Operational"
# (Channel, EventID) -> (action, outcome or None for "from keywords", event.category).
# Security ids: Microsoft "Audit ..." event documentation (4624 "An account was successfully
# logged on", 4625, 4634, 4647, 4688, 4697, 4719, 4720, 4726, 4728/4732/4756, 4738, 1102);
# System 104 and 7045: Eventlog and Service Control Manager; Sysmon 1: process creation.
WELL_KNOWN: Final[dict[tuple[str, int], tuple[str, str | None, str]]] = {
    (SECURITY, 4624): ("auth.login", "success", "authentication"),
    (SECURITY, 4625): ("auth.login", "failure", "authentication"),
    (SECURITY, 4634): ("auth.logout", "success", "authentication"),
    (SECURITY, 4647): ("auth.logout", "success", "authentication"),
    (SECURITY, 4688): ("process.start", "success", "process"),
    (SECURITY, 4697): ("service.install", "success", "configuration"),
    (SECURITY, 4719): ("audit.configure", "success", "configuration"),
    (SECURITY, 4720): ("account.create", None, "iam"),
    (SECURITY, 4726): ("account.delete", None, "iam"),
    (SECURITY, 4738): ("account.modify", None, "iam"),
    (SECURITY, 4728): ("privilege.grant", None, "iam"),
    (SECURITY, 4732): ("privilege.grant", None, "iam"),
    (SECURITY, 4756): ("privilege.grant", None, "iam"),
    (SECURITY, 4729): ("privilege.revoke", None, "iam"),
    (SECURITY, 4733): ("privilege.revoke", None, "iam"),
    (SECURITY, 1102): ("audit.clear", "success", "configuration"),
    (SYSTEM, 104): ("audit.clear", "success", "configuration"),
    (SYSTEM, 7045): ("service.install", "success", "configuration"),
    (SYSMON, 1): ("process.start", "success", "process"),
}
_AUDIT_FAILURE: Final = 0x10_0000_0000_0000
_AUDIT_SUCCESS: Final = 0x20_0000_0000_0000
# Well-known SIDs of the system's own accounts (Microsoft "Well-known SIDs"): S-1-5-18 LocalSystem,
# -19 LocalService, -20 NetworkService; names as the event log writes them in English and Chinese.
_SYSTEM_SIDS: Final = frozenset({"S-1-5-18", "S-1-5-19", "S-1-5-20"})
_SYSTEM_NAMES: Final = frozenset(
    {"system", "local service", "network service", "anonymous logon", "dwm-1", "umfd-0", "umfd-1"}
)
_MAX_SAFE_INT: Final = 2**53 - 1
_USER_FIELDS: Final = ("TargetUserName", "SubjectUserName", "User", "AccountName")
_UNSET: Final = frozenset({"", "-", "N/A", "NULL SID", "S-1-0-0"})


def _text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        return None if text in _UNSET else text
    return None


def _event_id(flat: Mapping[str, Any]) -> int:
    value = flat.get("EventID")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"System/EventID: expected a number, got {type(value).__name__}")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        raise ValueError(f"System/EventID: expected a number 0..65535, got {text[:20]!r}")
    number = int(text)
    if number > 65535:
        raise ValueError(f"System/EventID: {number} is out of range 0..65535")
    return number


def _keywords_outcome(value: Any) -> str:
    if not isinstance(value, str) or not value.lower().startswith("0x") or len(value) > 18:
        return "unknown"
    try:
        mask = int(value, 16)
    except ValueError:
        return "unknown"
    if mask & _AUDIT_FAILURE:
        return "failure"
    return "success" if mask & _AUDIT_SUCCESS else "unknown"


def _user(flat: Mapping[str, Any], event_id: int) -> tuple[str | None, str | None, str | None]:
    """(user name, domain, SID) of the account the event is about."""
    # Logon events name the account logging on in Target*; Subject* is the reporting service.
    fields = _USER_FIELDS if event_id in (4624, 4625, 4634, 4647) else _USER_FIELDS[1:] + _USER_FIELDS[:1]
    for name in fields:
        user = _text(flat.get(name))
        if user is None:
            continue
        domain = _text(flat.get(name.replace("UserName", "DomainName")))
        sid = _text(flat.get(name.replace("UserName", "UserSid"))) if "UserName" in name else None
        if "\\" in user:  # Sysmon's `User` is DOMAIN\name
            domain, _, user = user.rpartition("\\")
        return user, domain, sid
    return None, None, None


def _role(user: str | None, sid: str | None) -> str:
    if sid in _SYSTEM_SIDS or user is None:
        return "system"
    if user.endswith("$") or user.lower() in _SYSTEM_NAMES or user in ("本地系统", "网络服务", "本地服务"):
        return "system"
    return "admin"  # people on the platform's Windows hosts are operators and administrators


def _json_safe(value: Any) -> Any:
    """Native values as the event contract allows them: integers beyond I-JSON's ±(2**53-1)
    (64-bit fields such as a file length of 0xFFFFFFFFFFFFFFFF) become their decimal text."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_SAFE_INT:
        return str(value)
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _ip(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class WindowsEventParser(Parser):
    """One evtx_dump JSON record to an event with the flattened native fields kept."""

    name = "windows_evtx"
    service = "windows"

    def _fields(self, text: str, now: datetime) -> dict[str, Any]:
        record = json.loads(text)
        if not isinstance(record, dict) or not is_evtx(record):
            raise ValueError('expected an evtx_dump record {"Event": {"System": {...}, ...}}')
        return self._normalized(record)

    def _normalized(self, record: Mapping[str, Any]) -> dict[str, Any]:
        flat = flatten(record)
        for key in flat:
            # System names are kept as written; a dotted or `@` name would shadow a normalized field.
            if not key or "." in key or key.startswith("@"):
                raise ValueError(
                    f"native field name {key[:64]!r} is empty or would shadow a normalized field"
                )
        event_id = _event_id(flat)
        channel = _text(flat.get("Channel")) or ""
        stamp = flat.get("TimeCreated_SystemTime")
        if not isinstance(stamp, str):
            raise ValueError("System/TimeCreated/@SystemTime is missing")
        action, outcome, category = WELL_KNOWN.get((channel, event_id), ("winevent.event", None, "host"))
        user, domain, sid = _user(flat, event_id)
        computer = _text(flat.get("Computer"))
        record_id = _text(flat.get("EventRecordID"))
        fields: dict[str, Any] = {key: _json_safe(value) for key, value in flat.items()}
        fields.update(
            {
                "@timestamp": parse_timestamp(stamp),
                "event.action": action,
                "event.outcome": outcome or _keywords_outcome(flat.get("Keywords")),
                "event.category": category,
                "event.code": str(event_id),
                "event.provider": _text(flat.get("Provider_Name")),
                "winlog.channel": channel or None,
                "winlog.record_id": record_id,
                "host.name": computer,
                "user.name": user,
                "user.domain": domain,
                "source.ip": _ip(flat.get("IpAddress")),
                "datasoc.actor_role": _role(user, sid),
                # Record ids restart when a log is recreated (and collide across captures of a
                # re-imaged host), so the creation time is part of the identity.
                NATIVE_ID: None if record_id is None else f"{computer}/{channel}/{record_id}/{stamp}",
            }
        )
        return fields
