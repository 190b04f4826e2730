"""Parsers: native log records to normalized events, listed in one explicit registry.

    parser = PARSERS["apigw_json"](collector="file:apigw", catalog=catalog, approvals=register)
    event = parser.parse(line, source="apigw_access.jsonl", now=now, new_id=new_id, position=17)

Every parser raises `collectors.errors.ParseError` (never anything else) on bad input. The
action-to-lifecycle table is `collectors.parsers.lifecycle.ACTIONS`; the fields parsers may emit are
listed in `datasoc.fields` (add a new one there).
"""

from __future__ import annotations

from typing import Final

from collectors.parsers.apigw import ApiGatewayJsonParser
from collectors.parsers.auditd import AuditdParser
from collectors.parsers.base import Parser
from collectors.parsers.mysql_audit import MySqlAuditJsonParser
from collectors.parsers.pgaudit import PgAuditCsvParser
from collectors.parsers.provider import ProviderPortalParser
from collectors.parsers.syslog import LinuxSyslogParser
from collectors.parsers.windows import WindowsEventParser

PARSERS: Final[dict[str, type[Parser]]] = {
    ApiGatewayJsonParser.name: ApiGatewayJsonParser,
    MySqlAuditJsonParser.name: MySqlAuditJsonParser,
    PgAuditCsvParser.name: PgAuditCsvParser,
    LinuxSyslogParser.name: LinuxSyslogParser,
    AuditdParser.name: AuditdParser,
    ProviderPortalParser.name: ProviderPortalParser,
    WindowsEventParser.name: WindowsEventParser,
}

__all__ = [
    "PARSERS",
    "ApiGatewayJsonParser",
    "AuditdParser",
    "LinuxSyslogParser",
    "MySqlAuditJsonParser",
    "Parser",
    "PgAuditCsvParser",
    "ProviderPortalParser",
    "WindowsEventParser",
]
