"""Linux auth syslog parser: RFC 3164 (with and without PRI), rsyslog RFC 3339, RFC 5424."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers.syslog import LinuxSyslogParser

SUDO_AUDIT_OFF = (
    "<85>Mar  3 22:53:00 db-mysql-01 sudo:   gaojun : TTY=pts/0 ; PWD=/home/gaojun ; USER=root ; "
    "COMMAND=/usr/sbin/auditctl -e 0"
)


def parse(
    line: str | bytes, now: datetime, new_id: Callable[[], str], catalog: Catalog | None = None, **kw: Any
) -> Any:
    parser = LinuxSyslogParser(collector="syslog:udp", catalog=catalog, **kw)
    return parser.parse(line, source="auth.log", now=now, new_id=new_id, position=5)


def test_sudo_auditctl_off(now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(SUDO_AUDIT_OFF, now, new_id)
    assert event.get("@timestamp") == "2026-03-03T14:53:00.000000Z"  # local China time by default
    assert (event.action, event.outcome, event.actor_role) == ("audit.disable", "success", "admin")
    assert (event.user_name, event.get("user.effective.name")) == ("gaojun", "root")
    assert event.get("process.command_line") == "/usr/sbin/auditctl -e 0"
    assert event.host_name == "db-mysql-01"
    assert (event.get("log.syslog.facility.code"), event.get("log.syslog.severity.code")) == (10, 5)
    assert event.lifecycle is None


@pytest.mark.parametrize(
    ("command", "action"),
    [
        ("/usr/sbin/service auditd stop", "audit.disable"),
        ("/usr/bin/systemctl stop auditd", "audit.disable"),
        ("/usr/bin/systemctl mask --now auditd.service", "audit.disable"),
        ("/usr/bin/pkill auditd", "audit.disable"),
        ("/usr/sbin/auditctl -e 1", "audit.enable"),
        ("/usr/sbin/auditctl -D", "audit.configure"),
        ("/usr/bin/systemctl status auditd", "sudo.command"),
        ("/usr/bin/df -h", "sudo.command"),
    ],
)
def test_sudo_commands(command: str, action: str, now: datetime, new_id: Callable[[], str]) -> None:
    line = SUDO_AUDIT_OFF.replace("/usr/sbin/auditctl -e 0", command)
    assert parse(line, now, new_id).action == action


def test_sudo_refused(now: datetime, new_id: Callable[[], str]) -> None:
    line = (
        "Mar  3 09:00:01 apigw-01 sudo: zhangwei : 3 incorrect password attempts ; TTY=pts/1 ; "
        "PWD=/home/zhangwei ; USER=root ; COMMAND=/bin/cat /etc/shadow"
    )
    event = parse(line, now, new_id)
    assert (event.action, event.outcome) == ("sudo.command", "failure")
    assert event.get("event.reason") == "3 incorrect password attempts"


def test_sshd_accepted_enriched_with_district(
    catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    line = "Mar  2 09:10:00 bastion-01 sshd[2211]: Accepted publickey for liuyan from 10.21.8.29 port 51234 ssh2: ED25519 SHA256:abc"  # noqa: E501
    event = parse(line, now, new_id, catalog)
    assert (event.action, event.outcome, event.user_name) == ("ssh.login", "success", "liuyan")
    assert (event.source_ip, event.get("source.port"), event.get("process.pid")) == (
        "10.21.8.29",
        51234,
        2211,
    )
    assert (event.source_city, event.get("source.geo.name")) == ("明州市", "东湖区")
    assert event.get("log.syslog.priority") is None


@pytest.mark.parametrize(
    ("message", "action", "outcome", "user"),
    [
        (
            "Failed password for invalid user 管理员 from 203.0.113.7 port 2222 ssh2",
            "ssh.login",
            "failure",
            "管理员",
        ),
        ("Failed password for root from 203.0.113.7 port 2222 ssh2", "ssh.login", "failure", "root"),
        ("Invalid user oracle from 203.0.113.7 port 40022", "ssh.login", "failure", "oracle"),
        ("Disconnected from user liuyan 10.10.8.29 port 51234", "ssh.logout", "success", "liuyan"),
        (
            "pam_unix(sshd:session): session opened for user liuyan(uid=1003) by (uid=0)",
            "session.open",
            "success",
            "liuyan",
        ),
        ("Server listening on 0.0.0.0 port 22.", "syslog.message", "unknown", None),
    ],
)
def test_sshd_messages(
    message: str, action: str, outcome: str, user: str | None, now: datetime, new_id: Callable[[], str]
) -> None:
    event = parse(f"<86>Mar  2 09:10:00 bastion-01 sshd[2211]: {message}", now, new_id)
    assert (event.action, event.outcome, event.user_name) == (action, outcome, user)


def test_root_cron_session_is_system(now: datetime, new_id: Callable[[], str]) -> None:
    line = "<86>Mar  2 03:01:02 db-pg-01 CROND[4242]: pam_unix(crond:session): session opened for user root(uid=0) by (uid=0)"  # noqa: E501
    event = parse(line, now, new_id)
    assert (event.action, event.actor_role, event.get("process.name")) == ("session.open", "system", "CROND")


def test_hostname_in_address_is_not_source_ip(now: datetime, new_id: Callable[[], str]) -> None:
    line = "Mar  2 09:10:00 bastion-01 sshd[1]: Accepted password for ops from jump.example.cn port 22 ssh2"
    event = parse(line, now, new_id)
    assert event.source_ip is None
    assert event.get("source.address") == "jump.example.cn"


def test_year_is_inferred_from_now(new_id: Callable[[], str]) -> None:
    new_year = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)
    event = parse("Dec 31 23:59:59 h sshd[1]: Invalid user x from 192.0.2.1", new_year, new_id)
    assert event.get("@timestamp") == "2026-12-31T15:59:59.000000Z"
    leap = parse(
        "Feb 29 10:00:00 h sshd[1]: Invalid user x from 192.0.2.1", datetime(2026, 3, 1, tzinfo=UTC), new_id
    )
    assert leap.get("@timestamp").startswith("2024-02-29")


def test_year_reference_overrides_now_for_old_files(new_id: Callable[[], str]) -> None:
    years_later = datetime(2031, 6, 1, tzinfo=UTC)
    reference = datetime(2026, 3, 4, tzinfo=UTC)
    event = parse(SUDO_AUDIT_OFF, years_later, new_id, year_reference=reference)
    assert event.get("@timestamp") == "2026-03-03T14:53:00.000000Z"
    assert event.ingested == years_later


def test_local_zone_is_a_parameter(now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(SUDO_AUDIT_OFF, now, new_id, local_tz=timezone(timedelta(0)))
    assert event.get("@timestamp") == "2026-03-03T22:53:00.000000Z"


def test_rsyslog_rfc3339_time(now: datetime, new_id: Callable[[], str]) -> None:
    line = "2026-03-02T09:10:00.123456+08:00 bastion-01 sshd[7]: Invalid user test from 192.0.2.10 port 1"
    assert parse(line, now, new_id).get("@timestamp") == "2026-03-02T01:10:00.123456Z"


def test_rfc5424_with_structured_data_bom_and_chinese(now: datetime, new_id: Callable[[], str]) -> None:
    line = (
        '<38>1 2026-03-02T01:13:22.5+08:00 bastion-01 sshd 991 - [origin ip="10.0.0.1"][meta x="测试\\]"] '
        "\ufeffFailed password for invalid user 管理员 from 203.0.113.7 port 2222 ssh2"
    )
    event = parse(line.encode("utf-8"), now, new_id)
    assert event.get("@timestamp") == "2026-03-01T17:13:22.500000Z"
    assert (event.action, event.outcome, event.user_name) == ("ssh.login", "failure", "管理员")
    assert event.get("log.syslog.structured_data") == {"origin": {"ip": "10.0.0.1"}, "meta": {"x": "测试]"}}
    assert event.get("message").startswith("Failed password")
    assert event.get("log.syslog.appname") == "sshd"


def test_rfc5424_nil_structured_data(now: datetime, new_id: Callable[[], str]) -> None:
    line = "<86>1 2026-03-02T01:13:22Z db-pg-01 sudo - - - zhaolei : TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/id"  # noqa: E501
    event = parse(line, now, new_id)
    assert (event.action, event.user_name, event.get("process.pid")) == ("sudo.command", "zhaolei", None)


def test_event_id_depends_on_position_and_text(now: datetime, new_id: Callable[[], str]) -> None:
    parser = LinuxSyslogParser(collector="c")
    one = parser.parse(SUDO_AUDIT_OFF, source="auth.log", now=now, new_id=new_id, position=5)
    same = parser.parse(SUDO_AUDIT_OFF, source="auth.log", now=now, new_id=new_id, position=5)
    moved = parser.parse(SUDO_AUDIT_OFF, source="auth.log", now=now, new_id=new_id, position=6)
    unplaced = parser.parse(SUDO_AUDIT_OFF, source="auth.log", now=now, new_id=new_id)
    assert one.event_id == same.event_id != moved.event_id
    assert unplaced.event_id == "new-1"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("<999>Mar  2 09:10:00 h sshd: x", "PRI 999"),
        ("hello world", "no RFC 3164"),
        ("Foo  2 09:10:00 h sshd: x", "unknown month"),
        ("Feb 30 09:10:00 h sshd: x", "impossible RFC 3164 date"),
        ("<13>1 - h app - - - msg", "no timestamp"),
        ("<13>1 2026-03-02T01:13:22Z h app - -", "needs TIMESTAMP"),
        ("<13>1 2026-03-02T01:13:22Z h app - - [bad msg", "structured data"),
        (b"Mar  2 09:10:00 h sshd: \xff\xfe", "invalid UTF-8"),
        ("   ", "empty record"),
    ],
)
def test_bad_lines(line: str | bytes, reason: str, now: datetime, new_id: Callable[[], str]) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line, now, new_id)
    assert (caught.value.source, caught.value.position) == ("auth.log", 5)
    assert reason in caught.value.reason
