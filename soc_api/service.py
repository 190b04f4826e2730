"""Detection as the platform sees it: one tick of the Flink job's runner reported like an
in-process pass (`stream_pass`), and which rules either engine refused (`rules_not_running`).

The steps that run them are in `soc_api.steps`; the composition root is `soc_api.daemon`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from datasoc.logging import get_logger
from datasoc.transport import EVENTS, Transport
from soc_api.detector import DetectReport
from soc_api.platform import Platform

if TYPE_CHECKING:
    from soc_api.stream.runner import StreamRunner

log = get_logger("service")


def stream_pass(runner: StreamRunner, transport: Transport, *, now: datetime) -> DetectReport:
    """One tick of the Flink job's runner, reported like an in-process pass: events the job has
    evaluated since the last tick, and the committed alerts it moved into `alerts`, by warning level."""
    before = runner.progress
    changes_seen = len(runner.health.rule_changes)
    commit = runner.tick(now=now)
    status = runner.job_status()
    if status in ("FAILED", "CANCELED", "SUSPENDED", "RESTARTING"):
        # A job that is not running commits nothing: say so on every pass, not once.
        log.error("detection_job_not_running", status=status, progress=runner.progress)
    for change in runner.health.rule_changes[changes_seen:]:
        # The job validates every rule of a change; a rejected rule is not running: say so loudly.
        if change.get("rejected"):
            log.error("rules_rejected_by_job", version=change.get("version"), rejected=change["rejected"])
        log.info(
            "rules_applied",
            version=change.get("version"),
            accepted=len(change.get("accepted") or ()),
            disabled=len(change.get("disabled") or ()),
        )
    levels = commit.by_level  # counted as the committer appended them (each alert decoded once)
    if commit.invalid:
        log.error("job_alerts_dead_lettered", invalid=commit.invalid)
    after = runner.progress
    if after is None:
        return _report(commit.appended, levels, 0, read=0)
    read = after - (before if before is not None else transport.range(EVENTS).start)
    return _report(commit.appended, levels, after, read=max(read, 0))


def rules_not_running(platform: Platform) -> dict[str, tuple[str, ...]]:
    """Rule keys that failed validation and are not active, with their errors (either engine)."""
    if platform.stream is None:
        if platform.detector is None:  # the cluster job: its rule health is in the TaskManagers' log
            return {}
        found: dict[str, tuple[str, ...]] = {}
        for error in platform.detector.rules.errors:
            key = str(error.file) if error.file is not None else "<rules>"
            found[key] = (*found.get(key, ()), str(error))
        return found
    rejected: dict[str, tuple[str, ...]] = {}
    for change in platform.stream.health.rule_changes:  # in version order: the latest outcome wins
        for key in [*(change.get("accepted") or ()), *(change.get("disabled") or ())]:
            rejected.pop(key, None)
        for key, errors in (change.get("rejected") or {}).items():
            rejected[key] = tuple(errors)
    return rejected


def _report(alerts: int, levels: Mapping[str, int], offset: int, *, read: int) -> DetectReport:
    return DetectReport(read=read, alerts=alerts, by_warning_level=dict(levels), committed_offset=offset)


def _sum(a: DetectReport, b: DetectReport) -> DetectReport:
    levels = Counter(a.by_warning_level)
    levels.update(b.by_warning_level)
    return _report(a.alerts + b.alerts, levels, b.committed_offset, read=a.read + b.read)
