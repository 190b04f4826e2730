"""Grants: what an approved access request allows. One model for the store, the trace and the parsers.

A grant (授权) is issued when an access request (数据使用申请) is approved under the approval policy;
its id is the request's number, which a data user presents with every access (`X-Approval-Id`,
`approval.id` in events). What it allows are its *terms*:

    assets      asset id -> the fields granted (None: every field of the asset)
    valid_from, valid_to   the window [valid_from, valid_to) of event time
    region      the district the grantee may access from (None: anywhere)
    record_cap  records the grantee may receive over the grant's whole life (None: no cap)
    export      whether downloads and exports are allowed

A grant keeps its history as *revisions*, oldest first: the first is in force from the start
(`since` None), each later one from its `since` (a narrowing, or a revocation, which keeps the terms
for context but is not in force). Accesses are judged by their event time against the revision in
force at that time, so every engine that knows the same history reaches the same verdict, whenever
it processes the access. Expiry needs no revision: the window says it.

Wire form (`to_dict`, read back by `from_dict`; times RFC 3339 UTC):

    {"id": "SQ-2026-0007", "user": "wangwei", "purpose": "...", "approvers": ["a", "b"],
     "revisions": [{"since": null, "state": "active", "note": "",
                    "terms": {"assets": {"ds-gaj-hjqy": ["xm", "csrq"], "ds-x": null},
                              "valid_from": "...Z", "valid_to": "...Z", "region": "东湖区",
                              "record_cap": 10000, "export": false}}]}

Pure: no I/O, no clock (every question takes the time it is about).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from datasoc.errors import DatasocError
from datasoc.event import format_timestamp, parse_timestamp

ACTIVE: Final = "active"
REVOKED: Final = "revoked"
#: `Grant.status_at`: in force, outside its window, or the state of a revision not in force.
APPROVED: Final = "approved"
EXPIRED: Final = "expired"
_MAX_SAFE = 2**53 - 1
_MAX_TEXT = 512


class GrantError(DatasocError, ValueError):
    """A grant is malformed; `where` names the field (e.g. `grant.revisions[0].terms.valid_to`)."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


def _text(value: Any, where: str, *, optional: bool = False) -> str:
    if optional and value in (None, ""):
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise GrantError(where, f"expected a non-empty string of at most {_MAX_TEXT} characters")
    return value


