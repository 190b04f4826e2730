"""Every field a parser emits is known to `datasoc.fields`, the list `datasoc rules check` trusts.

The samples are the parsers' own test records; the demo replay (`tests/soc_api/demo/test_demo_fields.py`)
checks the same over thousands of generated events. Windows events also keep their undotted native
EventData fields, which `datasoc.fields` deliberately leaves out (rules on them use `product: windows`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import pytest

from collectors.approvals import ApprovalRegister
from collectors.catalog import Catalog
from collectors.parsers import PARSERS
from datasoc.fields import EVENT_FIELDS, KNOWN_FIELD_PREFIXES, NATIVE_FIELDS, is_known_field
from tests.collectors import (
    test_parser_apigw,
    test_parser_auditd,
    test_parser_pgaudit,
    test_parser_provider,
    test_parser_syslog,
    test_parser_windows,
)
from tests.collectors.test_approvals import RECORDS

SAMPLES: list[tuple[str, str]] = [
    ("apigw_json", test_parser_apigw.QUERY),
    ("apigw_json", test_parser_apigw.FAILED_LOGIN),
    ("apigw_json", test_parser_apigw.PROVIDER_DELETE),
    ("apigw_json", test_parser_apigw.APISIX_DEFAULT),
    *[
        ("auditd", getattr(test_parser_auditd, name))
        for name in ("USER_AUTH", "FAILED_LOGIN", "EXECVE", "SYSCALL", "AUDIT_OFF", "RULE_DELETED", "SUDO")
    ],
    *[
        ("pgaudit_csv", getattr(test_parser_pgaudit, name))
        for name in ("SELF_GRANT", "MULTILINE_SELECT", "ALTER_SYSTEM", "RELOADED")
    ],
    ("provider_json", json.dumps(test_parser_provider.SHARE, ensure_ascii=False)),
    ("linux_syslog", test_parser_syslog.SUDO_AUDIT_OFF),
    *[
        ("windows_evtx", json.dumps(getattr(test_parser_windows, name)))
        for name in ("LOGON", "FAILED", "PROCESS", "CLEARED", "SYSMON")
    ],
]


@pytest.mark.parametrize(("parser_name", "line"), SAMPLES)
def test_parser_fields_are_known(
    parser_name: str, line: str, catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    parser = PARSERS[parser_name](
        collector="t", catalog=catalog, approvals=ApprovalRegister.from_records(RECORDS)
    )
    fields = parser.parse(line, source="s", now=now, new_id=new_id).to_dict()
    native_windows = parser_name == "windows_evtx"
    unknown = [k for k in fields if not is_known_field(k) and not (native_windows and "." not in k)]
    assert unknown == []


def test_every_parser_has_a_sample() -> None:
    assert {name for name, _ in SAMPLES} >= set(PARSERS) - {"mysql_audit_json"}  # MySQL: the demo replay


def test_contract_fields_come_from_the_model() -> None:
    assert {"@timestamp", "event.action", "data.classification", "approval.id"} <= EVENT_FIELDS
    assert not set(NATIVE_FIELDS) & EVENT_FIELDS  # each name listed once, in its one place
    assert all(prefix.endswith(".") for prefix in KNOWN_FIELD_PREFIXES)


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("db.statement", True),
        ("pg.sql_state_code", True),
        ("mysql.status", True),
        ("user.effective.name", True),
        ("event.code", True),
        ("approval.region", True),
        ("datasoc.local_hour", True),
        ("http.response.body.content", True),
        ("event.actoin", False),  # the contract's own families are listed by exact name
        ("user.nmae", False),
        ("data.clasification", False),
        ("Image", False),
    ],
)
def test_is_known_field(name: str, known: bool) -> None:
    assert is_known_field(name) is known
