"""`datasoc detect`, `datasoc rules check|test` and `datasoc bench detect`.

Command objects for the registry: `detect`, `rules`, `bench_detect`.

Rule test convention (`datasoc rules test`): next to `name.yml` a file `name.tests.yml` holds
`positive:` and `negative:` lists of events (flat, nested ECS or evtx_dump objects). Every single-event
rule in `name.yml` must match each positive event and no negative event. A file holding a correlation
rule has `correlation: {positive: [...], negative: [...]}` instead, each entry a sequence of events
with `@timestamp` (`_repeat: N, _every: S` stands for N copies S seconds apart): a positive sequence
must make one of the file's alerting correlations fire, a negative one must raise no alert
(`detection.checks.run_rule_tests`). A sibling file (rather than a custom attribute inside the rule)
keeps the rule a plain Sigma rule for every other Sigma tool.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click


def _records(text: str) -> Iterator[Any]:
    """JSON values back to back: JSON lines or concatenated objects (evtx_dump output)."""
    decoder = json.JSONDecoder()
    position, end = 0, len(text)
    while True:
        while position < end and text[position].isspace():
            position += 1
        if position >= end:
            return
        value, position = decoder.raw_decode(text, position)
        yield value


def _read_events(source: str) -> list[dict[str, Any]]:
    from datasoc.winevent import flatten
    from detection.errors import EventFormatError

    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    events: list[dict[str, Any]] = []
    try:
        for index, record in enumerate(_records(text)):
            if not isinstance(record, dict):
                raise EventFormatError(index, f"expected a JSON object, got {type(record).__name__}")
            events.append(flatten(record))
    except json.JSONDecodeError as exc:
        raise EventFormatError(len(events), f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    return events


def _event_time(event: dict[str, Any]) -> datetime | None:
    """Event time for correlations: `@timestamp` (normalized) or `TimeCreated_SystemTime` (evtx)."""
    for name in ("@timestamp", "TimeCreated_SystemTime"):
        value = event.get(name)
        if isinstance(value, str):
            text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return None
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def evaluation_order(times: Sequence[datetime | None]) -> list[int]:
    """Input positions sorted by event time, stable; positions without a time last, in input order."""
    timed = sorted((i for i, t in enumerate(times) if t is not None), key=lambda i: (times[i], i))
    return timed + [i for i, t in enumerate(times) if t is None]


def _echo(found: Any) -> None:
    """One line per single-event match (its event's index), then per correlation match (the indexes
    of all its events: the CLI contract of docs/architecture.md); `found` is emptied."""
    for single in found.singles:
        line = {"event_index": single.position, "rule_id": single.rule.id, "rule_title": single.rule.title}
        click.echo(json.dumps(line, ensure_ascii=False))
    for correlated in found.correlated:
        match = correlated.match
        line = {
            "event_index": list(match.event_indexes),
            "rule_id": match.rule_ref,
            "rule_title": match.title,
        }
        click.echo(json.dumps(line, ensure_ascii=False))
    for problem in found.problems:
        click.echo(
            f"{problem.what}: rule {problem.rule}, event {problem.position}: {problem.detail}", err=True
        )
    found.clear()


@click.command("detect")
@click.option(
    "--rules", "rule_paths", multiple=True, required=True, type=click.Path(exists=True, path_type=Path)
)
@click.option("--events", "events_source", required=True, help="JSON lines or evtx_dump JSON; - for stdin.")
@click.option("--pipeline", "pipeline_name", default="default", show_default=True, help="Pipeline name.")
@click.option("--strict", is_flag=True, help="Exit 1 when a rule could not be loaded.")
@click.option(
    "--sort", "sort_events", is_flag=True, help="Evaluate in event-time order (stable), not file order."
)
@click.option(
    "--allowed-lateness",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="How far behind the newest event a correlation still accepts an event.",
)
def detect(
    rule_paths: Sequence[Path],
    events_source: str,
    pipeline_name: str,
    strict: bool,
    sort_events: bool,
    allowed_lateness: float,
) -> None:
    """Evaluate Sigma rules over events; one JSON line per match (离线检测).

    Single-event matches give `event_index` N; correlation matches give the sorted list of all their
    events' indexes. N is always the event's 0-based position in the input, also with `--sort`. Event
    time is `@timestamp`, or `TimeCreated_SystemTime` for Windows events.

    Correlations run in event time: an event older than the newest one seen minus
    `--allowed-lateness` is late, counted on stderr and left out of correlations (single-event
    rules still see it). Input merged from several sources is rarely in time order, so `--sort`
    evaluates the events by event time first (a stable sort: ties keep input order; events without
    a time come last, in input order), and lines are printed in that evaluation order. Without
    `--sort` events are evaluated in input order, as a stream would deliver them.
    """
    from detection.bundle import RuleBundle
    from detection.engine import RuleSet
    from detection.errors import DetectionError
    from detection.loop import DetectionLoop, Detections, SequentialCorrelator
    from detection.pipelines import resolve_pipeline

    try:
        events = _read_events(events_source)
        loaded = RuleSet.load(list(rule_paths), pipeline=resolve_pipeline(pipeline_name))
    except (DetectionError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    bundle = RuleBundle.from_loaded(loaded)
    errors = [str(e) for e in loaded.errors]
    errors += [e for found in bundle.errors.values() for e in found if e not in errors]
    for error in errors:
        click.echo(f"rule not loaded: {error}", err=True)
    lateness = timedelta(seconds=allowed_lateness)
    correlator = SequentialCorrelator(bundle.correlations, lateness, keep_events=False)
    loop = DetectionLoop(bundle, correlator)
    found = Detections()
    times = [_event_time(event) for event in events]
    order = evaluation_order(times) if sort_events else range(len(events))
    for index in order:
        loop.event(index, events[index], times[index], found)
        _echo(found)
    correlator.flush(found)
    _echo(found)
    if bundle.correlations.specs:
        untimed, late = correlator.untimed, correlator.engine.stats().late_events
        if untimed or late:
            click.echo(f"correlations skipped {untimed} event(s) without a time, {late} late", err=True)
    if strict and errors:
        sys.exit(1)


@click.group("rules")
def rules() -> None:
    """Validate rules and run their own test events (规则管理)."""


@rules.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--pipeline", "pipeline_name", default="default", show_default=True)
def check(paths: Sequence[Path], pipeline_name: str) -> None:
    """pySigma validators plus the project's checks; exit 1 on any error."""
    from detection.checks import check_rules
    from detection.errors import DetectionError

    try:
        findings = check_rules(list(paths), pipeline_name=pipeline_name)
    except DetectionError as exc:
        raise click.ClickException(str(exc)) from exc
    for finding in findings:
        click.echo(str(finding))
    errors = sum(1 for f in findings if f.severity == "error")
    click.echo(f"{len(findings)} finding(s), {errors} error(s)", err=True)
    if errors:
        sys.exit(1)


@rules.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--pipeline", "pipeline_name", default="default", show_default=True)
@click.option("--require-tests", is_flag=True, help="Fail rules without positive and negative events.")
def test(paths: Sequence[Path], pipeline_name: str, require_tests: bool) -> None:
    """Run each rule's `<rule>.tests.yml` events or correlation sequences; exit 1 on any failure."""
    from detection.checks import run_rule_tests
    from detection.errors import DetectionError

    try:
        outcomes = run_rule_tests(list(paths), pipeline_name=pipeline_name, require_tests=require_tests)
    except DetectionError as exc:
        raise click.ClickException(str(exc)) from exc
    failed = [o for o in outcomes if not o.passed]
    for outcome in outcomes:
        click.echo(str(outcome))
    click.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed", err=True)
    if failed or not outcomes:
        sys.exit(1)