def _time(value: Any, where: str) -> datetime:
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise GrantError(where, str(exc)) from None


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise GrantError(where, f"expected an object, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class GrantTerms:
    """What a grant allows while in force (see module docstring)."""

    assets: Mapping[str, frozenset[str] | None]
    valid_from: datetime
    valid_to: datetime
    region: str | None = None
    record_cap: int | None = None
    export: bool = False

    def __post_init__(self) -> None:
        if not self.assets:
            raise GrantError("terms.assets", "a grant covers at least one asset")
        if self.valid_to <= self.valid_from:
            raise GrantError("terms.valid_to", "must be later than valid_from")
        if self.record_cap is not None and not 0 <= self.record_cap <= _MAX_SAFE:
            raise GrantError("terms.record_cap", f"must be 0..{_MAX_SAFE} or null")
        object.__setattr__(self, "assets", MappingProxyType(dict(self.assets)))

    @classmethod
    def from_dict(cls, data: Any, where: str = "terms") -> GrantTerms:
        """Validate the wire form of terms; `GrantError` names the bad field."""
        data = _mapping(data, where)
        assets_raw = _mapping(data.get("assets"), f"{where}.assets")
        assets: dict[str, frozenset[str] | None] = {}
        for asset, fields in assets_raw.items():
            _text(asset, f"{where}.assets")
            if fields is None:
                assets[asset] = None
                continue
            if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
                raise GrantError(f"{where}.assets.{asset}", "expected a list of field names or null")
            assets[asset] = frozenset(fields)
        cap = data.get("record_cap")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int)):
            raise GrantError(f"{where}.record_cap", "expected an integer or null")
        export = data.get("export", False)
        if not isinstance(export, bool):
            raise GrantError(f"{where}.export", "expected true or false")
        region = data.get("region")
        try:
            return cls(
                assets=assets,
                valid_from=_time(data.get("valid_from"), f"{where}.valid_from"),
                valid_to=_time(data.get("valid_to"), f"{where}.valid_to"),
                region=_text(region, f"{where}.region") if region is not None else None,
                record_cap=cap,
                export=export,
            )
        except GrantError as exc:
            if not exc.where.startswith("terms."):  # already named from `where`
                raise
            raise GrantError(f"{where}.{exc.where.removeprefix('terms.')}", exc.reason) from None

    def to_dict(self) -> dict[str, Any]:
        """The wire form (field lists sorted, so equal terms give equal bytes)."""
        return {
            "assets": {a: None if f is None else sorted(f) for a, f in sorted(self.assets.items())},
            "valid_from": format_timestamp(self.valid_from),
            "valid_to": format_timestamp(self.valid_to),
            "region": self.region,
            "record_cap": self.record_cap,
            "export": self.export,
        }

    def in_window(self, when: datetime) -> bool:
        """Whether `when` (aware) is in [valid_from, valid_to)."""
        return self.valid_from <= when < self.valid_to

    def fields_not_granted(self, asset: str, fields: Iterable[str]) -> frozenset[str]:
        """Which of `fields` of `asset` these terms do not grant (all, when the asset is not granted)."""
        wanted = frozenset(fields)
        if asset not in self.assets:
            return wanted
        granted = self.assets[asset]
        return frozenset() if granted is None else wanted - granted

    def widenings(self, narrower: GrantTerms) -> list[str]:
        """How `narrower` would allow more than these terms (empty when it is a narrowing)."""
        problems: list[str] = []
        for asset, fields in narrower.assets.items():
            if asset not in self.assets:
                problems.append(f"asset {asset} is not in the grant")
            elif self.assets[asset] is not None and (fields is None or not fields <= self.assets[asset]):  # type: ignore[operator]
                problems.append(f"fields of {asset} beyond those granted")
        if narrower.valid_from < self.valid_from or narrower.valid_to > self.valid_to:
            problems.append("the window extends beyond the granted window")
        if self.region is not None and narrower.region != self.region:
            problems.append(f"the region differs from {self.region}")
        cap = narrower.record_cap
        if self.record_cap is not None and (cap is None or cap > self.record_cap):
            problems.append(f"the record cap exceeds {self.record_cap}")
        if narrower.export and not self.export:
            problems.append("export was not granted")
        return problems


