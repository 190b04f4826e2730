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

import dataclasses
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from soc_api.commands.detect_loop import default_workers, detect_events, detect_lines, flattened
from soc_api.commands.event_stream import read_records, time_ordered

if TYPE_CHECKING:
    pass


def evaluation_order(times: Sequence[datetime | None]) -> list[int]:
    """Input positions sorted by event time, stable; positions without a time last, in input order."""
    timed = sorted((i for i, t in enumerate(times) if t is not None), key=lambda i: (times[i], i))
    return timed + [i for i, t in enumerate(times) if t is None]


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/datasoc/rules`, else `~/.cache/datasoc/rules`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "datasoc" / "rules"


@click.command("detect")
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Rule files or directories; several may follow one --rules (--rules A B C).",
)
@click.argument("more_rules", nargs=-1, type=click.Path(exists=True, path_type=Path), metavar="[PATH]...")
@click.option("--events", "events_source", required=True, help="JSON lines or evtx_dump JSON; - for stdin.")
@click.option("--pipeline", "pipeline_name", default="default", show_default=True, help="Pipeline name.")
@click.option(
    "--logsource",
    "logsource_mode",
    type=click.Choice(["auto", "any"]),
    default="auto",
    show_default=True,
    help="auto: a rule sees only events of its logsource; any: every rule sees every event.",
)
@click.option("--strict", is_flag=True, help="Exit 1 when a rule could not be loaded.")
@click.option(
    "--sort", "sort_events", is_flag=True, help="Evaluate in event-time order (stable), not file order."
)
@click.option(
    "--sort-buffer",
    type=click.FloatRange(min=0, min_open=True),
    default=256.0,
    show_default=True,
    metavar="MIB",
    help="With --sort: events held in memory before sorted runs go to disk.",
)
@click.option(
    "--allowed-lateness",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="How far behind the newest event a correlation still accepts an event.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Compiled-rule cache [default: $XDG_CACHE_HOME/datasoc/rules or ~/.cache/datasoc/rules].",
)
@click.option("--no-cache", is_flag=True, help="Compile every rule from source; read and write no cache.")
@click.option(
    "--stats", "show_stats", is_flag=True, help="Print counts (events, matches, logsource, cache) on stderr."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes that match events [default: the CPUs available, at most 2]; 1: this process only.",
)
def detect(
    rule_paths: Sequence[Path],
    more_rules: Sequence[Path],
    events_source: str,
    pipeline_name: str,
    logsource_mode: str,
    strict: bool,
    sort_events: bool,
    sort_buffer: float,
    allowed_lateness: float,
    cache_dir: Path | None,
    no_cache: bool,
    show_stats: bool,
    workers: int | None,
) -> None:
    """Evaluate Sigma rules over events; one JSON line per match (离线检测).

    Single-event matches give `event_index` N; correlation matches give the sorted list of all their
    events' indexes. N is always the event's 0-based position in the input, also with `--sort`. Event
    time is `@timestamp`, or `TimeCreated_SystemTime` for Windows events.

    A rule is evaluated only on events of its logsource (`--logsource any`: on every event); events
    whose logsource cannot be told (no `datasoc.logsource.*`, not a Windows event) are tried against
    every rule (`--stats` counts them). Events are read, matched and printed as a stream: memory does
    not grow with the input. Compiled rules are cached (`--cache-dir`), so an unchanged rule set
    loads in a fraction of a second.

    Correlations run in event time: an event older than the newest one seen minus
    `--allowed-lateness` is late, counted on stderr and left out of correlations (single-event
    rules still see it). Input merged from several sources is rarely in time order, so `--sort`
    evaluates the events by event time first (a stable sort: ties keep input order; events without
    a time come last, in input order; sorted on disk past `--sort-buffer`), and lines are printed in
    that evaluation order. Without `--sort` events are evaluated in input order, as a stream would
    deliver them.
    """
    from detection.bundle import RuleBundle
    from detection.cache import CacheError, RuleCache
    from detection.engine import Engine, RuleSet
    from detection.errors import DetectionError
    from detection.loop import SequentialCorrelator

    cache: RuleCache | None = None
    if not no_cache:
        try:
            cache = RuleCache(cache_dir or default_cache_dir())
        except CacheError as exc:
            click.echo(f"rule cache not used: {exc}", err=True)
    paths = [*rule_paths, *more_rules]
    try:
        sources, unreadable = RuleSet.read(paths)
        if (
            cache is not None
            and RuleSet.uncached(sources, pipeline=pipeline_name, cache=cache) > COMPILE_APART
        ):
            _compile_apart(paths, pipeline_name, cache.directory)
        loaded = RuleSet.from_texts(sources, pipeline=pipeline_name, cache=cache)
    except (DetectionError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if loaded.cache is not None:
        for line in loaded.cache.rejected:
            click.echo(line, err=True)
    bundle = RuleBundle.from_loaded(loaded)
    if logsource_mode == "any":
        bundle = dataclasses.replace(bundle, engine=Engine(loaded.rules, logsource=False))
    errors = [str(e) for e in [*unreadable, *loaded.errors]]
    errors += [e for found in bundle.errors.values() for e in found if e not in errors]
    for error in errors:
        click.echo(f"rule not loaded: {error}", err=True)
    lateness = timedelta(seconds=allowed_lateness)
    correlator = SequentialCorrelator(bundle.correlations, lateness, keep_events=False)
    try:
        with _open_events(events_source) as stream:
            if sort_events:  # sorted in this process, then matched in order here
                ordered = time_ordered(
                    flattened(read_records(stream)), buffer_bytes=int(sort_buffer * (1 << 20))
                )
                stats = detect_events(ordered, bundle, correlator, sys.stdout, count_logsources=show_stats)
            else:
                stats = detect_lines(
                    stream,
                    bundle,
                    correlator,
                    sys.stdout,
                    workers=workers or default_workers(),
                    count_logsources=show_stats,
                )
    except (DetectionError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if show_stats:
        click.echo(
            f"{stats.events} events, {stats.matches} matches, {len(loaded.rules)} rules; "
            f"{stats.unknown_logsource} event(s) of a logsource that cannot be told "
            f"({'tried against every rule' if bundle.engine.index.logsource_routing else '--logsource any'})",
            err=True,
        )
        if loaded.cache is not None:
            click.echo(loaded.cache.line(), err=True)
    if bundle.correlations.specs:
        untimed, late = correlator.untimed, correlator.engine.stats().late_events
        if untimed or late:
            click.echo(f"correlations skipped {untimed} event(s) without a time, {late} late", err=True)
    if strict and errors:
        sys.exit(1)


#: Above this many rule files to compile, they are compiled in a child process that fills the cache,
#: and this process loads them from it: compiling all of SigmaHQ peaks at about 200 MiB of pySigma
#: objects, which the worker processes would otherwise inherit.
COMPILE_APART = 64


def _fill_cache(paths: list[Path], pipeline_name: str, directory: Path) -> None:
    from detection.cache import RuleCache
    from detection.engine import RuleSet

    RuleSet.load(paths, pipeline=pipeline_name, cache=RuleCache(directory))


def _compile_apart(paths: list[Path], pipeline_name: str, directory: Path) -> None:
    """Compile into the cache in a child process (see `COMPILE_APART`); if it fails, the load that
    follows compiles whatever is missing itself."""
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    child = multiprocessing.get_context(method).Process(  # type: ignore[attr-defined]
        target=_fill_cache, args=(paths, pipeline_name, directory)
    )
    child.start()
    child.join()


@contextmanager
def _open_events(source: str) -> Iterator[IO[bytes]]:
    if source == "-":
        yield sys.stdin.buffer
        return
    with Path(source).open("rb", buffering=1 << 20) as handle:
        yield handle


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
