"""Approval policies (事前管审批): pure, composable objects, `check(request, now) -> Decision`.

A policy looks at an access request and the approvals it has so far and says whether they suffice,
which approvals count, and what is still needed. Building blocks:

- `Quorum(n, roles, owner=False)`: `n` different people holding one of `roles` (members of an owning
  department when `owner`).
- `OwningDepartment(roles)`: for each department owning a requested asset, one of its members holding
  one of `roles`.
- `AllOf(...)`, `AnyOf(...)`: every part, or one of them.
- `ByGrade(general=..., important=..., core=...)`: the part for the highest grade requested (GB/T
  43697-2024; field-level grades included).
- `AutoApproval(max_sub_grade, max_records, export)`: general data only, satisfied without anyone's
  approval when the request stays within its bounds. A bypass, named for what it is.
- `SeparationOfDuties(inner)`: the root of every configured policy (the loader always adds it): the
  requester's own approvals never count, and each person counts once (a `Quorum` of two is two people,
  so one person cannot be both approvers of a core request).

Configuration (`policy_from_dict`, versioned by the store) is a JSON tree of these nodes, e.g. the
built-in `DEFAULT_POLICY`. Policy checks live in the services, never in HTTP handlers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Protocol

from soc_api.governance.errors import InvalidError

GRADES: Final = ("general", "important", "core")
APPROVER_ROLES: Final = frozenset({"approver", "data_owner", "security_admin"})


@dataclass(frozen=True, slots=True)
class Approver:
    """One person's approval as a policy sees it: who, with which roles and departments, when."""

    account_id: str
    username: str
    roles: frozenset[str]
    departments: frozenset[str]
    at: datetime


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """What a policy decides on: the request's grade, owners and bounds, and its approvals so far."""

    id: str
    requester_id: str
    grade: str
    owners: frozenset[str]
    record_cap: int | None
    export: bool
    sub_grade: int | None = None
    approvals: tuple[Approver, ...] = ()

    def with_approval(self, approver: Approver) -> PolicyRequest:
        """The request as it would be with one more approval."""
        return replace(self, approvals=(*self.approvals, approver))


@dataclass(frozen=True, slots=True)
class Decision:
    """`satisfied`, the accounts whose approvals `counted`, what it still `needs` (one line each,
    Chinese / English), and approvals `refused` with the reason."""

    satisfied: bool
    counted: frozenset[str] = frozenset()
    needs: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    automatic: str | None = None


class Policy(Protocol):
    """An approval policy (see module docstring)."""

    def check(self, request: PolicyRequest, now: datetime) -> Decision:
        """Whether `request`'s approvals satisfy this policy at `now`."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The configuration form (read back by `policy_from_dict`)."""
        ...


def _roles_text(roles: Iterable[str]) -> str:
    return "|".join(sorted(roles))


@dataclass(frozen=True)
class Quorum:
    """`n` different people holding one of `roles` (and in an owning department when `owner`)."""

    n: int
    roles: frozenset[str] = APPROVER_ROLES
    owner: bool = False

    def check(self, request: PolicyRequest, now: datetime) -> Decision:
        counted: list[str] = []
        for approval in request.approvals:
            if approval.account_id in counted or not approval.roles & self.roles:
                continue
            if self.owner and not approval.departments & request.owners:
                continue
            counted.append(approval.account_id)
            if len(counted) == self.n:
                return Decision(True, frozenset(counted))
        where = "所属部门" if self.owner else ""
        missing = self.n - len(counted)
        needs = (
            f"还需 {missing} 名{where}审批人 ({_roles_text(self.roles)}) / "
            f"{missing} more approval(s) by {_roles_text(self.roles)}"
            + (" of an owning department" if self.owner else ""),
        )
        return Decision(False, frozenset(counted), needs)

    def to_dict(self) -> dict[str, Any]:
        return {"quorum": {"n": self.n, "roles": sorted(self.roles), "owner": self.owner}}


@dataclass(frozen=True)
class OwningDepartment:
    """For each department owning a requested asset, one member of it holding one of `roles`."""

    roles: frozenset[str] = frozenset({"data_owner"})

    def check(self, request: PolicyRequest, now: datetime) -> Decision:
        counted: set[str] = set()
        needs: list[str] = []
        for department in sorted(request.owners):
            found = next(
                (
                    a
                    for a in request.approvals
                    if department in a.departments and a.roles & self.roles and a.account_id not in counted
                ),
                None,
            )
            if found is None:
                needs.append(
                    f"需要数据所属部门 {department} 的审批 ({_roles_text(self.roles)}) / "
                    f"an approval by {_roles_text(self.roles)} of owning department {department}"
                )
            else:
                counted.add(found.account_id)
        return Decision(not needs, frozenset(counted), tuple(needs))

    def to_dict(self) -> dict[str, Any]:
        return {"owning_department": {"roles": sorted(self.roles)}}


