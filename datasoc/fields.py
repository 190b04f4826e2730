"""Which field names a normalized event may carry: one list for the parsers and the rule checks.

The contract fields are the aliases of `datasoc.event.Event` (ARCHITECTURE.md, "Normalized
event"). Beside them the parsers keep native-derived fields (the model allows extras): those are
listed here by family (`KNOWN_FIELD_PREFIXES`, a dotted prefix covering every name under it) or,
where a family would be too wide (`event.`, `user.`), by exact name (`NATIVE_FIELDS`), each with
the parser that sets it. `is_known_field` answers for `datasoc rules check`, which flags a rule on
the normalized schema naming anything else (a misspelt field never matches and never errors).

The parsers live in `collectors/` and the rule checks in `detection/`, which may not import each
other (import-linter floors), so the list sits in the kernel. A collector that adds a field
outside this list must add it here; `tests/soc_api/demo/test_demo_fields.py` replays the demo
through every parser and fails on any field this module does not know.

Windows EventData fields (`Image`, `TargetUserName`, ...) are kept native and unlisted: rules on
them use `logsource: product: windows` and SigmaHQ's names, which this check does not cover.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from datasoc.event import Event

#: The normalized event's own fields: the aliases of the model (`@timestamp`, `event.action`, ...).
EVENT_FIELDS: Final[frozenset[str]] = frozenset(
    field.alias or name for name, field in Event.model_fields.items()
)

#: Native fields set by exact name (field -> what sets it), where the family is the contract's own.
NATIVE_FIELDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "message": "pgaudit, syslog: the free-text message of the record",
        "tags": "ECS tags (list of labels)",
        "event.code": "windows: the EventID as text",
        "event.provider": "windows: System/Provider/@Name",
        "event.reason": "provider portal: detail.reason",
        "event.duration": "gateway: request latency in nanoseconds",
        "user.domain": "windows: the account's domain",
        "user.full_name": "provider portal, windows: display name",
        "user.effective.name": "syslog (sudo): the user the command ran as",
        "user.group.id": "auditd: gid",
        "url.original": "ECS; target of the generic Sigma names cs-uri/c-uri in the datasoc pipeline",
        "data.fields": "gateway: the dataset fields a response returned (X-Data-Fields), judged by the "
        "grant trace",
    }
)

#: Native field families (dotted prefix -> what sets it); every name under a prefix is known.
KNOWN_FIELD_PREFIXES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "source.": "gateway, syslog, windows: source.ip, source.port; catalog: source.geo.*",
        "destination.": "ECS; target of the generic Sigma names DestinationIp/dst_ip",
        "client.": "ECS client side of a connection",
        "server.": "ECS server side of a connection",
        "http.": "gateway: http.request.*, http.response.* (status_code, body.content when sampled)",
        "url.": "gateway: url.path, url.query",
        "user_agent.": "gateway: user_agent.original",
        "host.": "syslog, auditd, windows, pgaudit: host.name; auditd: host.syscall",
        "process.": "syslog, auditd, pgaudit: process.name, pid, command_line, executable, ...",
        "file.": "ECS file fields",
        "related.": "ECS related.* pivots",
        "labels.": "ECS labels",
        "error.": "database audit: error.code, error.message",
        "log.": "syslog: log.syslog.* header fields",
        "user.target.": "database GRANT, windows: the account acted on",
        "user.changes.": "ECS account changes",
        "data.asset.": "catalog: data.asset.id, name, owner, owner_id, version",
        "data.fields.": "sensitive-field tags of a payload",
        "data.payload.": "payload samples",
        "datasoc.": "base parser: datasoc.local_hour, datasoc.workday; provider: datasoc.grade.*, "
        "datasoc.share.*",
        "approval.": "approval register: approval.region, user, dataset, status",
        "db.": "MySQL audit, pgaudit: db.statement, db.name, db.system, db.grant.*",
        "mysql.": "MySQL audit: mysql.status, command_class, connection_id, record_name",
        "pg.": "pgaudit (csvlog): pg.sql_state_code, command_tag, error_severity, session_id",
        "pgaudit.": "pgaudit: pgaudit.class, command, object_name, object_type, ...",
        "auditd.": "auditd: auditd.message_type, sequence, data.*, enriched.*",
        "apigw.": "gateway: apigw.route_id",
        "ssh.": "syslog (sshd): ssh.method",
        "sudo.": "syslog (sudo): sudo.tty, sudo.command",
        "syslog.": "syslog: syslog.message",
        "winlog.": "windows: winlog.channel, winlog.record_id",
    }
)

_PREFIXES: Final[tuple[str, ...]] = tuple(KNOWN_FIELD_PREFIXES)


def is_known_field(name: str) -> bool:
    """Whether `name` is a contract field, a listed native field or under a native family."""
    return name in EVENT_FIELDS or name in NATIVE_FIELDS or name.startswith(_PREFIXES)
