"""Ledger entries (ARCHITECTURE.md "Ledger (contract)"): frozen, validated at construction.

An entry's canonical bytes are the RFC 8785 canonical JSON of
``{"actor", "kind", "payload", "seq", "subject", "ts"}``; its leaf hash is
SM3(0x00 || canonical bytes) (RFC 9162 §2.1.1 with SM3). The store writes exactly these bytes,
one entry per line, so what is hashed is what an auditor reads.

Kinds form a closed set of families. The contract's families are ``access``, ``export``,
``purge`` (exact) and ``approval.*``, ``grant.*``, ``admin.*``, ``alert.*``, ``rule.*``,
``login.*`` (with a lowercase suffix). Two system families are added, both needed by the ledger
itself: ``ledger.*`` (the ledger's own life: ``ledger.opened``, ``ledger.key_rotated`` so an auditor
sees which signing key took over and when, ``ledger.torn_tail`` so a cut tail is on the record) and
``system.*`` (platform start/stop, crypto self-test results, configuration changes that are not an
admin's action). The platform's own audit adds ``read.*`` (a person's or token's read of a sensitive
record: a ledger search, an event's original log) and ``authz.*`` (authorization decisions, such
as a refused permission).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final

import orjson

from audit.errors import EntryError
from datasoc.canonical import canonical_json
from datasoc.errors import CanonicalJSONError
from datasoc.timestamps import format_timestamp

EXACT_KINDS: Final[frozenset[str]] = frozenset({"access", "export", "purge"})
KIND_FAMILIES: Final[frozenset[str]] = frozenset(
    {"approval", "grant", "admin", "alert", "rule", "login", "ledger", "system", "read", "authz"}
)
_SUFFIX = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\Z")
# Canonical time form: UTC, microseconds, "Z". Exactly one spelling, so bytes round-trip.
_TS = re.compile(r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z\Z")
_FIELDS: Final[frozenset[str]] = frozenset({"seq", "ts", "kind", "actor", "subject", "payload"})
MAX_TEXT = 512


@functools.lru_cache(maxsize=1024)
def _known_kind(kind: str) -> bool:
    if kind in EXACT_KINDS:
        return True
    family, dot, suffix = kind.partition(".")
    return bool(dot and family in KIND_FAMILIES and _SUFFIX.match(suffix))


def check_kind(kind: object) -> str:
    """Return `kind` when it belongs to the closed set, else raise `EntryError`."""
    if not isinstance(kind, str):
        raise EntryError("must be a string", field="kind")
    if len(kind) <= 64 and _known_kind(kind):
        return kind
    allowed = sorted(EXACT_KINDS) + sorted(f"{f}.*" for f in KIND_FAMILIES)
    raise EntryError(f"unknown kind {kind!r}; allowed: {', '.join(allowed)}", field="kind")


def format_ts(when: datetime) -> str:
    """Canonical entry time: UTC RFC 3339 with microseconds, e.g. ``2026-01-02T03:04:05.000006Z``."""
    if when.tzinfo is None:
        raise EntryError("time must be timezone-aware", field="ts")
    return format_timestamp(when)  # the kernel's form, cached: a batch's entries share one `now`


def _check_text(value: object, field: str, seq: int | None) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise EntryError(f"must be a non-empty string of at most {MAX_TEXT} characters", field=field, seq=seq)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise EntryError("holds a lone surrogate (not UTF-8 encodable)", field=field, seq=seq) from None
    return value


@functools.lru_cache(maxsize=4096)
def _valid_date(text: str) -> bool:
    # Entries of one day share their date: parse each date once (strptime per entry would cost
    # more than hashing the entry).
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_ts(value: object, seq: int | None) -> str:
    if not isinstance(value, str) or not _TS.match(value):
        raise EntryError("must be UTC RFC 3339 with 6 fraction digits and 'Z'", field="ts", seq=seq)
    if not _valid_date(value[:10]):
        raise EntryError(f"not a valid date: {value!r}", field="ts", seq=seq)
    return value


def _jcs_str(text: str) -> bytes:
    # For a lone string orjson is RFC 8785 §3.2.2.2 exactly (the same fast path datasoc.canonical
    # takes); tests compare against canonical_json. A lone surrogate raises (not UTF-8).
    return orjson.dumps(text)


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """What an appender submits; the store assigns `seq` when it appends.

    RFC 8785 sorts keys (actor, kind, payload, seq, subject, ts), so the canonical entry is
    `head + str(seq) + tail`; both halves are encoded once, at creation, and appending costs
    one concatenation instead of a JSON encoding under the commit lock.
    """

    ts: str
    kind: str
    actor: str
    subject: str
    payload: Mapping[str, Any]
    head: bytes = b""
    tail: bytes = b""

    @classmethod
    def create(
        cls, *, now: datetime, kind: str, actor: str, subject: str, payload: Mapping[str, Any]
    ) -> EntryDraft:
        """Validate and freeze a new entry; `payload` must already have sensitive fields sealed."""
        if not isinstance(payload, Mapping):
            raise EntryError("must be a JSON object", field="payload")
        ts = format_ts(now)
        kind = check_kind(kind)
        actor = _check_text(actor, "actor", None)
        subject = _check_text(subject, "subject", None)
        frozen = MappingProxyType(dict(payload))
        try:
            body = canonical_json(dict(payload))
        except CanonicalJSONError as exc:
            raise EntryError(str(exc), field="payload") from None
        head = b'{"actor":%s,"kind":%s,"payload":%s,"seq":' % (_jcs_str(actor), _jcs_str(kind), body)
        tail = b',"subject":%s,"ts":%s}' % (_jcs_str(subject), _jcs_str(ts))
        return cls(ts, kind, actor, subject, frozen, head, tail)

    def at(self, seq: int) -> LedgerEntry:
        """The entry this draft becomes at position `seq` (no re-validation: fields are checked)."""
        return LedgerEntry(seq, self.ts, self.kind, self.actor, self.subject, self.payload)

    def canonical_at(self, seq: int) -> bytes:
        """Canonical bytes of `self.at(seq)`, without re-encoding the payload."""
        if not self.head:
            return self.at(seq).to_canonical()
        return self.head + str(seq).encode("ascii") + self.tail


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ledger record; `seq` is its leaf index in the Merkle tree."""

    seq: int
    ts: str
    kind: str
    actor: str
    subject: str
    payload: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerEntry:
        """Validate a decoded entry; raises `EntryError` naming the field."""
        # isinstance(dict) first: decoded JSON is a dict, and the Mapping ABC check is slow
        # at a million entries.
        if not isinstance(data, dict | Mapping):
            raise EntryError("entry must be a JSON object")
        seq = data.get("seq")
        if type(seq) is not int or seq < 0:
            raise EntryError("must be a non-negative integer", field="seq")
        if data.keys() != _FIELDS:
            keys = set(data)
            missing, extra = sorted(_FIELDS - keys), sorted(keys - _FIELDS)
            raise EntryError(f"missing {missing}, unexpected {extra}", seq=seq)
        payload = data["payload"]
        if not isinstance(payload, dict | Mapping):
            raise EntryError("must be a JSON object", field="payload", seq=seq)
        try:
            kind = check_kind(data["kind"])
        except EntryError as exc:
            raise EntryError(str(exc), seq=seq) from None
        return cls(
            seq=seq,
            ts=_check_ts(data["ts"], seq),
            kind=kind,
            actor=_check_text(data["actor"], "actor", seq),
            subject=_check_text(data["subject"], "subject", seq),
            payload=MappingProxyType(dict(payload)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "payload": dict(self.payload),
        }

    def to_canonical(self) -> bytes:
        """RFC 8785 canonical bytes: the exact leaf input."""
        try:
            return canonical_json(self.to_dict())
        except CanonicalJSONError as exc:
            raise EntryError(str(exc), field="payload", seq=self.seq) from None

    def record_id(self) -> str:
        """Id that sealed fields of this entry are bound to (known before `seq` is assigned)."""
        return record_id_for(self.ts, self.kind, self.actor, self.subject)


def record_id_for(ts: str, kind: str, actor: str, subject: str) -> str:
    """Binding id for sealed payload fields: time, kind, actor and subject of the entry."""
    return f"ledger/{kind}/{actor}/{subject}@{ts}"
