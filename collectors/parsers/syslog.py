"""Linux auth/authpriv syslog: sshd logins, sudo commands, PAM sessions.

Headers read (the message formats below them are OpenSSH's and sudo's own):
- RFC 3164 §4.1: `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, `<PRI>` optional as in files written
  by rsyslog (`/var/log/secure`, `/var/log/auth.log`). The header has no year and no zone: the
  time is read in `local_tz` (China Standard Time by default) and the year is the latest one that
  does not put the record more than a day after `year_reference` (default: each parse's `now`;
  set it when replaying old files, whose year `now` cannot tell).
- rsyslog's high-precision file format: an RFC 3339 time in place of the RFC 3164 one.
- RFC 5424 §6: `<PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID STRUCTURED-DATA [BOM]MSG`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

from collectors.approvals import ApprovalRegister
from collectors.catalog import Catalog
from collectors.enrichment import EnrichmentSource
from collectors.parsers.base import CHINA_TZ, Parser
from datasoc.event import parse_timestamp

_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_PRI = re.compile(r"^<(\d{1,3})>")
_BSD_TIME = re.compile(r"^([A-Z][a-z]{2}) ([ \d]?\d) (\d{2}):(\d{2}):(\d{2}) ")
_ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\S+) ")
_TAG = re.compile(r"^([^\s:\[\]]{1,48})(?:\[(\d{1,10})\])?: ?(.*)$", re.S)
_SD_ELEMENT = re.compile(r'\[([^\s=\]"]{1,32})((?:\s+[^\s=\]"]{1,32}="(?:[^"\\\]]|\\.)*")*)\]')
_SD_PARAM = re.compile(r'([^\s=\]"]{1,32})="((?:[^"\\\]]|\\.)*)"')

# sshd (OpenSSH auth.c, auth2.c, sshd.c) and PAM messages: (pattern, action, outcome).
_SSHD: Final[tuple[tuple[re.Pattern[str], str, str], ...]] = tuple(
    (re.compile(pattern), action, outcome)
    for pattern, action, outcome in (
        (
            r"^Accepted (?P<method>\S+) for (?P<user>\S+) from (?P<ip>\S+) port (?P<port>\d+)",
            "ssh.login",
            "success",
        ),
        (
            r"^Failed (?P<method>\S+) for (?:invalid user )?(?P<user>\S+) from (?P<ip>\S+)"
            r" port (?P<port>\d+)",
            "ssh.login",
            "failure",
        ),
        (r"^Invalid user (?P<user>\S*) from (?P<ip>\S+)(?: port (?P<port>\d+))?", "ssh.login", "failure"),
        (
            r"^Disconnected from (?:authenticating |invalid )?user (?P<user>\S+) (?P<ip>\S+)"
            r" port (?P<port>\d+)",
            "ssh.logout",
            "success",
        ),
        (r"^pam_unix\(\S+:session\): session opened for user (?P<user>[^\s(]+)", "session.open", "success"),
        (r"^pam_unix\(\S+:session\): session closed for user (?P<user>[^\s(]+)", "session.close", "success"),
    )
)
# sudo's log line (sudo plugins/sudoers/logging.c): `user : [reason ; ]TTY=.. ; PWD=.. ; USER=.. ; COMMAND=..`
_SUDO = re.compile(
    r"^\s*(?P<user>\S+) : (?:(?P<reason>[^;]*?) ; )?TTY=(?P<tty>\S+) ; PWD=(?P<pwd>.*?) ; "
    r"USER=(?P<runas>\S+) ;(?: GROUP=\S+ ;)?(?: TSID=\S+ ;)?(?: ENV=.*? ;)? COMMAND=(?P<command>.*)$",
    re.S,
)
# Commands that switch the Linux audit subsystem (auditctl(8) `-e 0|1|2`, `-D`; the auditd unit).
_AUDIT_COMMANDS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), action)
    for pattern, action in (
        (r"\bauditctl\b.*\s-e\s*0\b", "audit.disable"),
        (r"\bsystemctl\s+(?:stop|disable|mask|kill)\s+(?:\S+\s+)*auditd\b", "audit.disable"),
        (r"\bservice\s+auditd\s+stop\b|\b(?:p?kill|killall)\b.*\bauditd\b", "audit.disable"),
        (r"\bauditctl\b.*\s-e\s*[12]\b", "audit.enable"),
        (
            r"\bsystemctl\s+(?:start|enable|restart)\s+(?:\S+\s+)*auditd\b|\bservice\s+auditd\s+start\b",
            "audit.enable",
        ),
        (r"\bauditctl\b.*\s-[Dd]\b", "audit.configure"),
    )
)
_SYSTEM_USERS: Final = frozenset({"root", "daemon", "nobody", "systemd", "cron"})


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _sd(text: str) -> tuple[dict[str, dict[str, str]], str]:
    """RFC 5424 §6.3 STRUCTURED-DATA at the head of `text`: (elements, rest of text)."""
    if text.startswith("- ") or text == "-":
        return {}, text[2:]
    elements: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(text) and text[pos] == "[":
        found = _SD_ELEMENT.match(text, pos)
        if found is None:
            raise ValueError("RFC 5424 structured data is malformed")
        params = {k: re.sub(r"\\([\"\\\]])", r"\1", v) for k, v in _SD_PARAM.findall(found.group(2))}
        elements[found.group(1)] = params
        pos = found.end()
    if not elements:
        raise ValueError("RFC 5424 structured data is neither '-' nor '[...]'")
    return elements, text[pos:].removeprefix(" ")


class LinuxSyslogParser(Parser):
    """auth/authpriv syslog lines from sshd, sudo and PAM (RFC 3164 and RFC 5424 headers)."""

    name = "linux_syslog"
    service = "host"

    def __init__(
        self,
        *,
        collector: str,
        catalog: Catalog | None = None,
        approvals: ApprovalRegister | None = None,
        enrichment: EnrichmentSource | None = None,
        local_tz: tzinfo | str = CHINA_TZ,
        year_reference: datetime | None = None,
    ) -> None:
        """`local_tz` reads RFC 3164 times (which carry no offset) and gives `datasoc.local_hour`."""
        super().__init__(
            collector=collector,
            catalog=catalog,
            approvals=approvals,
            enrichment=enrichment,
            local_tz=local_tz,
        )
        self.year_reference = year_reference

    def _fields(self, text: str, now: datetime) -> dict[str, Any]:
        fields: dict[str, Any] = {"event.category": "authentication"}
        rest = text.lstrip("\ufeff")
        pri = _PRI.match(rest)
        if pri:
            value = int(pri.group(1))
            if value > 191:  # RFC 5424 §6.2.1: facility 0..23, severity 0..7
                raise ValueError(f"syslog PRI {value} is out of range 0..191")
            fields.update(
                {
                    "log.syslog.priority": value,
                    "log.syslog.facility.code": value >> 3,
                    "log.syslog.severity.code": value & 7,
                }
            )
            rest = rest[pri.end() :]
        if pri and rest.startswith("1 "):
            program, pid, message = self._rfc5424(rest[2:], fields)
        else:
            program, pid, message = self._rfc3164(rest, now, fields)
        fields.update({"process.name": program, "process.pid": pid, "message": message})
        self._message(program or "", message, fields)
        return fields

    def _rfc5424(self, rest: str, fields: dict[str, Any]) -> tuple[str | None, int | None, str]:
        parts = rest.split(" ", 5)
        if len(parts) < 6:
            raise ValueError("RFC 5424 header needs TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA")
        stamp, host, app, procid, msgid, tail = parts
        if stamp == "-":
            raise ValueError("RFC 5424 record has no timestamp")
        structured, message = _sd(tail)
        fields.update(
            {
                "@timestamp": parse_timestamp(stamp),
                "host.name": None if host == "-" else host,
                "log.syslog.version": "1",
                "log.syslog.appname": None if app == "-" else app,
                "log.syslog.msgid": None if msgid == "-" else msgid,
                "log.syslog.structured_data": structured or None,
            }
        )
        pid = int(procid) if procid.isdigit() and len(procid) < 10 else None
        return (None if app == "-" else app), pid, message.removeprefix("\ufeff")

    def _rfc3164(
        self, rest: str, now: datetime, fields: dict[str, Any]
    ) -> tuple[str | None, int | None, str]:
        bsd = _BSD_TIME.match(rest)
        iso = None if bsd else _ISO_TIME.match(rest)
        if bsd:
            fields["@timestamp"] = self._bsd_time(bsd, self.year_reference or now)
            rest = rest[bsd.end() :]
        elif iso:
            fields["@timestamp"] = parse_timestamp(iso.group(1))
            rest = rest[iso.end() :]
        else:
            raise ValueError("no RFC 3164 ('Mmm dd hh:mm:ss') or RFC 3339 timestamp at the start of the line")
        host, _, rest = rest.partition(" ")
        if not host:
            raise ValueError("RFC 3164 header has no HOSTNAME")
        fields["host.name"] = host
        tag = _TAG.match(rest)
        if tag is None:
            return None, None, rest
        return tag.group(1), (int(tag.group(2)) if tag.group(2) else None), tag.group(3)

    def _bsd_time(self, found: re.Match[str], reference: datetime) -> datetime:
        month = _MONTHS.get(found.group(1))
        if month is None:
            raise ValueError(f"unknown month {found.group(1)!r}")
        day, hour, minute, second = (int(found.group(i)) for i in range(2, 6))
        latest = reference.astimezone(self.local_tz) + timedelta(days=1)
        for year in range(latest.year, latest.year - 8, -1):
            try:
                stamp = datetime(year, month, day, hour, minute, second, tzinfo=self.local_tz)
            except ValueError:
                continue  # 29 Feb outside a leap year, or an impossible date
            if stamp <= latest:
                return stamp
        raise ValueError(f"impossible RFC 3164 date {found.group(0).strip()!r}")

    def _message(self, program: str, message: str, fields: dict[str, Any]) -> None:
        if program == "sudo":
            sudo = _SUDO.match(message)
            if sudo:
                command = sudo.group("command").strip()
                action = next((a for p, a in _AUDIT_COMMANDS if p.search(command)), "sudo.command")
                fields.update(
                    {
                        "event.action": action,
                        "event.outcome": "failure" if sudo.group("reason") else "success",
                        "event.reason": sudo.group("reason") or None,
                        "user.name": sudo.group("user"),
                        "user.effective.name": sudo.group("runas"),
                        "process.command_line": command,
                        "process.working_directory": sudo.group("pwd"),
                        "sudo.tty": sudo.group("tty"),
                        "datasoc.actor_role": self._role(sudo.group("user")),
                    }
                )
                return
        for pattern, action, outcome in _SSHD:
            found = pattern.search(message)
            if found:
                names = found.groupdict()
                address = names.get("ip") or ""
                fields["source.ip" if _is_ip(address) else "source.address"] = address or None
                fields.update(
                    {
                        "event.action": action,
                        "event.outcome": outcome,
                        "user.name": names.get("user") or None,
                        "source.port": int(names["port"]) if names.get("port") else None,
                        "ssh.method": names.get("method"),
                        "datasoc.actor_role": self._role(names.get("user") or ""),
                    }
                )
                return
        fields.update(
            {"event.action": "syslog.message", "event.outcome": "unknown", "datasoc.actor_role": "system"}
        )

    @staticmethod
    def _role(user: str) -> str:
        # Interactive logins and sudo on the platform's hosts are administrators' work.
        return "system" if not user or user in _SYSTEM_USERS else "admin"
