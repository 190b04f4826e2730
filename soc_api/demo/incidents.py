"""The incidents injected into the demo logs, each with what a detector should find.

Every record that carries an incident is tagged with its id; the generator turns the tags into
`ground_truth.json` (file, line numbers, native record ids). Each incident takes its own actor,
so no two incidents share a user and a finding cannot be credited to the wrong one.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from soc_api.demo.activity import Sequences, access, api, mysql, mysql_session, pg_session, ssh_session
from soc_api.demo.records import MYSQL, PGAUDIT, Draft
from soc_api.demo.world import DISTRICTS, HOSTS, User, World, district_ip

STUFFING_IP: Final = "203.0.113.77"  # 广州市 in the catalog's IP plan
TRAVEL_IP: Final = "198.51.100.23"  # 上海市
FAKE_LOGINS: Final = (
    "admin",
    "test",
    "root",
    "guest",
    "zhangsan",
    "lisi",
    "wangwu",
    "user01",
    "operator",
    "system",
    "sjgx",
    "dsj_admin",
    "test01",
    "admin123",
    "manager",
)
# Takes an actor from the candidates that no other incident has taken.
Pick = Callable[[list[User]], User]
# How long auditing stays off after the administrator switches it off.
AUDIT_GAP: Final = timedelta(minutes=45)


@dataclass(frozen=True)
class Incident:
    """What was injected: kind, bilingual description, actor, dataset and the actor's address."""

    id: str
    kind: str
    zh: str
    en: str
    actor: str
    dataset: str | None = None
    source_ip: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ground-truth fields known before rendering (window and evidence come later)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "description": {"zh": self.zh, "en": self.en},
            "actor": self.actor,
            "dataset": self.dataset,
            "source_ip": self.source_ip,
        }


@dataclass(frozen=True)
class Gap:
    """A stretch of time in which a file has no records (its audit logging was off)."""

    file: str
    start: datetime
    end: datetime


@dataclass
class Injection:
    """What `inject` returns: the incidents, their records and the audit gaps they cause."""

    incidents: list[Incident] = dataclasses.field(default_factory=list)
    drafts: list[Draft] = dataclasses.field(default_factory=list)
    gaps: list[Gap] = dataclasses.field(default_factory=list)
    # Dataset ids and table names deleted by an incident, and when: normal records naming them
    # afterwards are dropped.
    deleted: dict[str, datetime] = dataclasses.field(default_factory=dict)

    def add(self, incident: Incident, drafts: list[Draft]) -> None:
        """Record an incident and its records."""
        self.incidents.append(incident)
        self.drafts += drafts


def _tag(drafts: list[Draft], incident: str) -> list[Draft]:
    return [dataclasses.replace(d, incident=incident) for d in drafts]


def inject(rng: random.Random, world: World, seq: Sequences, days: list[datetime]) -> Injection:
    """Inject the eight incidents over `days` (local midnights); a one-day run gets them all on day 0."""
    first, second = days[0], days[min(1, len(days) - 1)]
    users = world.by_role("data_user")
    rng.shuffle(users)
    taken: set[str] = set()

    def pick(candidates: list[User]) -> User:
        chosen = next(u for u in candidates if u.username not in taken)
        taken.add(chosen.username)
        return chosen

    out = Injection()
    _night_export(rng, world, seq, out, second + timedelta(hours=2, minutes=7), users, pick)
    _unapproved(world, seq, out, first + timedelta(hours=10, minutes=32), users, pick)
    _audit_off(world, seq, out, second + timedelta(hours=22, minutes=47))
    _stuffing(rng, world, seq, out, first + timedelta(hours=20, minutes=5), users, pick)
    _provider_delete(rng, world, seq, out, second + timedelta(hours=16, minutes=40))
    _outside_region(rng, world, seq, out, second + timedelta(hours=11, minutes=15), users, pick)
    _self_grant(rng, world, seq, out, first + timedelta(hours=23, minutes=12))
    _two_cities(world, seq, out, second + timedelta(hours=14, minutes=2), users, pick)
    return out


