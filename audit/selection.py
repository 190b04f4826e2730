"""What an export selects, and what a verified bundle may claim about it, in plain words.

Three kinds of selection, each with what verification proves:
- keys: entries matching every given field (actor, subject, grant = payload ``approval.id``,
  kind) whose time is in [since, until]. Proven complete through the key index (`audit.index`):
  nothing matching was left out, at the bundle's checkpoint.
- range: every entry with seq in [from_seq, to_seq). Proven complete: seqs are consecutive.
- list: entries picked by seq. Proven genuine only: each is in the signed log, but nothing shows
  that other entries would not have matched what the exporter had in mind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from audit.entry import LedgerEntry, format_ts
from audit.errors import BundleError
from audit.index import grant_of, ts_micros

BEGINNING: Final = -(2**62)
END: Final = 2**62
_KEY_FIELDS: Final = ("actor", "subject", "grant", "kind")


@dataclass(frozen=True, slots=True)
class Selection:
    """An export's selection; build with `by_keys`, `by_range` or `by_list`."""

    kind: str
    actor: str | None = None
    subject: str | None = None
    grant: str | None = None
    entry_kind: str | None = None
    since: str | None = None
    until: str | None = None
    from_seq: int | None = None
    to_seq: int | None = None

    @classmethod
    def by_keys(
        cls,
        *,
        actor: str | None = None,
        subject: str | None = None,
        grant: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Selection:
        """Entries matching every given field, with time in [since, until] (inclusive)."""
        if not any((actor, subject, grant, kind)):
            raise BundleError("a key selection needs at least one of actor, subject, grant, kind")
        s, u = (format_ts(since) if since else None), (format_ts(until) if until else None)
        if s and u and s > u:
            raise BundleError(f"the window ends ({u}) before it starts ({s})")
        return cls("keys", actor, subject, grant, kind, s, u)

    @classmethod
    def by_range(cls, from_seq: int, to_seq: int) -> Selection:
        """Every entry with seq in [from_seq, to_seq)."""
        if not 0 <= from_seq <= to_seq:
            raise BundleError(f"no sequence range [{from_seq}, {to_seq})")
        return cls("range", from_seq=from_seq, to_seq=to_seq)

    @classmethod
    def by_list(cls) -> Selection:
        """Entries picked one by one (genuine only)."""
        return cls("list")

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``selection``."""
        if self.kind == "range":
            return {"type": "range", "from_seq": self.from_seq, "to_seq": self.to_seq}
        if self.kind == "list":
            return {"type": "list"}
        return {
            "type": "keys",
            "actor": self.actor,
            "subject": self.subject,
            "grant": self.grant,
            "kind": self.entry_kind,
            "since": self.since,
            "until": self.until,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        """Parse a manifest's ``selection``; raises `BundleError`."""
        kind = data.get("type") if isinstance(data, Mapping) else None
        try:
            if kind == "range":
                a, b = data["from_seq"], data["to_seq"]
                if not (type(a) is int and type(b) is int):
                    raise BundleError("selection range bounds must be integers")
                return cls.by_range(a, b)
            if kind == "list":
                return cls.by_list()
            if kind == "keys":
                values = [data.get(f) for f in (*_KEY_FIELDS, "since", "until")]
                if any(v is not None and not isinstance(v, str) for v in values):
                    raise BundleError("selection fields must be strings or null")
                if not any(values[:4]):
                    raise BundleError("a key selection needs at least one key")
                for ts in values[4:]:
                    if ts is not None:
                        ts_micros(ts)
                return cls("keys", *values)
        except (KeyError, ValueError) as exc:
            raise BundleError(f"manifest selection is malformed: {exc}") from None
        raise BundleError(f"manifest selection type {kind!r} is not keys, range or list")

    def index_keys(self) -> list[str]:
        """Index keys of a key selection."""
        pairs = zip(_KEY_FIELDS, (self.actor, self.subject, self.grant, self.entry_kind), strict=True)
        return [f"{field}:{value}" for field, value in pairs if value is not None]

    def window(self) -> tuple[int, int]:
        """[since, until] in microseconds (open ends at the extremes)."""
        return (
            ts_micros(self.since) if self.since else BEGINNING,
            ts_micros(self.until) if self.until else END,
        )

    def matches(self, entry: LedgerEntry) -> bool:
        """Whether `entry` has every key of this selection (time not considered)."""
        return (
            (self.actor is None or entry.actor == self.actor)
            and (self.subject is None or entry.subject == self.subject)
            and (self.entry_kind is None or entry.kind == self.entry_kind)
            and (self.grant is None or grant_of(entry.payload) == self.grant)
        )

    def in_window(self, entry: LedgerEntry) -> bool:
        """Whether the entry's own time is in [since, until]."""
        return (self.since is None or entry.ts >= self.since) and (
            self.until is None or entry.ts <= self.until
        )

    def describe(self) -> tuple[str, str]:
        """(Chinese, English) description of what is selected."""
        if self.kind == "range":
            return (
                f"序号 {self.from_seq} 至 {self.to_seq} (不含)",
                f"seq {self.from_seq} to {self.to_seq} (exclusive)",
            )
        if self.kind == "list":
            return ("逐条选定的记录", "entries picked one by one")
        names = {
            "actor": ("操作者", "actor"),
            "subject": ("对象", "subject"),
            "grant": ("授权", "grant"),
            "kind": ("类型", "kind"),
        }
        values = (self.actor, self.subject, self.grant, self.entry_kind)
        zh = "、".join(
            f"{names[f][0]} {v}" for f, v in zip(_KEY_FIELDS, values, strict=True) if v is not None
        )
        en = " and ".join(
            f"{names[f][1]} {v}" for f, v in zip(_KEY_FIELDS, values, strict=True) if v is not None
        )
        since_zh, since_en = (self.since, self.since) if self.since else ("最早", "the first entry")
        until_zh, until_en = (self.until, self.until) if self.until else ("检查点", "the checkpoint")
        return f"{zh}，时间 {since_zh} 至 {until_zh}", f"{en} from {since_en} to {until_en}"
