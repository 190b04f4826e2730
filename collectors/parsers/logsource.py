"""The one table that maps normalized actions to Sigma logsource categories (product `datasoc`).

Every parser writes `datasoc.logsource.product` = `datasoc`, `datasoc.logsource.service` = its own
`Parser.service`, and `datasoc.logsource.category` from this table (`datasoc.logsource` explains
the fields; detection evaluates a rule only on events of its logsource). A rule over several
categories names the product (and a service) only.

Categories (`datasoc.logsource.DATASOC_CATEGORIES`): `authentication` (log-ins and sessions),
`data_access` (records read, written, moved or deleted: everything with a lifecycle stage, and the
catalog operations around a dataset), `audit_config` (the audit trail switched, configured or
cleared), `iam` (accounts and privileges), `process_creation` (Sigma's name for a process start).
Actions in none of them (`db.ddl`, `http.request`, `syslog.message`, ...) have no category.
"""

from __future__ import annotations

from typing import Final

CATEGORIES: Final[dict[str, str | None]] = {
    "dataset.query": "data_access",
    "dataset.download": "data_access",
    "dataset.open": "data_access",
    "catalog.browse": None,
    "http.request": None,
    "dataset.publish": "data_access",
    "dataset.update": "data_access",
    "dataset.share": "data_access",
    "dataset.delete": "data_access",
    "auth.login": "authentication",
    "auth.logout": "authentication",
    "db.connect": "authentication",
    "db.disconnect": "authentication",
    "db.select": "data_access",
    "db.write": "data_access",
    "db.import": "data_access",
    "db.export": "data_access",
    "db.delete": "data_access",
    "db.drop": "data_access",
    "db.ddl": None,
    "db.function": "data_access",
    "db.other": None,
    "privilege.grant": "iam",
    "privilege.revoke": "iam",
    "audit.disable": "audit_config",
    "audit.enable": "audit_config",
    "audit.configure": "audit_config",
    "ssh.login": "authentication",
    "ssh.logout": "authentication",
    "sudo.command": "process_creation",
    "session.open": "authentication",
    "session.close": "authentication",
    "syslog.message": None,
    "dataset.withdraw": "data_access",
    "dataset.grade": "data_access",
    "dataset.unshare": "data_access",
    "process.start": "process_creation",
    "service.install": None,
    "account.create": "iam",
    "account.delete": "iam",
    "account.modify": "iam",
    "audit.clear": "audit_config",
    "host.syscall": None,
    "auditd.record": None,
    "winevent.event": None,
}


def category_of(action: str) -> str | None:
    """The Sigma logsource category of a normalized action (None when it has none)."""
    return CATEGORIES[action]
