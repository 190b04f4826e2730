"""Post-hoc review (事后可追溯): search the ledger, record reviews, export trails an auditor can verify.

- `search_trail`: entries by actor, subject (an asset), grant and kind (the ledger's key index: every
  key given must hold), time and outcome (`trace.verdict` of an access, else the entry's `outcome`),
  newest first. The search itself is ledgered by the caller (`read.trail_search`).
- `record_review`: an auditor's note, finding and sign-off on a selection, as a ledger entry
  (`admin.audit_reviewed`) naming the selection and the ledger size it looked at.
- `export_trail`: only an audit administrator. The export is ledgered first (`export`), then written
  as a directory: `bundle.zip` (`datasoc-bundle/2`: the selected entries, their inclusion proofs, the
  signed checkpoint, the public key, and the key-index runs that prove the selection complete, checked
  by `datasoc verify`), `entries.csv` (the same entries, one row each, UTF-8 with a BOM for
  spreadsheets), `summary.json` (the figures a report charts: accesses by grade over time, top actors,
  violations, approvals and their turnaround), `report.txt` (those figures in words), and the same
  figures as a report with charts in `report.html` (self-contained) and `report.pdf` (A4, CJK font
  embedded), laid out by `trail_report` and drawn by the shared renderer (`soc_api.reports`).

What a verified export proves is what `datasoc verify` states for key selections (docs/architecture.md,
"Audit ledger"): every entry with all the keys and a time in the window, at the bundle's checkpoint, is
in the bundle; the entries are in the log that checkpoint signed. The CSV and the summary are derived
from the bundle's entries and prove nothing by themselves: re-derive them from `bundle.zip` to check.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from audit.bundle import check_bundle, export_bundle
from audit.bundle_format import ENTRIES
from audit.entry import LedgerEntry, format_ts
from audit.files import private_dir
from audit.index import ts_micros
from audit.selection import Selection
from audit.snapshot import LedgerView
from crypto.recipes import SigningKey
from soc_api.governance.errors import ForbiddenError, InvalidError
from soc_api.governance.trail_report import trail_report
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink, audit_draft
from soc_api.identity.roles import Role
from soc_api.reports import render_html, render_pdf

CSV_COLUMNS: Final = (
    "seq",
    "ts",
    "kind",
    "actor",
    "subject",
    "approval.id",
    "outcome",
    "trace.verdict",
    "trace.violations",
    "trace.used",
    "event.id",
    "@timestamp",
    "event.action",
    "data.classification",
    "data.records",
)
MAX_SEARCH: Final = 200


@dataclass(frozen=True, slots=True)
class TrailQuery:
    """A search of the ledger (see module docstring); at least one key or a window."""

    actor: str | None = None
    subject: str | None = None
    grant: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None
    before_seq: int | None = None
    limit: int = 50

    def keys(self) -> list[str]:
        """The index keys the query names."""
        pairs = (("actor", self.actor), ("subject", self.subject), ("grant", self.grant), ("kind", self.kind))
        return [f"{name}:{value}" for name, value in pairs if value]

    def criteria(self) -> dict[str, Any]:
        """What was asked (for the search's own ledger entry)."""
        found = {
            "actor": self.actor,
            "subject": self.subject,
            "grant": self.grant,
            "kind": self.kind,
            "since": format_ts(self.since) if self.since else None,
            "until": format_ts(self.until) if self.until else None,
            "outcome": self.outcome,
        }
        return {k: v for k, v in found.items() if v is not None}


def outcome_of(entry: LedgerEntry) -> str:
    """An entry's outcome: the trace's verdict of an access, else the payload's `outcome`, else `success`."""
    verdict = entry.payload.get("trace.verdict")
    if isinstance(verdict, str):
        return verdict
    outcome = entry.payload.get("outcome")
    return outcome if isinstance(outcome, str) else "success"


def search_trail(view: LedgerView, query: TrailQuery) -> list[LedgerEntry]:
    """Matching entries, newest first, at most `query.limit` (see module docstring)."""
    keys = query.keys()
    if not keys:
        raise InvalidError("需要操作者、对象、授权或类型之一 / name an actor, subject, grant or kind")
    index = view.index
    with index.lock:
        lists = [index.lookup(key) for key in keys]
    chosen = set(lists[0]).intersection(*lists[1:]) if lists else set()
    since = format_ts(query.since) if query.since else None
    until = format_ts(query.until) if query.until else None
    found: list[LedgerEntry] = []
    for seq in sorted(chosen, reverse=True):
        if query.before_seq is not None and seq >= query.before_seq:
            continue
        entry = LedgerEntry.from_dict(json.loads(view.read_raw(seq)))
        if (since and entry.ts < since) or (until and entry.ts > until):
            continue
        if query.outcome is not None and outcome_of(entry) != query.outcome:
            continue
        found.append(entry)
        if len(found) >= min(query.limit, MAX_SEARCH):
            break
    return found


def entry_to_dict(entry: LedgerEntry) -> dict[str, Any]:
    """An entry's JSON form for the API and the CLI (sealed fields stay sealed)."""
    return {
        "seq": entry.seq,
        "ts": entry.ts,
        "kind": entry.kind,
        "actor": entry.actor,
        "subject": entry.subject,
        "outcome": outcome_of(entry),
        "payload": dict(entry.payload),
    }


def record_review(
    audit: AuditSink,
    actor: Actor,
    selection: Mapping[str, Any],
    *,
    note: str,
    finding: str,
    signoff: bool,
    ledger_size: int,
    now: datetime,
) -> int | None:
    """Record an auditor's review of a selection as a ledger entry; its position (None: in the outbox)."""
    if not note.strip() or len(note) > 4000 or len(finding) > 4000:
        raise InvalidError("note: 需要 1–4000 个字符 / 1..4000 characters; finding at most 4000")
    receipt = audit.record(
        audit_draft(
            now=now,
            kind="admin.audit_reviewed",
            actor=actor.label,
            subject="audit:trail",
            outcome="success",
            selection=dict(selection),
            note=note,
            finding=finding,
            signoff=signoff,
            ledger_size=ledger_size,
        )
    )
    return receipt.seq


def csv_rows(entries: Iterable[LedgerEntry]) -> str:
    """The entries as CSV (UTF-8 text; the caller writes it with a BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        payload = entry.payload
        row = {
            "seq": entry.seq,
            "ts": entry.ts,
            "kind": entry.kind,
            "actor": entry.actor,
            "subject": entry.subject,
            "outcome": outcome_of(entry),
            "trace.violations": ";".join(payload.get("trace.violations", [])),
        }
        values = [row[c] if c in row else payload.get(c, "") for c in CSV_COLUMNS]
        writer.writerow(["" if v is None else v for v in values])
    return out.getvalue()


def summarize(entries: Iterable[LedgerEntry]) -> dict[str, Any]:
    """The figures of a trail (pure): accesses by grade per day, top actors, violations by kind,
    approvals with their turnaround (request to grant, in hours)."""
    by_day: dict[str, Counter[str]] = defaultdict(Counter)
    actors: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    requested: dict[str, str] = {}
    turnaround: dict[str, float] = {}
    decisions: Counter[str] = Counter()
    count = 0
    for entry in entries:
        count += 1
        payload = entry.payload
        if entry.kind == "access":
            day = str(payload.get("@timestamp", entry.ts))[:10]
            by_day[day][str(payload.get("data.classification", "unknown"))] += 1
            actors[entry.actor] += 1
            for violation in payload.get("trace.violations", []):
                violations[str(violation)] += 1
        elif entry.kind == "approval.requested" and payload.get("outcome") == "success":
            requested[str(payload.get("approval.id"))] = entry.ts
        elif entry.kind in ("approval.approved", "approval.rejected") and payload.get("outcome") == "success":
            decisions[entry.kind.split(".")[1]] += 1
        elif entry.kind == "grant.issued":
            grant = str(payload.get("approval.id"))
            if grant in requested:
                turnaround[grant] = _hours(requested[grant], entry.ts)
    hours = sorted(turnaround.values())
    each = dict(sorted(turnaround.items()))
    return {
        "entries": count,
        "accesses_by_grade_per_day": {d: dict(c) for d, c in sorted(by_day.items())},
        "top_actors": actors.most_common(10),
        "violations": dict(violations.most_common()),
        "approvals": {
            "requested": len(requested),
            "granted": len(turnaround),
            "decisions": dict(decisions),
            "turnaround_hours": {
                "median": hours[len(hours) // 2] if hours else None,
                "max": hours[-1] if hours else None,
                "each": each,
            },
        },
    }


def _hours(start: str, end: str) -> float:
    return round((ts_micros(end) - ts_micros(start)) / 3_600_000_000, 3)


def report_text(selection: Selection, summary: Mapping[str, Any], statement: tuple[str, str]) -> str:
    """The export's figures in words, Chinese first."""
    zh, en = selection.describe()
    lines = [
        "数据访问审计导出 / Data access audit export",
        f"选择 / selection: {zh} / {en}",
        f"记录 / entries: {summary['entries']}",
        f"证明 / proof: {statement[0]} / {statement[1]}",
        "",
        "按分级的访问（每日）/ accesses by grade per day:",
        *(
            f"  {day}: " + ", ".join(f"{g} {n}" for g, n in sorted(grades.items()))
            for day, grades in summary["accesses_by_grade_per_day"].items()
        ),
        "访问最多的操作者 / top actors: " + ", ".join(f"{a} ({n})" for a, n in summary["top_actors"]),
        "违规 / violations: "
        + (", ".join(f"{v} {n}" for v, n in summary["violations"].items()) or "无 / none"),
        f"审批 / approvals: {json.dumps(summary['approvals'], ensure_ascii=False)}",
        "",
        "CSV 与本报告由 bundle.zip 中的记录导出；以 `datasoc verify bundle.zip --pubkey <pem>` 校验。",
        "The CSV and this report are derived from the entries in bundle.zip; check it with "
        "`datasoc verify bundle.zip --pubkey <pem>`.",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class TrailExport:
    """Where an export was written."""

    directory: Path
    bundle: Path
    csv: Path
    summary: Path
    report: Path
    entries: int
    html: Path
    pdf: Path


def export_trail(
    audit: AuditSink,
    view: LedgerView,
    actor: Actor,
    selection: Selection,
    *,
    signer: SigningKey,
    out_dir: Path,
    now: datetime,
) -> TrailExport:
    """Write an export of `selection` under `out_dir` (see module docstring); ledgered before."""
    if Role.AUDIT_ADMIN not in actor.roles:
        audit.record(
            audit_draft(
                now=now,
                kind="export",
                actor=actor.label,
                subject="audit:trail",
                outcome="denied",
                reason="permission-denied",
                selection=selection.to_dict(),
            )
        )
        raise ForbiddenError("仅审计管理员可以导出 / only an audit administrator exports")
    if selection.kind != "keys":
        raise InvalidError("导出须按操作者、对象、授权或类型选择 / export by actor, subject, grant or kind")
    audit.record(
        audit_draft(
            now=now,
            kind="export",
            actor=actor.label,
            subject="audit:trail",
            outcome="success",
            selection=selection.to_dict(),
        )
    )
    private_dir(out_dir)
    bundle = export_bundle(view, out_dir / "bundle.zip", signer=signer, now=now, selection=selection)
    report = check_bundle(bundle.read_bytes(), signer.public_key_pem())  # what the auditor will read
    entries = _bundle_entries(bundle)
    summary = summarize(entries)
    csv_path = out_dir / "entries.csv"
    csv_path.write_text("\ufeff" + csv_rows(entries), encoding="utf-8")
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    report_path = out_dir / "report.txt"
    report_path.write_text(
        report_text(selection, summary, (report.statement_zh, report.statement_en)), encoding="utf-8"
    )
    document = trail_report(
        summary,
        selection=selection.describe(),
        statement=(report.statement_zh, report.statement_en),
        exported_by=actor.label,
        now=now,
    )
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(document), encoding="utf-8")
    pdf_path = out_dir / "report.pdf"
    pdf_path.write_bytes(render_pdf(document).data)
    (out_dir / "pubkey.pem").write_bytes(signer.public_key_pem())
    return TrailExport(
        out_dir, bundle, csv_path, summary_path, report_path, len(entries), html_path, pdf_path
    )


def _bundle_entries(bundle: Path) -> list[LedgerEntry]:
    with zipfile.ZipFile(bundle) as archive:
        lines = archive.read(ENTRIES).splitlines()
    return [LedgerEntry.from_dict(json.loads(line)) for line in lines if line]