def _night_export(
    rng: random.Random,
    world: World,
    seq: Sequences,
    out: Injection,
    at: datetime,
    users: list[User],
    pick: Pick,
) -> None:
    core = {d.id for d in world.catalog.datasets if d.classification == "core"}
    holders = [u for u in users if any(g.dataset in core for g in world.grants_of(u.username, at))]
    user = pick(holders or users)
    grant = next((g for g in world.grants_of(user.username, at) if g.dataset in core), None)
    dataset = grant.dataset if grant else sorted(core)[0]
    drafts = [api(seq, at, None, user.ip, "POST", "/api/v1/auth/login", 200, login=user.username)]
    for page in range(12):
        at += timedelta(seconds=rng.randint(90, 180))
        records = 50000 if page < 11 else 23871
        drafts.append(
            access(
                seq,
                at,
                user,
                user.ip,
                dataset,
                download=True,
                records=records,
                approval=grant.id if grant else None,
            )
        )
    out.add(
        Incident(
            "INC-01",
            "night_core_export",
            f"{user.display_name}在凌晨批量导出核心数据（{len(drafts) - 1}次下载，共573871条记录）",
            f"{user.username} bulk-exported core data at night "
            "(11 downloads of 50,000 records and one of 23,871)",
            user.username,
            dataset,
            user.ip,
        ),
        _tag(drafts, "INC-01"),
    )


def _unapproved(
    world: World, seq: Sequences, out: Injection, at: datetime, users: list[User], pick: Pick
) -> None:
    important = [d.id for d in world.catalog.datasets if d.classification == "important"]
    granted = {(a.user, a.dataset) for a in world.approvals}
    user = pick([u for u in users if not any((u.username, d) in granted for d in important)] or users)
    dataset = next(d for d in important if (user.username, d) not in granted)
    drafts = [
        api(
            seq,
            at - timedelta(seconds=40),
            None,
            user.ip,
            "POST",
            "/api/v1/auth/login",
            200,
            login=user.username,
        )
    ]
    for minute in range(4):
        drafts.append(access(seq, at + timedelta(minutes=minute * 3), user, user.ip, dataset, records=500))
    out.add(
        Incident(
            "INC-02",
            "access_without_approval",
            f"{user.display_name}在未获审批的情况下查询重要数据",
            f"{user.username} queried important data without an approval",
            user.username,
            dataset,
            user.ip,
        ),
        _tag(drafts[1:], "INC-02"),
    )
    out.drafts.append(drafts[0])


def _audit_off(world: World, seq: Sequences, out: Injection, at: datetime) -> None:
    admin = world.by_role("sysadmin")[-1]
    host = ssh_session(
        seq, at, admin, "db-mysql-01", ["/usr/sbin/auditctl -e 0", "/usr/sbin/service auditd stop"]
    )
    host = [dataclasses.replace(d, incident="INC-03") if "COMMAND=" in d.data["message"] else d for d in host]
    off = at + timedelta(minutes=12)
    db = mysql_session(seq, off - timedelta(seconds=20), admin.username, admin.ip, "", [])
    sql = mysql(
        off,
        admin.username,
        admin.ip,
        db[0].data["connection_id"],
        "SET GLOBAL audit_log_policy = 'NONE'",
        "set_option",
        incident="INC-03",
    )
    pg_off = off + timedelta(minutes=3)
    session = pg_session(seq, pg_off - timedelta(seconds=30), admin.username, admin.ip, "postgres")
    postmaster = dataclasses.replace(
        session, user="", db="", ip="", port=0, pid=1187, start=pg_off - timedelta(days=20), backend=0
    )
    pg = [
        session.audit(
            pg_off, "MISC", "ALTER SYSTEM", "ALTER SYSTEM SET pgaudit.log = 'none'", incident="INC-03"
        ),
        session.audit(
            pg_off + timedelta(seconds=4), "FUNCTION", "SELECT", "SELECT pg_reload_conf()", incident="INC-03"
        ),
        postmaster.record(
            pg_off + timedelta(seconds=5),
            "INC-03",
            message="received SIGHUP, reloading configuration files",
            command_tag="",
        ),
        postmaster.record(
            pg_off + timedelta(seconds=5, milliseconds=2),
            "INC-03",
            message='parameter "pgaudit.log" changed to "none"',
            command_tag="",
        ),
        postmaster.record(
            pg_off + AUDIT_GAP,
            None,
            message='parameter "pgaudit.log" changed to "read, write, role, ddl, misc"',
            command_tag="",
        ),
    ]
    out.gaps += [
        Gap(MYSQL, off + timedelta(seconds=1), off + AUDIT_GAP),
        Gap(PGAUDIT, pg_off + timedelta(seconds=6), pg_off + AUDIT_GAP),
    ]
    out.add(
        Incident(
            "INC-03",
            "audit_disabled",
            f"系统管理员{admin.display_name}关闭了主机审计（auditd）和数据库审计（MySQL audit_log、pgaudit）",
            f"administrator {admin.username} switched off host auditing (auditd) and database auditing "
            "(MySQL audit_log, pgaudit)",
            admin.username,
            None,
            admin.ip,
        ),
        [*host, db[0], sql, *pg],
    )


