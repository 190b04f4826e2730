"""`datasoc hunt`: Sigma rules (the pack, or given ones) over the configured store's history.

Command object for the registry: `hunt`.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from datasoc.errors import DatasocError


def _time(value: str, name: str) -> datetime:
    from datasoc.event import parse_timestamp

    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


@click.command("hunt")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir.")
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Rule files or directories (default: detection.rules, else the project's pack).",
)
@click.option("--since", required=True, help="Start of the range, RFC 3339 (inclusive).")
@click.option("--until", required=True, help="End of the range, RFC 3339 (exclusive).")
@click.option("--pipeline", default=None, help="pySigma pipeline (default: detection.pipeline).")
@click.option("--summary/--no-summary", default=True, help="How each rule ran, on stderr.")
def hunt(
    config: Path | None,
    data_dir: Path | None,
    rule_paths: tuple[Path, ...],
    since: str,
    until: str,
    pipeline: str | None,
    summary: bool,
) -> None:
    """Retro-hunt (回溯狩猎): run rules over stored events; one JSON line per hit.

    On OpenSearch/Elasticsearch each rule that pySigma's backend converts pre-selects candidates in
    the engine; datasoc's engine decides on every candidate, so every store gives the same hits.
    Correlation rules run over their base rules' matches, in event time order.
    """
    from detection.engine import RuleSet
    from detection.hunt import StoreSource, convert_rules
    from detection.hunt import hunt as run_hunt
    from detection.pipelines import resolve_pipeline
    from soc_api.commands.platform import _settings
    from soc_api.platform import open_store, rule_roots

    start, end = _time(since, "--since"), _time(until, "--until")
    if end <= start:
        raise click.BadParameter("must be after --since", param_hint="--until")
    settings = _settings(config, data_dir)
    name = pipeline or settings.detection.pipeline
    roots = list(rule_paths) or rule_roots(settings)
    try:
        loaded = RuleSet.load(roots, pipeline=resolve_pipeline(name))
        for error in loaded.errors:
            click.echo(f"rule not loaded: {error}", err=True)
        with open_store(settings) as store:
            source = StoreSource(store)
            conversions = (
                convert_rules(roots, source.dialect, lambda: resolve_pipeline(name)) if source.dialect else {}
            )
            report = run_hunt(loaded, conversions, source, start, end)
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    for hit in report.hits:
        line = {
            "rule_id": hit.rule_id,
            "rule_title": hit.rule_title,
            "event_ids": list(hit.event_ids),
            "first_seen": hit.first_seen.isoformat(),
            "last_seen": hit.last_seen.isoformat(),
            "correlation": hit.correlation,
        }
        click.echo(json.dumps(line, ensure_ascii=False))
    if summary:
        ways: dict[str, int] = {}
        for run in report.runs:
            ways[run.how] = ways.get(run.how, 0) + 1
        shown = ", ".join(f"{how} {count}" for how, count in sorted(ways.items()))
        print(
            f"{len(report.hits)} hits; rules by {shown}; {report.scanned} events scanned "
            f"({settings.store.backend})",
            file=sys.stderr,
        )
        for run in report.runs:
            if run.how == "scan" and source.dialect:
                print(f"  scanned {run.rule_id} {run.title}: {run.reason}", file=sys.stderr)
