"""Normal behaviour of the demo platform, and the record builders the incidents reuse.

Working days follow office hours in Asia/Shanghai (9:00-18:00 with the lunch dip at 12:00-13:30);
nights and weekends are quiet. Data users query the general datasets freely and the important and
core ones only under an approval in force, from their own district; providers publish and
update their datasets; the portal's service account reads the databases; DBAs open short
sessions; administrators log in over ssh and use sudo; cron opens root sessions. Nothing here is
an incident: the generator's tests check that every finding comes from `incidents.py`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from soc_api.demo.records import APIGW, MYSQL, PGAUDIT, SYSLOG, Draft
from soc_api.demo.world import HOSTS, User

# Relative activity per local hour on a working day (index = hour).
WEEKDAY_HOURS: Final = (
    0.1,
    0.05,
    0.05,
    0.05,
    0.05,
    0.1,
    0.3,
    1.0,
    4.0,
    9.0,
    10.0,
    8.0,
    3.0,
    4.0,
    9.0,
    10.0,
    8.0,
    5.0,
    1.5,
    0.8,
    0.5,
    0.4,
    0.3,
    0.2,
)
WEEKEND_FACTOR: Final = 0.1
USER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; UOS) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/104.0 Safari/537.36",
    "python-requests/2.31.0",
    "Apache-HttpClient/4.5.14 (Java/1.8.0_392)",
)
SEARCH_TERMS: Final = ("东湖街道", "营业执照", "低保", "社保缴费", "学籍", "公交", "医保定点")


@dataclass
class Sequences:
    """Counters that real servers hand out: MySQL connection ids, PostgreSQL pids, client ports."""

    rng: random.Random
    connection: int = 4100
    uids: dict[str, int] = field(default_factory=dict)

    def connection_id(self) -> int:
        """Next MySQL connection id."""
        self.connection += self.rng.randint(1, 9)
        return self.connection

    def pid(self) -> int:
        """A process id."""
        return self.rng.randint(2000, 65000)

    def port(self) -> int:
        """An ephemeral client port."""
        return self.rng.randint(40000, 65000)

    def uid(self, username: str) -> int:
        """A stable Unix uid per login."""
        return self.uids.setdefault(username, 1001 + len(self.uids))

    def request_id(self) -> str:
        """An APISIX-style request id (32 hex digits)."""
        return f"{self.rng.getrandbits(128):032x}"


def office_time(rng: random.Random, day: datetime, *, quiet: bool = False) -> datetime:
    """A moment of `day` (local midnight) drawn from the working-day profile, or flat when quiet."""
    hour = rng.choices(range(24), weights=[1.0] * 24 if quiet else WEEKDAY_HOURS)[0]
    return day + timedelta(hours=hour, seconds=rng.randint(0, 3599), milliseconds=rng.randint(0, 999))


def api(
    seq: Sequences,
    at: datetime,
    user: User | None,
    ip: str,
    method: str,
    uri: str,
    status: int = 200,
    *,
    records: int | None = None,
    size: int | None = None,
    approval: str | None = None,
    login: str | None = None,
    incident: str | None = None,
    fields: tuple[str, ...] = (),
) -> Draft:
    """An API-gateway access-log record (`fields`: the dataset fields the response returned)."""
    rng = seq.rng
    group = None if user is None else ("provider" if "provider" in user.roles else "data_user")
    route = uri.split("?")[0].strip("/").split("/")
    data: dict[str, Any] = {
        "request_id": seq.request_id(),
        "client_ip": ip,
        "consumer": user.username if user is not None and login is None else None,
        "consumer_group": group if login is None else None,
        "method": method,
        "uri": uri,
        "route_id": "-".join(p for p in route[2:] if not p.startswith("ds-"))[:40] or "root",
        "status": status,
        "bytes": size if size is not None else rng.randint(180, 2400),
        "latency": round(rng.uniform(4, 180) + (records or 0) / 400, 1),
        "upstream_addr": f"{HOSTS['portal-01']}:8080",
        "upstream_records": None if records is None else str(records),
        "upstream_user": login,
        "upstream_fields": ",".join(fields) or None,
        "approval_id": approval,
        "user_agent": rng.choice(USER_AGENTS),
    }
    # Sub-second jitter: a gateway clock never lands on whole seconds.
    return Draft(at + timedelta(milliseconds=rng.randint(0, 999)), APIGW, data, incident)


def access(
    seq: Sequences,
    at: datetime,
    user: User,
    ip: str,
    dataset: str,
    *,
    download: bool = False,
    records: int | None = None,
    approval: str | None = None,
    incident: str | None = None,
    fields: tuple[str, ...] = (),
) -> Draft:
    """A data user's query (one page) or download of a dataset (`fields`: what the response holds)."""
    rng = seq.rng
    if download:
        count = records if records is not None else rng.randint(500, 5000)
        uri = f"/api/v1/datasets/{dataset}/download?format=csv"
    else:
        count = records if records is not None else rng.choice((10, 20, 50, 100, 200, 500))
        page = rng.randint(1, 30)
        uri = f"/api/v1/datasets/{dataset}/records?page={page}&size={count}"
        if rng.random() < 0.15:
            uri += "&q=" + quote(rng.choice(SEARCH_TERMS))
    size = count * rng.randint(150, 260) + 400
    return api(
        seq,
        at,
        user,
        ip,
        "GET",
        uri,
        records=count,
        size=size,
        approval=approval,
        incident=incident,
        fields=fields,
    )


