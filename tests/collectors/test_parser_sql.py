"""The shared SQL skimmer: statement kinds, table names, GRANT parts, audit switches."""

from __future__ import annotations

import pytest

from collectors.parsers import sql
from collectors.parsers.lifecycle import ACTIONS


@pytest.mark.parametrize(
    ("statement", "action"),
    [
        ("select * from rk_jcxx", "db.select"),
        ("/* 报表 */ SELECT 1", "db.select"),
        ("WITH t AS (SELECT 1) SELECT * FROM t", "db.select"),
        ("SHOW TABLES", "db.select"),
        ("INSERT INTO a VALUES (1)", "db.write"),
        ("UPDATE a SET b = 1", "db.write"),
        ("DELETE FROM a WHERE id = 1", "db.delete"),
        ("TRUNCATE TABLE a", "db.drop"),
        ("DROP TABLE a", "db.drop"),
        ("DROP INDEX i", "db.ddl"),
        ("CREATE TABLE a (id int)", "db.ddl"),
        ("COPY rk_jcxx TO '/tmp/rk.csv'", "db.export"),
        ("COPY rk_jcxx FROM '/tmp/rk.csv'", "db.import"),
        ("COPY (SELECT * FROM rk_jcxx) TO STDOUT", "db.export"),
        ("GRANT SELECT ON a TO b", "privilege.grant"),
        ("REVOKE SELECT ON a FROM b", "privilege.revoke"),
        ("CALL refresh_stats()", "db.function"),
        ("ALTER SYSTEM SET pgaudit.log = 'none'", "audit.disable"),
        ("ALTER ROLE dba SET pgaudit.log TO 'none'", "audit.disable"),
        ("SET pgaudit.log = 'read, write'", "audit.configure"),
        ("ALTER SYSTEM SET pgaudit.log = 'all'", "audit.enable"),
        ("SET @@global.audit_log_policy = NONE", "audit.disable"),
        ("VACUUM ANALYZE a", "db.other"),
        ("", "db.other"),
    ],
)
def test_classify(statement: str, action: str) -> None:
    assert sql.classify(statement) == action
    assert action in ACTIONS


def test_tables_in_order_without_quotes() -> None:
    statement = "SELECT a.x FROM `gaj`.`rk_jcxx` a JOIN hj_qyjl h ON h.id = a.id -- FROM fake\nWHERE 1"
    assert sql.tables(statement) == ["gaj.rk_jcxx", "hj_qyjl"]
    assert sql.tables('UPDATE "public"."dzbl_zy" SET x = 1') == ["public.dzbl_zy"]
    assert sql.tables("SELECT 1 FROM dual") == []


@pytest.mark.parametrize(
    ("statement", "privileges", "obj", "grantees"),
    [
        ("GRANT SELECT ON gaj.rk_jcxx TO 'svc_report'@'10.10.1.%'", "SELECT", "gaj.rk_jcxx", ("svc_report",)),
        ("GRANT ALL PRIVILEGES ON `gaj`.* TO `dba_li`@`%` WITH GRANT OPTION", "ALL PRIVILEGES", "gaj.*",
         ("dba_li",)),
        ("GRANT SELECT, UPDATE ON TABLE public.dzbl_zy TO liuyan, \"chen\";", "SELECT, UPDATE",
         "public.dzbl_zy", ("liuyan", "chen")),
        ("GRANT pg_read_all_data TO liuyan", "pg_read_all_data", "", ("liuyan",)),
        ("GRANT SELECT ON a TO PUBLIC", "SELECT", "a", ()),
    ],
)  # fmt: skip
def test_parse_grant(statement: str, privileges: str, obj: str, grantees: tuple[str, ...]) -> None:
    grant = sql.parse_grant(statement)
    assert grant is not None
    assert (grant.privileges, grant.object, grant.grantees) == (privileges, obj, grantees)


def test_parse_grant_rejects_other_statements_and_huge_input() -> None:
    assert sql.parse_grant("SELECT 1") is None
    assert sql.parse_grant("GRANT " + "x" * 100_000 + " TO a") is None