@dataclass(frozen=True)
class AllOf:
    """Every part."""

    parts: tuple[Policy, ...]

    def check(self, request: PolicyRequest, now: datetime) -> Decision:
        decisions = [p.check(request, now) for p in self.parts]
        counted = frozenset().union(*(d.counted for d in decisions))
        return Decision(
            all(d.satisfied for d in decisions),
            counted,
            tuple(n for d in decisions for n in d.needs),
            automatic=next((d.automatic for d in decisions if d.automatic), None),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"all_of": [p.to_dict() for p in self.parts]}


@dataclass(frozen=True)
class AnyOf:
    """One of the parts (the first satisfied one decides what counts)."""

    parts: tuple[Policy, ...]

    def check(self, request: PolicyRequest, now: datetime) -> Decision:
        decisions = [p.check(request, now) for p in self.parts]
        for decision in decisions:
            if decision.satisfied:
                return decision
        counted = frozenset().union(*(d.counted for d in decisions))
        options = " | ".join("; ".join(d.needs) for d in decisions if d.needs)
        return Decision(False, counted, (f"其一 / one of: {options}",) if options else ())

    def to_dict(self) -> dict[str, Any]:
        return {"any_of": [p.to_dict() for p in self.parts]}


@dataclass(frozen=True)
class AutoApproval:
    """General data within bounds needs nobody's approval (a bypass, named as one)."""

    max_sub_grade: int = 2
    max_records: int = 10_000
    export: bool = False

    def check(self, request: PolicyRequest, now: datetime) -> Decision:
        within = (
            request.grade == "general"
            and (request.sub_grade or 1) <= self.max_sub_grade
            and request.record_cap is not None
            and request.record_cap <= self.max_records
            and (self.export or not request.export)
        )
        if within:
            rule = f"auto_approval(max_sub_grade={self.max_sub_grade}, max_records={self.max_records})"
            return Decision(True, automatic=rule)
        return Decision(
            False,
            needs=(
                f"自动审批仅限一般数据 {self.max_sub_grade} 级以下、{self.max_records} 条以内"
                f"{'' if self.export else '且不导出'} / auto-approval covers general data up to sub-grade "
                f"{self.max_sub_grade}, at most {self.max_records} records"
                + ("" if self.export else ", no export"),
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "auto_approval": {
                "max_sub_grade": self.max_sub_grade,
                "max_records": self.max_records,
                "export": self.export,
            }
        }


@dataclass(frozen=True)
class ByGrade:
    """The part for the highest grade requested."""

    general: Policy
    important: Policy
    core: Policy

    def check(self, request: PolicyRequest, now: datetime) -> Decision:
        part = {"general": self.general, "important": self.important, "core": self.core}.get(request.grade)
        if part is None:
            return Decision(False, needs=(f"未知分级 {request.grade} / unknown grade {request.grade}",))
        return part.check(request, now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "by_grade": {
                "general": self.general.to_dict(),
                "important": self.important.to_dict(),
                "core": self.core.to_dict(),
            }
        }


@dataclass(frozen=True)
class SeparationOfDuties:
    """The requester's own approvals never count; each person counts once (the inner policy sees one
    approval per person, the first)."""

    inner: Policy

    def check(self, request: PolicyRequest, now: datetime) -> Decision:
        kept: list[Approver] = []
        refused: list[str] = []
        seen: set[str] = set()
        for approval in request.approvals:
            if approval.account_id == request.requester_id:
                refused.append(f"{approval.username}: 申请人不得审批自己的申请 / a requester never approves")
            elif approval.account_id in seen:
                refused.append(f"{approval.username}: 同一人只计一次 / one person counts once")
            else:
                seen.add(approval.account_id)
                kept.append(approval)
        decision = self.inner.check(replace(request, approvals=tuple(kept)), now)
        return replace(decision, refused=(*decision.refused, *refused))

    def to_dict(self) -> dict[str, Any]:
        return self.inner.to_dict()


def eligible(policy: Policy, request: PolicyRequest, candidate: Approver, now: datetime) -> bool:
    """Whether `candidate`'s approval would count toward `request` (the inbox and notifications)."""
    before = policy.check(request, now)
    if before.satisfied or candidate.account_id in before.counted:
        return False
    after = policy.check(request.with_approval(candidate), now)
    return candidate.account_id in after.counted


#: The built-in policy (version 0): general data by one approver or the auto-approval rule; important
#: data by the owning department; core data by two people, one of them a security administrator.
DEFAULT_POLICY: Final[Mapping[str, Any]] = {
    "by_grade": {
        "general": {
            "any_of": [
                {"auto_approval": {"max_sub_grade": 2, "max_records": 10000, "export": False}},
                {"quorum": {"n": 1, "roles": sorted(APPROVER_ROLES), "owner": False}},
            ]
        },
        "important": {"owning_department": {"roles": ["data_owner"]}},
        "core": {
            "all_of": [
                {"quorum": {"n": 2, "roles": sorted(APPROVER_ROLES), "owner": False}},
                {"quorum": {"n": 1, "roles": ["security_admin"], "owner": False}},
            ]
        },
    }
}
_MAX_DEPTH = 8


def _roles(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(isinstance(r, str) for r in value):
        raise InvalidError(f"{where}.roles: 需要角色列表 / expected a non-empty list of role names")
    unknown = sorted(set(value) - APPROVER_ROLES)
    if unknown:
        raise InvalidError(
            f"{where}.roles: {unknown} 不能审批 / cannot approve; allowed: {sorted(APPROVER_ROLES)}"
        )
    return frozenset(value)


def _int(data: Mapping[str, Any], key: str, where: str, low: int, high: int, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidError(f"{where}.{key}: 需要 {low}..{high} 的整数 / expected an integer {low}..{high}")
    return value


def _node(data: Any, where: str, depth: int) -> Policy:
    if depth > _MAX_DEPTH:
        raise InvalidError(f"{where}: 嵌套过深 / nested deeper than {_MAX_DEPTH}")
    if not isinstance(data, Mapping) or len(data) != 1:
        raise InvalidError(f"{where}: 需要单键对象 / expected an object with exactly one key")
    ((kind, body),) = data.items()
    here = f"{where}.{kind}"
    if kind in ("all_of", "any_of"):
        if not isinstance(body, list) or not body:
            raise InvalidError(f"{here}: 需要非空列表 / expected a non-empty list")
        parts = tuple(_node(p, f"{here}[{i}]", depth + 1) for i, p in enumerate(body))
        return AllOf(parts) if kind == "all_of" else AnyOf(parts)
    if not isinstance(body, Mapping):
        raise InvalidError(f"{here}: 需要对象 / expected an object")
    if kind == "quorum":
        owner = body.get("owner", False)
        if not isinstance(owner, bool):
            raise InvalidError(f"{here}.owner: 需要布尔值 / expected true or false")
        return Quorum(_int(body, "n", here, 1, 10, 1), _roles(body.get("roles"), here), owner)
    if kind == "owning_department":
        return OwningDepartment(_roles(body.get("roles", ["data_owner"]), here))
    if kind == "auto_approval":
        export = body.get("export", False)
        if not isinstance(export, bool):
            raise InvalidError(f"{here}.export: 需要布尔值 / expected true or false")
        return AutoApproval(
            _int(body, "max_sub_grade", here, 1, 4, 2),
            _int(body, "max_records", here, 0, 10**9, 10_000),
            export,
        )
    if kind == "by_grade":
        missing = [g for g in GRADES if g not in body]
        if missing or set(body) - set(GRADES):
            raise InvalidError(
                f"{here}: 需要且仅需要 {list(GRADES)} / expected exactly the keys {list(GRADES)}"
            )
        general, important, core = (_node(body[g], f"{here}.{g}", depth + 1) for g in GRADES)
        for grade, part in (("important", important), ("core", core)):
            if _has_auto(part):
                raise InvalidError(
                    f"{here}.{grade}: 自动审批仅适用于一般数据 / auto-approval is for general data only"
                )
        return ByGrade(general, important, core)
    raise InvalidError(
        f"{where}: 未知节点 {kind!r} / unknown node; known: all_of, any_of, quorum, owning_department, "
        "auto_approval, by_grade"
    )


def _has_auto(policy: Policy) -> bool:
    if isinstance(policy, AutoApproval):
        return True
    if isinstance(policy, AllOf | AnyOf):
        return any(_has_auto(p) for p in policy.parts)
    return False


def policy_from_dict(data: Any) -> SeparationOfDuties:
    """A configured policy (always under `SeparationOfDuties`); `InvalidError` names the bad node."""
    return SeparationOfDuties(_node(data, "policy", 0))


def highest_grade(grades: Sequence[str]) -> str:
    """The most sensitive of `grades` (general < important < core)."""
    return max(grades, key=GRADES.index) if grades else "general"
