"""A day of normal work on the demo platform (see `activity` for the habits it follows)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import quote

from collectors.catalog import Dataset
from soc_api.demo.activity import (
    PgSession,
    Sequences,
    access,
    api,
    mysql,
    mysql_session,
    office_time,
    pg_session,
    ssh_session,
    syslog,
)
from soc_api.demo.plan import open_fields
from soc_api.demo.records import Draft
from soc_api.demo.world import HOSTS, World, district_ip

# Volumes per working day at scale 1.0 (weekends get WEEKEND_FACTOR of them).
ACCESSES: Final = 550
OPEN_DATA: Final = 40
PROVIDER_OPS: Final = 15
PORTAL_MYSQL: Final = 200
PORTAL_PG: Final = 150
DBA_SESSIONS: Final = 3
ADMIN_SESSIONS: Final = 8
ADMIN_COMMANDS: Final = (
    "/usr/bin/systemctl status mysqld",
    "/usr/bin/tail -n 200 /var/log/mysqld.log",
    "/usr/bin/df -h",
    "/usr/bin/systemctl restart apisix",
    "/usr/bin/journalctl -u postgresql-16 --since today",
    "/usr/bin/yum check-update",
    "/usr/bin/free -m",
)
AUDITOR_COMMANDS: Final = ("/usr/sbin/ausearch -m USER_LOGIN -ts today", "/usr/sbin/aureport --summary")


def _count(rng: random.Random, mean: float) -> int:
    """A volume around `mean` (±20 %), never negative."""
    return max(0, round(mean * rng.uniform(0.8, 1.2)))


def day_of_work(rng: random.Random, world: World, seq: Sequences, day: datetime, scale: float) -> list[Draft]:
    """Normal records of one local day (`day` is local midnight)."""
    factor = 0.1 if day.weekday() >= 5 else 1.0
    out: list[Draft] = []
    out += _data_users(rng, world, seq, day, _count(rng, ACCESSES * scale * factor))
    out += _open_data(rng, world, seq, day, _count(rng, OPEN_DATA * scale))
    out += _providers(rng, world, seq, day, _count(rng, PROVIDER_OPS * scale * factor))
    out += _portal_databases(rng, world, seq, day, scale * factor)
    out += _dbas(rng, world, seq, day, max(1, _count(rng, DBA_SESSIONS * scale * factor)))
    out += _admins(rng, world, seq, day, max(1, _count(rng, ADMIN_SESSIONS * scale * factor)))
    out += _cron(rng, seq, day)
    return out


def _general(world: World) -> list[Dataset]:
    return [d for d in world.catalog.datasets if d.classification == "general"]


def _data_users(rng: random.Random, world: World, seq: Sequences, day: datetime, count: int) -> list[Draft]:
    users = world.by_role("data_user")
    active = rng.sample(users, min(len(users), max(1, count // 5)))
    general = _general(world)
    times: dict[str, list[datetime]] = {}
    for _ in range(count):
        times.setdefault(rng.choice(active).username, []).append(office_time(rng, day))
    out: list[Draft] = []
    for username, moments in sorted(times.items()):
        user = world.user(username)
        moments.sort()
        login = moments[0] - timedelta(seconds=rng.randint(5, 90))
        if rng.random() < 0.05:  # a mistyped password first
            out.append(
                api(
                    seq,
                    login - timedelta(seconds=20),
                    None,
                    user.ip,
                    "POST",
                    "/api/v1/auth/login",
                    401,
                    login=username,
                )
            )
        out.append(api(seq, login, None, user.ip, "POST", "/api/v1/auth/login", 200, login=username))
        for at in moments:
            ip = user.ip if rng.random() < 0.9 else district_ip(rng, user.district)
            hour = at.hour
            grants = world.grants_of(username, at) if 8 <= hour < 19 else []
            roll = rng.random()
            if roll < 0.05:
                uri = "/api/v1/datasets?keyword=" + quote(
                    rng.choice(("人口", "企业", "社保", "交通", "学校"))
                )
                out.append(api(seq, at, user, ip, "GET", uri))
            elif rng.random() < 0.02:
                out.append(
                    api(seq, at, user, ip, "GET", f"/api/v1/datasets/{rng.choice(general).id}/records", 502)
                )
            elif grants and roll < 0.4:
                grant = rng.choice(grants)
                download = rng.random() < 0.08
                records = rng.randint(200, 3000) if download else None
                out.append(
                    access(
                        seq,
                        at,
                        user,
                        ip,
                        grant.dataset,
                        download=download,
                        records=records,
                        approval=grant.id,
                        fields=grant.fields,
                    )
                )
            else:
                dataset = rng.choice(general).id
                download = rng.random() < 0.1
                out.append(access(seq, at, user, ip, dataset, download=download, fields=open_fields(dataset)))
        if rng.random() < 0.6:
            out.append(
                api(
                    seq,
                    moments[-1] + timedelta(minutes=rng.randint(1, 30)),
                    user,
                    user.ip,
                    "POST",
                    "/api/v1/auth/logout",
                )
            )
    return out


def _open_data(rng: random.Random, world: World, seq: Sequences, day: datetime, count: int) -> list[Draft]:
    general = _general(world)
    out: list[Draft] = []
    for _ in range(count):
        # Carrier-grade NAT space: in no city of the IP plan, like most home broadband.
        ip = f"100.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        records = rng.choice((20, 50, 100))
        uri = f"/open/v1/datasets/{rng.choice(general).id}/records?page={rng.randint(1, 50)}"
        out.append(
            api(
                seq,
                office_time(rng, day, quiet=True),
                None,
                ip,
                "GET",
                uri,
                records=records,
                size=records * 210,
            )
        )
    return out


def _providers(rng: random.Random, world: World, seq: Sequences, day: datetime, count: int) -> list[Draft]:
    staff = world.by_role("provider")
    consumers = [
        d.id for d in world.catalog.departments if d.id.startswith("zwfw-") or d.id in ("fgw", "yjj", "sjj")
    ]
    out: list[Draft] = []
    for _ in range(count):
        user = rng.choice(staff)
        own = [d for d in world.catalog.datasets if d.owner == user.department]
        dataset = rng.choice(own).id
        at = office_time(rng, day)
        roll = rng.random()
        if roll < 0.6:
            records = rng.randint(1000, 80000)
            uri = f"/api/v1/provider/datasets/{dataset}/versions"
            out.append(
                api(seq, at, user, user.ip, "POST", uri, 201, records=records, size=rng.randint(300, 900))
            )
        elif roll < 0.9:
            out.append(api(seq, at, user, user.ip, "PUT", f"/api/v1/provider/datasets/{dataset}"))
        else:
            uri = f"/api/v1/provider/datasets/{dataset}/shares?to={rng.choice(consumers)}"
            out.append(api(seq, at, user, user.ip, "POST", uri, 201))
    return out


def _portal_databases(
    rng: random.Random, world: World, seq: Sequences, day: datetime, volume: float
) -> list[Draft]:
    """The portal's service account reads both databases through a connection pool opened at 06:00."""
    portal = HOSTS["portal-01"]
    out: list[Draft] = []
    mysql_sets = [d for d in world.catalog.datasets if d.table and d.table.engine == "mysql"]
    pool = [seq.connection_id() for _ in range(4)]
    opened = day + timedelta(hours=6, seconds=rng.randint(0, 59))
    for conn in pool:
        out.append(
            Draft(
                opened,
                "mysql_audit.jsonl",
                {"name": "Connect", "user": "svc_portal", "ip": portal, "connection_id": conn, "db": ""},
            )
        )
    for _ in range(_count(rng, PORTAL_MYSQL * volume)):
        ds = rng.choice(mysql_sets)
        assert ds.table is not None
        sql = _portal_query(rng, ds.table.name)
        at = max(office_time(rng, day), opened + timedelta(seconds=5))
        out.append(mysql(at, "svc_portal", portal, rng.choice(pool), sql, "select", db=ds.table.database))
    pg_sets = [d for d in world.catalog.datasets if d.table and d.table.engine == "postgresql"]
    sessions: dict[str, PgSession] = {}
    for _ in range(_count(rng, PORTAL_PG * volume)):
        ds = rng.choice(pg_sets)
        assert ds.table is not None
        db = ds.table.database
        if db not in sessions:
            sessions[db] = pg_session(
                seq, opened, "svc_portal", portal, db, application="PostgreSQL JDBC Driver"
            )
        at = max(office_time(rng, day), opened + timedelta(seconds=5))
        statement = _portal_query(rng, ds.table.name)
        out.append(sessions[db].audit(at, "READ", "SELECT", statement, f"public.{ds.table.name}"))
    return out