def _stuffing(
    rng: random.Random,
    world: World,
    seq: Sequences,
    out: Injection,
    at: datetime,
    users: list[User],
    pick: Pick,
) -> None:
    victim = pick(users)
    real = [u.username for u in users if u.username != victim.username][:30]
    names = real + list(FAKE_LOGINS)
    rng.shuffle(names)
    drafts: list[Draft] = []
    for name in [n for n in names for _ in range(2)]:
        at += timedelta(seconds=rng.randint(4, 15))
        drafts.append(api(seq, at, None, STUFFING_IP, "POST", "/api/v1/auth/login", 401, login=name))
    at += timedelta(seconds=rng.randint(4, 15))
    drafts.append(api(seq, at, None, STUFFING_IP, "POST", "/api/v1/auth/login", 200, login=victim.username))
    general = [d.id for d in world.catalog.datasets if d.classification == "general"]
    for index in range(3):
        at += timedelta(seconds=rng.randint(20, 60))
        drafts.append(
            access(
                seq,
                at,
                victim,
                STUFFING_IP,
                general[index],
                download=index == 2,
                records=5000 if index == 2 else 500,
            )
        )
    out.add(
        Incident(
            "INC-04",
            "credential_stuffing",
            f"来自{STUFFING_IP}的撞库攻击：{len(set(names))}个用户名共{len(names) * 2}次登录失败，"
            f"最终以{victim.display_name}的账号登录成功",
            f"credential stuffing from {STUFFING_IP}: {len(names) * 2} failed logins "
            f"over {len(set(names))} usernames, "
            f"then a successful login as {victim.username}",
            victim.username,
            None,
            STUFFING_IP,
        ),
        _tag(drafts, "INC-04"),
    )


def _provider_delete(rng: random.Random, world: World, seq: Sequences, out: Injection, at: datetime) -> None:
    mysql_important = [
        d
        for d in world.catalog.datasets
        if d.table and d.table.engine == "mysql" and d.classification == "important"
    ]
    target = mysql_important[-1]
    assert target.table is not None
    out.deleted[target.id] = at
    out.deleted[target.table.name] = at
    staff = [u for u in world.by_role("provider") if u.department == target.owner]
    user = staff[rng.randrange(len(staff))]
    drafts = [api(seq, at, user, user.ip, "DELETE", f"/api/v1/provider/datasets/{target.id}")]
    drop = mysql(
        at + timedelta(seconds=3),
        "svc_portal",
        HOSTS["portal-01"],
        seq.connection_id(),
        f"DROP TABLE `{target.table.database}`.`{target.table.name}`",
        "drop_table",
        db=target.table.database,
    )
    out.add(
        Incident(
            "INC-05",
            "dataset_deleted",
            f"数据提供方{user.display_name}删除了共享数据集“{target.name}”",
            f"provider {user.username} deleted the shared dataset {target.id}",
            user.username,
            target.id,
            user.ip,
        ),
        _tag([*drafts, drop], "INC-05"),
    )


