"""Deterministic demo data: `generate` builds every file in memory, `write_demo` puts them on disk.

The same seed, start, days and scale give byte-identical files: one `random.Random(seed)` drives
every choice, the start time is a parameter (never the clock), records are ordered by
(time, creation order) and JSON is written with a fixed key order.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from collectors.parsers.base import CHINA_TZ
from datasoc.event import format_timestamp
from soc_api.demo.activity import Sequences
from soc_api.demo.incidents import Gap, inject
from soc_api.demo.normal import day_of_work
from soc_api.demo.records import (
    APIGW,
    MYSQL,
    PGAUDIT,
    SOURCES,
    SYSLOG,
    ApiGatewayRenderer,
    Draft,
    MySqlAuditRenderer,
    PgAuditRenderer,
    Renderer,
    SyslogRenderer,
)
from soc_api.demo.world import build_world, catalog_document

CATALOG: Final = "catalog.json"
USERS: Final = "users.json"
#: The access plan (each request is made and approved through the governance services by `datasoc demo`).
REQUESTS: Final = "requests.json"
GROUND_TRUTH: Final = "ground_truth.json"
MAX_DAYS: Final = 31
MAX_SCALE: Final = 50.0


@dataclass(frozen=True)
class DemoDataset:
    """Generated demo data: file name to UTF-8 bytes, and the parsed ground truth."""

    seed: int
    start: datetime
    days: int
    scale: float
    files: Mapping[str, bytes]
    ground_truth: Mapping[str, Any]

    def lines(self, name: str) -> list[str]:
        """The lines of one generated file."""
        return self.files[name].decode("utf-8").splitlines()


def _json(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))


def generate(seed: int, start: datetime, days: int = 2, scale: float = 1.0) -> DemoDataset:
    """Generate `days` days of platform logs from the local (Asia/Shanghai) midnight of `start`.

    `scale` multiplies the normal volumes (1.0 gives a few thousand lines over two days); the
    incidents are the same at every scale. Pure: nothing is read or written.
    """
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime (pass tzinfo), the demo never guesses a zone")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1..{MAX_DAYS}, got {days}")
    if not 0 < scale <= MAX_SCALE:
        raise ValueError(f"scale must be in (0, {MAX_SCALE}], got {scale}")
    local = start.astimezone(CHINA_TZ)
    first = local.replace(hour=0, minute=0, second=0, microsecond=0)
    day_list = [first + timedelta(days=n) for n in range(days)]
    end = first + timedelta(days=days)
    rng = random.Random(seed)  # noqa: S311 (reproducible demo data, not secrets)
    world = build_world(rng, first)
    seq = Sequences(rng)
    normal: list[Draft] = []
    for day in day_list:
        normal += day_of_work(rng, world, seq, day, scale)
    injected = inject(rng, world, seq, day_list)
    kept = [d for d in normal if first <= d.at < end and not _in_gap(d, injected.gaps)]
    drafts = [d for d in kept if not _names_deleted(d, injected.deleted)] + injected.drafts

    renderers: dict[str, Renderer] = {
        APIGW: ApiGatewayRenderer(),
        # The MySQL server last restarted in the 03:00 maintenance window three days earlier.
        MYSQL: MySqlAuditRenderer(first - timedelta(days=3) + timedelta(hours=3)),
        PGAUDIT: PgAuditRenderer(),
        SYSLOG: SyslogRenderer(),
    }
    files: dict[str, bytes] = {}
    evidence: dict[str, dict[str, dict[str, list[Any]]]] = {}
    times: dict[str, list[datetime]] = {}
    for name, renderer in renderers.items():
        ordered = sorted((d.at, index, d) for index, d in enumerate(drafts) if d.file == name)
        lines: list[str] = []
        line_no = 1
        for at, _, draft in ordered:
            text, record_id = renderer.render(draft)
            if draft.incident is not None:
                found = evidence.setdefault(draft.incident, {}).setdefault(
                    name, {"lines": [], "record_ids": []}
                )
                found["lines"].append(line_no)
                if record_id is not None:
                    found["record_ids"].append(record_id)
                times.setdefault(draft.incident, []).append(at)
            lines.append(text)
            line_no += text.count("\n") + 1
        files[name] = "".join(f"{line}\n" for line in lines).encode("utf-8")

    incidents = []
    for incident in injected.incidents:
        entry = incident.to_dict()
        moments = times[incident.id]
        entry["window"] = {"start": format_timestamp(min(moments)), "end": format_timestamp(max(moments))}
        entry["evidence"] = [{"file": f, **found} for f, found in sorted(evidence[incident.id].items())]
        incidents.append(entry)
    truth = {
        "generator": "soc_api.demo",
        "seed": seed,
        "start": first.isoformat(),
        "days": days,
        "scale": scale,
        "timezone": "Asia/Shanghai",
        "sources": dict(SOURCES),
        "incidents": incidents,
    }
    files[CATALOG] = (_json(catalog_document(), indent=2) + "\n").encode("utf-8")
    files[USERS] = (_json([u.to_dict() for u in world.users], indent=2) + "\n").encode("utf-8")
    files[REQUESTS] = (_json([a.to_dict() for a in world.approvals], indent=1) + "\n").encode("utf-8")
    files[GROUND_TRUTH] = (_json(truth, indent=2) + "\n").encode("utf-8")
    return DemoDataset(seed, first, days, scale, MappingProxyType(files), MappingProxyType(truth))


def _in_gap(draft: Draft, gaps: list[Gap]) -> bool:
    return any(g.file == draft.file and g.start <= draft.at < g.end for g in gaps)


def _names_deleted(draft: Draft, deleted: Mapping[str, datetime]) -> bool:
    """A normal record that reads a dataset after its deletion (by id in a URI or by table in SQL)."""
    text = " ".join(str(v) for v in draft.data.values())
    return any(draft.at >= when and dataset in text for dataset, when in deleted.items())


def write_demo(dataset: DemoDataset, out_dir: Path) -> dict[str, Path]:
    """Write every file of `dataset` under `out_dir` (created if missing); returns name to path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, content in dataset.files.items():
        path = out_dir / name
        path.write_bytes(content)
        written[name] = path
    return written