# The SQL below is text written into demo audit logs, never executed (hence the S608 waivers).
def _portal_query(rng: random.Random, table: str) -> str:
    if rng.random() < 0.3:
        area = rng.choice(("东湖区", "西山区", "南港区", "北岸区", "高新区", "临江县"))
        return f"SELECT COUNT(*) FROM {table} WHERE qhmc = '{area}'"  # noqa: S608
    first, size = rng.randint(1, 900000), rng.choice((20, 50, 100, 500))
    return f"SELECT * FROM {table} WHERE id > {first} ORDER BY id LIMIT {size}"  # noqa: S608


def _dbas(rng: random.Random, world: World, seq: Sequences, day: datetime, count: int) -> list[Draft]:
    dbas = world.by_role("dba")
    out: list[Draft] = []
    for _ in range(count):
        user = rng.choice(dbas)
        ds = rng.choice([d for d in world.catalog.datasets if d.table is not None])
        assert ds.table is not None
        table, db = ds.table.name, ds.table.database
        at = day + timedelta(hours=rng.choice((9, 10, 14, 15, 16)), seconds=rng.randint(0, 3599))
        if ds.table.engine == "mysql":
            out += mysql_session(
                seq,
                at,
                user.username,
                user.ip,
                db,
                [
                    ("SHOW PROCESSLIST", "show_processlist"),
                    (f"SELECT COUNT(*) FROM {table}", "select"),  # noqa: S608
                    (f"UPDATE {table} SET gxsj = NOW() WHERE id = {rng.randint(1, 900000)}", "update"),  # noqa: S608
                    (f"DELETE FROM {table}_tmp WHERE drsj < DATE_SUB(NOW(), INTERVAL 30 DAY)", "delete"),  # noqa: S608
                ],
            )
            continue
        session = pg_session(seq, at, user.username, user.ip, db)
        out.append(
            session.record(
                at,
                message=f"connection authorized: user={user.username} database={db} application_name=psql",
                command_tag="authentication",
            )
        )
        at += timedelta(seconds=rng.randint(5, 60))
        out.append(
            session.audit(
                at,
                "READ",
                "SELECT",
                f"SELECT qhmc, COUNT(*)\n  FROM {table}\n GROUP BY qhmc",  # noqa: S608
                f"public.{table}",
            )
        )
        at += timedelta(seconds=rng.randint(5, 120))
        out.append(session.audit(at, "MISC", "VACUUM", f"VACUUM ANALYZE {table}"))
        at += timedelta(seconds=rng.randint(30, 600))
        spent = f"0:{rng.randint(1, 15):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}"
        where = f"user={user.username} database={db} host={user.ip} port={session.port}"
        out.append(
            session.record(at, message=f"disconnection: session time: {spent} {where}", command_tag="idle")
        )
    if day.weekday() < 5:
        out += _routine_grants(rng, world, seq, day)
    return out