@dataclass(frozen=True, slots=True)
class GrantRevision:
    """The terms in force from `since` (None: from the start); `state` other than `active` says why
    they are not in force (`revoked`, or a legacy register's status)."""

    since: datetime | None
    terms: GrantTerms
    state: str = ACTIVE
    note: str = ""

    @classmethod
    def from_dict(cls, data: Any, where: str) -> GrantRevision:
        """Validate one revision's wire form."""
        data = _mapping(data, where)
        since = data.get("since")
        return cls(
            since=None if since is None else _time(since, f"{where}.since"),
            terms=GrantTerms.from_dict(data.get("terms"), f"{where}.terms"),
            state=_text(data.get("state", ACTIVE), f"{where}.state"),
            note=_text(data.get("note", ""), f"{where}.note", optional=True),
        )

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {
            "since": None if self.since is None else format_timestamp(self.since),
            "state": self.state,
            "note": self.note,
            "terms": self.terms.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant with its history; build with `issue` or `from_dict`, change with `revoke`/`narrow`."""

    id: str
    user: str
    revisions: tuple[GrantRevision, ...]
    purpose: str = ""
    approvers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _text(self.id, "grant.id")
        _text(self.user, "grant.user")
        if not self.revisions or self.revisions[0].since is not None:
            raise GrantError("grant.revisions", "the first revision is in force from the start (since null)")
        times = [r.since for r in self.revisions[1:]]
        if any(t is None for t in times) or any(
            b <= a  # type: ignore[operator]
            for a, b in itertools.pairwise(times)
        ):
            raise GrantError("grant.revisions", "later revisions need strictly increasing `since` times")

    @classmethod
    def issue(
        cls, grant_id: str, user: str, terms: GrantTerms, *, purpose: str = "", approvers: Iterable[str] = ()
    ) -> Grant:
        """A new grant in force from the start with `terms`."""
        return cls(grant_id, user, (GrantRevision(None, terms),), purpose, tuple(approvers))

    @classmethod
    def from_dict(cls, data: Any, where: str = "grant") -> Grant:
        """Validate the wire form; `GrantError` names the bad field."""
        data = _mapping(data, where)
        revisions = data.get("revisions")
        if not isinstance(revisions, list) or not revisions:
            raise GrantError(f"{where}.revisions", "expected a non-empty list")
        approvers = data.get("approvers", [])
        if not isinstance(approvers, list) or not all(isinstance(a, str) and a for a in approvers):
            raise GrantError(f"{where}.approvers", "expected a list of user names")
        return cls(
            id=_text(data.get("id"), f"{where}.id"),
            user=_text(data.get("user"), f"{where}.user"),
            revisions=tuple(
                GrantRevision.from_dict(r, f"{where}.revisions[{i}]") for i, r in enumerate(revisions)
            ),
            purpose=_text(data.get("purpose", ""), f"{where}.purpose", optional=True),
            approvers=tuple(approvers),
        )

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {
            "id": self.id,
            "user": self.user,
            "purpose": self.purpose,
            "approvers": list(self.approvers),
            "revisions": [r.to_dict() for r in self.revisions],
        }

    def digest(self) -> str:
        """`sha256:<hex>` of the sorted-key JSON wire form: equal grants, equal digests (a change key,
        not a security digest)."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def current(self) -> GrantRevision:
        """The newest revision."""
        return self.revisions[-1]

    @property
    def terms(self) -> GrantTerms:
        """The newest revision's terms."""
        return self.revisions[-1].terms

    def revision_at(self, when: datetime) -> GrantRevision:
        """The revision in force at `when` (aware)."""
        found = self.revisions[0]
        for revision in self.revisions[1:]:
            assert revision.since is not None
            if revision.since > when:
                break
            found = revision
        return found

    def status_at(self, when: datetime) -> str:
        """`approved` (in force), `expired` (outside the window then), or the revision's state."""
        revision = self.revision_at(when)
        if revision.state != ACTIVE:
            return revision.state
        return APPROVED if revision.terms.in_window(when) else EXPIRED

    def _then(self, at: datetime) -> None:
        last = self.revisions[-1].since
        if last is not None and at <= last:
            when = format_timestamp(at)
            raise GrantError("grant.revisions", f"a change at {when} is not after the last one")

    def revoke(self, at: datetime, note: str = "") -> Grant:
        """The grant revoked from `at` (its terms kept for context)."""
        self._then(at)
        revision = GrantRevision(at, self.terms, REVOKED, note[:_MAX_TEXT])
        return replace(self, revisions=(*self.revisions, revision))

    def narrow(self, terms: GrantTerms, at: datetime, note: str = "") -> Grant:
        """The grant with narrower `terms` from `at`; `GrantError` when they would allow more."""
        if self.current.state != ACTIVE:
            raise GrantError("grant.state", f"a {self.current.state} grant cannot be narrowed")
        problems = self.terms.widenings(terms)
        if problems:
            raise GrantError("grant.terms", "not a narrowing: " + "; ".join(problems))
        self._then(at)
        return replace(self, revisions=(*self.revisions, GrantRevision(at, terms, ACTIVE, note[:_MAX_TEXT])))


@dataclass(frozen=True)
class GrantBook:
    """A snapshot of every grant by id, with the version of the store it was read at."""

    grants: Mapping[str, Grant] = field(default_factory=dict)
    version: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "grants", MappingProxyType(dict(self.grants)))

    @classmethod
    def of(cls, grants: Iterable[Grant], version: int = 0) -> GrantBook:
        """A book of `grants` (ids must be unique)."""
        by_id: dict[str, Grant] = {}
        for grant in grants:
            if grant.id in by_id:
                raise GrantError("grant.id", f"duplicate grant id {grant.id!r}")
            by_id[grant.id] = grant
        return cls(by_id, version)

    def get(self, grant_id: str) -> Grant | None:
        """The grant with that id, if any."""
        return self.grants.get(grant_id)

    def __len__(self) -> int:
        return len(self.grants)
