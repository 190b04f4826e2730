"""auditd parser on hand-written audit.log lines (RAW and ENRICHED formats, hex-encoded fields)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers import PARSERS
from datasoc.event import Event

GS = "\x1d"
USER_AUTH = (
    "type=USER_AUTH msg=audit(1772416402.123:456): pid=3101 uid=0 auid=1000 ses=5 "
    "subj=unconfined_u:unconfined_r:unconfined_t:s0 msg='op=PAM:authentication grantors=pam_unix "
    'acct="zhangsan" exe="/usr/bin/sudo" hostname=? addr=10.21.3.4 terminal=/dev/pts/0 res=success\''
    f'{GS}UID="root" AUID="zhangsan"'
)
FAILED_LOGIN = (
    "node=db-01 type=USER_LOGIN msg=audit(1772416500.000:470): pid=4120 uid=0 auid=4294967295 "
    'ses=4294967295 msg=\'op=login acct=E5BCA0E4B889 exe="/usr/sbin/sshd" hostname=203.0.113.9 '
    "addr=203.0.113.9 terminal=ssh res=failed'"
)
EXECVE = (
    'type=EXECVE msg=audit(1772416402.123:457): argc=3 a0="mysqldump" a1="gaj" '
    "a2=72685F6A6378782077686572652031"
)
SYSCALL = (
    "type=SYSCALL msg=audit(1772416402.123:457): arch=c000003e syscall=59 success=yes exit=0 "
    "a0=55d1 a1=55d2 a2=55d3 a3=0 items=2 ppid=3100 pid=3102 auid=1000 uid=0 gid=0 euid=0 ses=5 "
    'tty=pts0 comm="mysqldump" exe="/usr/bin/mysqldump" key="data_export"'
)
PROCTITLE = "type=PROCTITLE msg=audit(1772416402.123:457): proctitle=6D7973716C64756D700067616A00"
AUDIT_OFF = (
    "type=CONFIG_CHANGE msg=audit(1772416402.500:458): op=set audit_enabled=0 old=1 auid=1000 "
    "ses=5 subj=unconfined_u:unconfined_r:unconfined_t:s0 res=1"
)
RULE_DELETED = (
    "type=CONFIG_CHANGE msg=audit(1772416402.600:459): auid=1000 ses=5 op=remove_rule "
    'key="data_export" list=4 res=1'
)
AUDITD_STOP = (
    "type=SERVICE_STOP msg=audit(1772416403.000:460): pid=1 uid=0 auid=4294967295 ses=4294967295 "
    'msg=\'unit=auditd comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? '
    "terminal=? res=success'"
)
SUDO = (
    "type=USER_CMD msg=audit(1772416404.000:461): pid=5001 uid=1000 auid=1000 ses=5 "
    'msg=\'cwd="/home/zhangsan" cmd=617564697463746C202D44 exe="/usr/bin/sudo" terminal=pts/0 res=success\''
)


@pytest.fixture
def parse(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> Callable[[str], Event]:
    parser = PARSERS["auditd"](collector="file:audit", catalog=catalog)
    return lambda line: parser.parse(line, source="audit.log", now=now, new_id=new_id, position=1)


def test_user_auth_enriched(parse: Callable[[str], Event]) -> None:
    event = parse(USER_AUTH)
    assert event.get("@timestamp") == "2026-03-02T01:53:22.123000Z"
    assert (event.action, event.outcome) == ("auth.login", "success")
    assert event.user_name == "zhangsan"
    assert event.user_id == "1000"
    assert event.source_ip == "10.21.3.4"
    assert event.actor_role == "admin"
    assert event.lifecycle is None
    assert event.get("auditd.sequence") == 456
    assert event.get("auditd.data.op") == "PAM:authentication"
    assert event.get("auditd.enriched.UID") == "root"
    assert event.get("process.executable") == "/usr/bin/sudo"


def test_failed_login_with_hex_chinese_account(parse: Callable[[str], Event]) -> None:
    event = parse(FAILED_LOGIN)
    assert (event.action, event.outcome) == ("auth.login", "failure")
    assert event.user_name == "张三"
    assert event.user_id is None  # auid unset: nobody is logged in yet
    assert event.host_name == "db-01"
    assert event.actor_role == "admin"
    assert event.get("source.address") == "203.0.113.9"


def test_execve_and_proctitle_decode_hex(parse: Callable[[str], Event]) -> None:
    execve = parse(EXECVE)
    assert execve.action == "process.start"
    assert execve.get("process.command_line") == "mysqldump gaj rh_jcxx where 1"
    assert parse(PROCTITLE).get("process.command_line") == "mysqldump gaj"


def test_syscall(parse: Callable[[str], Event]) -> None:
    event = parse(SYSCALL)
    assert (event.action, event.outcome) == ("host.syscall", "success")
    assert event.get("process.name") == "mysqldump"
    assert event.get("auditd.data.key") == "data_export"
    assert event.get("process.pid") == 3102


def test_audit_switched_off_and_reconfigured(parse: Callable[[str], Event]) -> None:
    off = parse(AUDIT_OFF)
    assert (off.action, off.outcome) == ("audit.disable", "success")
    assert off.actor_role == "admin"
    assert parse(AUDIT_OFF.replace("audit_enabled=0 old=1", "audit_enabled=2 old=1")).action == "audit.enable"
    assert parse(RULE_DELETED).action == "audit.configure"
    stop = parse(AUDITD_STOP)
    assert (stop.action, stop.actor_role) == ("audit.disable", "system")


def test_user_cmd_hex_command(parse: Callable[[str], Event]) -> None:
    event = parse(SUDO)
    assert event.action == "sudo.command"
    assert event.get("process.command_line") == "auditctl -D"


def test_unknown_type_is_kept_as_a_record(parse: Callable[[str], Event]) -> None:
    event = parse('type=AVC msg=audit(1772416402.123:462): avc:  denied  { read } for pid=1 comm="x"')
    assert event.action == "auditd.record"
    assert event.get("auditd.message_type") == "AVC"


def test_same_line_same_id_across_positions(
    catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    parser = PARSERS["auditd"](collector="c", catalog=catalog)
    first = parser.parse(SYSCALL, source="audit.log", now=now, new_id=new_id, position=1)
    again = parser.parse(SYSCALL, source="audit.log", now=now, new_id=new_id, position=9)
    assert first.event_id == again.event_id  # the audit stamp and serial identify the record


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Mar  2 09:10:00 host sshd[1]: hello", "not an audit record"),
        ("type=SYSCALL msg=audit(abc:1): x=1", "not an audit record"),
        ("type=SYSCALL msg=audit(99999999999999.000:1): x=1", "not an audit record"),
        ("type=SYSCALL msg=audit(999999999999.000:1): x=1", "year"),
    ],
)
def test_bad_lines(parse: Callable[[str], Event], line: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as caught:
        parse(line)
    assert caught.value.source == "audit.log"
