"""Read a written demo directory back through the collectors' parsers (no special code path).

Offline (tests, `datasoc detect` over a demo): each native file goes to the parser `SOURCES` names
for it, enriched from the demo's own `catalog.json` and the grants its access plan (`requests.json`)
becomes once approved, as a deployment's collectors are from the governance store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from collectors.approvals import ApprovalRegister
from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers import PARSERS, LinuxSyslogParser, Parser
from collectors.readers import iter_records
from datasoc.event import Event
from datasoc.grants import Grant
from soc_api.demo.generator import CATALOG, GROUND_TRUTH, REQUESTS
from soc_api.demo.plan import planned_grants, read_plan
from soc_api.demo.records import SOURCES


def demo_grants(out_dir: Path) -> list[Grant]:
    """The grants of a written demo's access plan, as approved."""
    return planned_grants(read_plan(json.loads((out_dir / REQUESTS).read_text(encoding="utf-8"))))


@dataclass(frozen=True)
class Replayed:
    """One record of a demo file: where it is, its raw bytes and what parsing it gave."""

    file: str
    position: int
    raw: bytes
    result: Event | ParseError


def replay(
    out_dir: Path,
    *,
    now: datetime,
    new_id: Callable[[], str],
    collector: str = "demo",
) -> Iterator[Replayed]:
    """Parse every native file of a demo directory, file by file in `SOURCES` order.

    `now` becomes `event.ingested`. RFC 3164 syslog lines carry no year, so the syslog parser
    infers it against the end of the demo (from ground_truth.json), not against `now`.
    """
    catalog = Catalog.from_file(out_dir / CATALOG)
    approvals = ApprovalRegister.from_grants(demo_grants(out_dir))
    truth = json.loads((out_dir / GROUND_TRUTH).read_text(encoding="utf-8"))
    end = datetime.fromisoformat(truth["start"]) + timedelta(days=int(truth["days"]))
    for name, parser_name in SOURCES.items():
        parser: Parser
        if parser_name == LinuxSyslogParser.name:
            parser = LinuxSyslogParser(
                collector=collector, catalog=catalog, approvals=approvals, year_reference=end
            )
        else:
            parser = PARSERS[parser_name](collector=collector, catalog=catalog, approvals=approvals)
        for record in iter_records(out_dir / name, parser_name):
            try:
                result: Event | ParseError = parser.parse(
                    record.raw, source=name, now=now, new_id=new_id, position=record.position
                )
            except ParseError as exc:
                result = exc
            yield Replayed(name, record.position, record.raw, result)
