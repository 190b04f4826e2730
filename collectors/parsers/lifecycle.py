"""The one table that maps normalized actions to data-lifecycle stages.

Stages are those of the Data Security Law art. 3 (collect, store, use, process, transmit, provide,
disclose) plus deletion (PIPL art. 4). Every parser names its records with an action from
`ACTIONS`; the stage follows from this table alone, so the mapping is reviewed in one place.

Actions that touch no data (logins, sudo, privilege grants, audit configuration) have no stage:
they are access-control and administration events, audited as such (`datasoc.actor_role` says
who acted), and giving them a stage would make lifecycle reports count them as data handling.
"""

from __future__ import annotations

from typing import Final

from datasoc.event import Lifecycle

ACTIONS: Final[dict[str, Lifecycle | None]] = {
    # API gateway: data users (数据使用者)
    "dataset.query": "use",  # paged reads of records through the API
    "dataset.download": "transmit",  # a file of records leaves the platform to the user's endpoint
    "dataset.open": "disclose",  # open-data portal (公开), anonymous
    "catalog.browse": None,  # metadata only
    "http.request": None,  # a route the parser does not know
    # API gateway: providers (数据提供者)
    "dataset.publish": "collect",  # a provider pushes a new version into the platform
    "dataset.update": "store",  # metadata or records changed in place
    "dataset.share": "provide",  # a provider authorizes another department (共享)
    "dataset.delete": "delete",
    # portal authentication
    "auth.login": None,
    "auth.logout": None,
    # databases (MySQL audit log, pgaudit)
    "db.connect": None,
    "db.disconnect": None,
    "db.select": "use",
    "db.write": "store",  # INSERT, UPDATE, MERGE
    "db.import": "collect",  # LOAD DATA, COPY ... FROM
    "db.export": "transmit",  # SELECT ... INTO OUTFILE, COPY ... TO
    "db.delete": "delete",  # DELETE rows
    "db.drop": "delete",  # DROP TABLE, TRUNCATE
    "db.ddl": None,  # CREATE, ALTER: schema, not data
    "db.function": "process",  # stored procedures and functions transform data
    "db.other": None,
    "privilege.grant": None,
    "privilege.revoke": None,
    "audit.disable": None,
    "audit.enable": None,
    "audit.configure": None,
    # hosts (sshd, sudo, PAM)
    "ssh.login": None,
    "ssh.logout": None,
    "sudo.command": None,
    "session.open": None,
    "session.close": None,
    "syslog.message": None,
    # provider portal (数据提供者的发布与管理日志)
    "dataset.withdraw": None,  # taken off the catalog; the records stay (deletion is dataset.delete)
    "dataset.grade": None,  # classification changed (GB/T 43697-2024 grade): governance metadata
    "dataset.unshare": None,  # a department's authorization revoked: no data moves
    # hosts (Windows event log, Linux auditd)
    "process.start": None,
    "service.install": None,
    "account.create": None,
    "account.delete": None,
    "account.modify": None,
    "audit.clear": None,  # the audit trail itself was erased (Windows 1102/104)
    "host.syscall": None,  # an audited system call with no more specific action
    "auditd.record": None,  # an auditd record type this table does not name
    "winevent.event": None,  # a Windows event id this table does not name (EventID stays native)
}


def lifecycle_of(action: str) -> Lifecycle | None:
    """The lifecycle stage of a normalized action (None when it touches no data)."""
    return ACTIONS[action]