def _outside_region(
    rng: random.Random,
    world: World,
    seq: Sequences,
    out: Injection,
    at: datetime,
    users: list[User],
    pick: Pick,
) -> None:
    important = {d.id for d in world.catalog.datasets if d.classification == "important"}
    holders = [
        u
        for u in users
        if u.district != "shiben" and any(g.dataset in important for g in world.grants_of(u.username, at))
    ]
    user = pick(holders)
    grant = next(g for g in world.grants_of(user.username, at) if g.dataset in important)
    elsewhere = [d_id for d_id, _, _ in DISTRICTS if d_id not in ("shiben", user.district)]
    ip = district_ip(rng, rng.choice(elsewhere))
    drafts = [
        api(seq, at - timedelta(seconds=30), None, ip, "POST", "/api/v1/auth/login", 200, login=user.username)
    ]
    for minute in range(3):
        drafts.append(
            access(
                seq,
                at + timedelta(minutes=minute * 4),
                user,
                ip,
                grant.dataset,
                records=200,
                approval=grant.id,
            )
        )
    out.add(
        Incident(
            "INC-06",
            "access_outside_approved_region",
            f"{user.display_name}的审批{grant.id}仅限{grant.allowed_region}使用，却从其他区的地址访问",
            f"{user.username} used approval {grant.id}, limited to {grant.allowed_region}, "
            "from another district",
            user.username,
            grant.dataset,
            ip,
        ),
        _tag(drafts, "INC-06"),
    )


def _self_grant(rng: random.Random, world: World, seq: Sequences, out: Injection, at: datetime) -> None:
    dba = world.by_role("dba")[-1]
    target = next(
        d
        for d in world.catalog.datasets
        if d.table and d.table.engine == "postgresql" and d.classification == "core"
    )
    assert target.table is not None
    session = pg_session(seq, at, dba.username, dba.ip, target.table.database)
    table = f"public.{target.table.name}"
    drafts = [
        session.audit(
            at + timedelta(seconds=25),
            "ROLE",
            "GRANT",
            f"GRANT SELECT, UPDATE ON TABLE {table} TO {dba.username}",
            table,
        ),
        session.audit(
            at + timedelta(seconds=rng.randint(60, 120)),
            "READ",
            "SELECT",
            f"SELECT * FROM {table} LIMIT 100000",  # noqa: S608 (log text for the demo, never executed)
            table,
        ),
    ]
    out.add(
        Incident(
            "INC-07",
            "privilege_self_grant",
            f"数据库管理员{dba.display_name}给自己授予了核心数据表{table}的权限",
            f"DBA {dba.username} granted themself privileges on the core table {table}",
            dba.username,
            target.id,
            dba.ip,
        ),
        _tag(drafts, "INC-07"),
    )


def _two_cities(
    world: World, seq: Sequences, out: Injection, at: datetime, users: list[User], pick: Pick
) -> None:
    user = pick(users)
    general = [d.id for d in world.catalog.datasets if d.classification == "general"]
    later = at + timedelta(minutes=7)
    drafts = [
        api(seq, at, None, user.ip, "POST", "/api/v1/auth/login", 200, login=user.username),
        access(seq, at + timedelta(seconds=40), user, user.ip, general[3], records=100),
        api(seq, later, None, TRAVEL_IP, "POST", "/api/v1/auth/login", 200, login=user.username),
        access(seq, later + timedelta(seconds=35), user, TRAVEL_IP, general[4], records=100),
    ]
    out.add(
        Incident(
            "INC-08",
            "impossible_travel",
            f"{user.display_name}的账号7分钟内先后从明州市和上海市登录",
            f"account {user.username} logged in from Mingzhou and from Shanghai within 7 minutes",
            user.username,
            None,
            TRAVEL_IP,
        ),
        _tag(drafts, "INC-08"),
    )