def _routine_grants(rng: random.Random, world: World, seq: Sequences, day: datetime) -> list[Draft]:
    """The security administrator grants the report service read access to a general dataset."""
    admin = world.by_role("secadmin")[0]
    general = [d for d in _general(world) if d.table is not None]
    out: list[Draft] = []
    for engine in ("mysql", "postgresql"):
        ds = rng.choice([d for d in general if d.table and d.table.engine == engine])
        assert ds.table is not None
        at = day + timedelta(hours=10, seconds=rng.randint(0, 3599), milliseconds=rng.randint(0, 999))
        if engine == "mysql":
            sql = f"GRANT SELECT ON {ds.table.qualified} TO 'svc_report'@'10.10.1.%'"
            out += mysql_session(seq, at, admin.username, admin.ip, ds.table.database, [(sql, "grant")])
        else:
            session = pg_session(seq, at, admin.username, admin.ip, ds.table.database)
            sql = f"GRANT SELECT ON TABLE public.{ds.table.name} TO svc_report"
            out.append(
                session.audit(at + timedelta(seconds=30), "ROLE", "GRANT", sql, f"public.{ds.table.name}")
            )
    return out


def _admins(rng: random.Random, world: World, seq: Sequences, day: datetime, count: int) -> list[Draft]:
    operators = world.by_role("sysadmin") + world.by_role("dba")
    auditors = world.by_role("auditadmin")
    out: list[Draft] = []
    for index in range(count):
        auditor = index % 4 == 3
        user = rng.choice(auditors if auditor else operators)
        host = rng.choice(sorted(HOSTS))
        at = day + timedelta(hours=rng.choice((9, 10, 11, 14, 15, 16, 17)), seconds=rng.randint(0, 3599))
        pool = AUDITOR_COMMANDS if auditor else ADMIN_COMMANDS
        out += ssh_session(seq, at, user, host, rng.sample(pool, rng.randint(1, 2)))
    user = rng.choice(operators)
    at = day + timedelta(hours=9, minutes=rng.randint(0, 50))
    message = f"Failed password for {user.username} from {user.ip} port {seq.port()} ssh2"
    out.append(syslog(at, "bastion-01", "sshd", seq.pid(), message))
    return out


def _cron(rng: random.Random, seq: Sequences, day: datetime) -> list[Draft]:
    out: list[Draft] = []
    for host in ("db-mysql-01", "db-pg-01"):
        for hour in range(24):
            at = day + timedelta(hours=hour, minutes=1, seconds=rng.randint(0, 5))
            pid = seq.pid()
            out.append(
                syslog(
                    at,
                    host,
                    "CROND",
                    pid,
                    "pam_unix(crond:session): session opened for user root(uid=0) by (uid=0)",
                )
            )
            out.append(
                syslog(
                    at + timedelta(seconds=rng.randint(1, 20)),
                    host,
                    "CROND",
                    pid,
                    "pam_unix(crond:session): session closed for user root",
                )
            )
    return out
