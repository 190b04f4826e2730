"""pgaudit-in-csvlog parser on hand-written PostgreSQL 13 and 16 records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers.pgaudit import PgAuditCsvParser

TAIL16 = ',,,,,,,,,"psql","client backend",,0'
SELF_GRANT = (
    '2026-03-02 23:12:25.118 CST,"liuyan","wjw",18196,"10.10.8.29:44495",69a5a8c0.4714,1,"GRANT",'
    "2026-03-02 23:12:00 CST,4/2,0,LOG,00000,"
    '"AUDIT: SESSION,1,1,ROLE,GRANT,TABLE,public.dzbl_zy,'
    '""GRANT SELECT, UPDATE ON TABLE public.dzbl_zy TO liuyan"",<not logged>"' + TAIL16
)
MULTILINE_SELECT = (
    '2026-03-02 10:05:01.000 UTC,"chenjing","wjw",2211,"10.10.8.30:50112",65e27a3d.8a3,4,"SELECT",'
    "2026-03-02 10:00:00 UTC,3/45,0,LOG,00000,"
    '"AUDIT: SESSION,2,1,READ,SELECT,TABLE,public.dzbl_zy,""SELECT xm, zd\n  FROM dzbl_zy\n'
    ' WHERE jzyy = \'明州市第一人民医院\'"",<not logged>"' + TAIL16
)
ALTER_SYSTEM = (
    '2026-03-03 23:02:00.000 CST,"gaojun","postgres",3301,"10.10.8.40:41000",69a6f1b0.ce5,2,"ALTER SYSTEM",'
    "2026-03-03 23:01:30 CST,5/9,0,LOG,00000,"
    "\"AUDIT: SESSION,1,1,MISC,ALTER SYSTEM,,,ALTER SYSTEM SET pgaudit.log = 'none',<not logged>\"" + TAIL16
)
RELOADED = (
    "2026-03-03 23:02:05.002 CST,,,1187,,698c99e8.4a3,2,,2026-02-11 23:02:00 CST,,0,LOG,00000,"
    '"parameter ""pgaudit.log"" changed to ""none""",,,,,,,,,"","postmaster",,0'
)
# PostgreSQL 13: 23 columns, no backend_type/leader_pid/query_id.
AUTH_FAILED_PG13 = (
    '2026-03-02 03:10:00.500 +08,"postgres","postgres",5120,"203.0.113.5:51000",65e2.1400,1,"authentication",'
    "2026-03-02 03:10:00 +08,3/1,0,FATAL,28P01,"
    '"password authentication failed for user ""postgres""","Connection matched pg_hba.conf line 99",'
    ",,,,,,,"
)


def parse(line: str, catalog: Catalog | None, now: datetime, new_id: Callable[[], str]) -> Any:
    parser = PgAuditCsvParser(collector="file:pg", catalog=catalog)
    return parser.parse(line, source="postgresql.csv", now=now, new_id=new_id, position=8)


def test_self_grant(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(SELF_GRANT, catalog, now, new_id)
    assert event.get("@timestamp") == "2026-03-02T15:12:25.118000Z"  # CST is UTC+8 here
    assert (event.action, event.outcome, event.actor_role) == ("privilege.grant", "success", "admin")
    assert event.user_name == event.get("user.target.name") == "liuyan"
    assert event.get("db.grant.privileges") == "SELECT, UPDATE"
    assert (event.asset_id, event.classification) == ("ds-wjw-dzbl", "core")
    assert event.get("pgaudit.class") == "ROLE"
    assert event.source_ip == "10.10.8.29"


def test_stable_id_from_session_and_line(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> None:
    first = parse(SELF_GRANT, catalog, now, new_id)
    assert first.event_id == parse(SELF_GRANT, None, now, new_id).event_id
    other_line = SELF_GRANT.replace("69a5a8c0.4714,1,", "69a5a8c0.4714,2,")
    assert parse(other_line, None, now, new_id).event_id != first.event_id


def test_multiline_statement_with_chinese(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(MULTILINE_SELECT, catalog, now, new_id)
    assert (event.action, event.lifecycle) == ("db.select", "use")
    assert "明州市第一人民医院" in event.get("db.statement")
    assert event.get("db.statement").count("\n") == 2
    assert event.asset_id == "ds-wjw-dzbl"


def test_alter_system_turns_audit_off(now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(ALTER_SYSTEM, None, now, new_id)
    assert (event.action, event.user_name, event.actor_role) == ("audit.disable", "gaojun", "admin")


def test_reload_message_without_user_is_system(now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(RELOADED, None, now, new_id)
    assert (event.action, event.actor_role, event.user_name) == ("audit.disable", "system", None)
    assert event.source_ip is None


def test_pg13_layout_and_numeric_offset(now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(AUTH_FAILED_PG13, None, now, new_id)
    assert (event.action, event.outcome) == ("db.connect", "failure")
    assert event.get("@timestamp") == "2026-03-01T19:10:00.500000Z"
    assert event.get("pg.sql_state_code") == "28P01"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2026-03-02 10:00:00.000 UTC,a,b", "csvlog columns"),
        (SELF_GRANT.replace(" CST,", " EST,", 1), "unknown time zone"),
        (SELF_GRANT.replace("2026-03-02 23:12:25.118", "2026-13-02 23:12:25.118"), "does not match"),
        (SELF_GRANT.replace("AUDIT: SESSION,1,1,ROLE", "AUDIT: BOGUS,1,1,ROLE"), "pgaudit message"),
        (SELF_GRANT + "\n" + SELF_GRANT, "one CSV record, found 2"),
        (SELF_GRANT + '\n"open quote', "malformed CSV"),
        (SELF_GRANT.replace(',"GRANT",', ',"GR"ANT",'), "CSV"),
    ],
)
def test_bad_records(line: str, reason: str, now: datetime, new_id: Callable[[], str]) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line, None, now, new_id)
    assert (caught.value.source, caught.value.position) == ("postgresql.csv", 8)
    assert reason in caught.value.reason