def mysql(
    at: datetime,
    user: str,
    ip: str,
    conn: int,
    sql: str,
    command_class: str,
    *,
    db: str = "",
    status: int = 0,
    incident: str | None = None,
) -> Draft:
    """A Percona audit `Query` record."""
    data = {
        "name": "Query",
        "user": user,
        "ip": ip,
        "connection_id": conn,
        "sql": sql,
        "command_class": command_class,
    }
    return Draft(at, MYSQL, {**data, "db": db, "status": status}, incident)


def mysql_session(
    seq: Sequences,
    at: datetime,
    user: str,
    ip: str,
    db: str,
    statements: list[tuple[str, str]],
    *,
    incident: str | None = None,
) -> list[Draft]:
    """Connect, the statements a few seconds to minutes apart, Quit."""
    conn = seq.connection_id()
    base = {"user": user, "ip": ip, "connection_id": conn, "db": db}
    out = [Draft(at, MYSQL, {"name": "Connect", **base}, incident)]
    for sql, command_class in statements:
        at += timedelta(seconds=seq.rng.randint(3, 240), milliseconds=seq.rng.randint(0, 999))
        out.append(mysql(at, user, ip, conn, sql, command_class, db=db, incident=incident))
    at += timedelta(seconds=seq.rng.randint(2, 60))
    out.append(Draft(at, MYSQL, {"name": "Quit", **base}, incident))
    return out


@dataclass(frozen=True)
class PgSession:
    """A PostgreSQL backend: the csvlog columns that stay the same for the whole session."""

    user: str
    db: str
    ip: str
    port: int
    pid: int
    start: datetime
    backend: int
    application: str = "psql"

    @property
    def session_id(self) -> str:
        """csvlog session_id: hex start time (epoch seconds) and hex pid."""
        return f"{int(self.start.timestamp()):x}.{self.pid:x}"

    def record(self, at: datetime, incident: str | None = None, **fields: Any) -> Draft:
        """One csvlog record of this session."""
        base = {
            "user": self.user,
            "db": self.db,
            "ip": self.ip,
            "port": self.port,
            "pid": self.pid,
            "session_id": self.session_id,
            "session_start": self.start,
            "backend": self.backend,
            "application": self.application if self.user else "",
        }
        return Draft(at, PGAUDIT, {**base, **fields}, incident)

    def audit(
        self, at: datetime, klass: str, command: str, statement: str, obj: str = "", **kw: Any
    ) -> Draft:
        """A pgaudit SESSION record."""
        return self.record(
            at,
            kw.pop("incident", None),
            **{"class": klass, "command": command, "object_type": "TABLE" if obj else "", "object_name": obj},
            statement=statement,
            **kw,
        )


def pg_session(
    seq: Sequences, at: datetime, user: str, ip: str, db: str, *, application: str = "psql"
) -> PgSession:
    """A new PostgreSQL session starting at `at`."""
    return PgSession(user, db, ip, seq.port(), seq.pid(), at, seq.rng.randint(3, 40), application)


def syslog(
    at: datetime,
    host: str,
    program: str,
    pid: int | None,
    message: str,
    *,
    pri: int = 86,
    incident: str | None = None,
) -> Draft:
    """An auth/authpriv syslog line (authpriv.info = 86, authpriv.notice = 85)."""
    data = {"host": host, "program": program, "pid": pid, "pri": pri, "message": message}
    return Draft(at, SYSLOG, data, incident)


def ssh_session(
    seq: Sequences,
    at: datetime,
    user: User,
    host: str,
    commands: list[str],
    *,
    ip: str | None = None,
) -> list[Draft]:
    """An administrator's ssh login, sudo commands and logout, as sshd, sudo and PAM log them."""
    rng, uid, port, pid = seq.rng, seq.uid(user.username), seq.port(), seq.pid()
    source = ip or user.ip
    key = f"SHA256:{rng.getrandbits(192):048x}"
    out = [
        syslog(
            at,
            host,
            "sshd",
            pid,
            f"Accepted publickey for {user.username} from {source} port {port} ssh2: ED25519 {key}",
        ),
        syslog(
            at,
            host,
            "sshd",
            pid,
            f"pam_unix(sshd:session): session opened for user {user.username}(uid={uid}) by (uid=0)",
        ),
    ]
    for command in commands:
        at += timedelta(seconds=rng.randint(5, 300))
        tty = f"pts/{rng.randint(0, 3)}"
        line = f"{user.username} : TTY={tty} ; PWD=/home/{user.username} ; USER=root ; COMMAND={command}"
        out.append(syslog(at, host, "sudo", None, f"  {line}", pri=85))
        out.append(
            syslog(
                at,
                host,
                "sudo",
                None,
                f"pam_unix(sudo:session): session opened for user root(uid=0) by {user.username}(uid={uid})",
            )
        )
        out.append(
            syslog(
                at + timedelta(seconds=1),
                host,
                "sudo",
                None,
                "pam_unix(sudo:session): session closed for user root",
            )
        )
    at += timedelta(seconds=rng.randint(10, 600))
    out.append(syslog(at, host, "sshd", pid, f"Disconnected from user {user.username} {source} port {port}"))
    out.append(
        syslog(at, host, "sshd", pid, f"pam_unix(sshd:session): session closed for user {user.username}")
    )
    return out
