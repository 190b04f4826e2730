"""`RuleSet.load` with a compiled-rule cache (`detection.cache`): which files come from where.

Per rule file an entry holds what compiling it gave (metadata, encoded conditions and clauses, load
errors). A load whose files all had entries (or got them now) and holds no correlation or filter also
writes a bundle: every entry of the load in one file, named by all their keys, so the next identical
load is one read and one HMAC instead of one per file. A changed file changes the bundle's name: its
entry is rebuilt, the other entries are read one by one, and a new bundle is written (the four newest
are kept). See `detection.loader` for what is always compiled from source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from detection.cache import CacheReport, RuleCache, entry_key, load_context
from detection.codec import CodecError, encode, encode_clauses
from detection.errors import RuleLoadError
from detection.loader import LoadResult, _by_key, _compile, _pipeline_id
from detection.logsource import RuleLogsource
from detection.rule import CompiledRule

if TYPE_CHECKING:
    from sigma.processing.pipeline import ProcessingPipeline
    from sigma.rule import SigmaRule

_UNREADABLE = (CodecError, ValueError, KeyError, TypeError, IndexError)


@dataclass(frozen=True)
class _Entry:
    """A rule file as read back from its cache entry."""

    rules: tuple[CompiledRule, ...]
    errors: tuple[RuleLoadError, ...]
    keys: frozenset[str]
    lines: tuple[bytes, ...]


class _Reparse:
    """How a cached rule gets its pySigma form back, on demand: its file parsed again."""

    __slots__ = ("_config", "_path", "_pipeline", "_text")

    def __init__(
        self, path: Path | None, text: str, pipeline: ProcessingPipeline | str | None, config: Any
    ) -> None:
        self._path, self._text, self._pipeline, self._config = path, text, pipeline, config

    def rule(self, position: int) -> Callable[[], SigmaRule]:
        def load() -> SigmaRule:
            compiled = _compile([(self._path, self._text)], self._pipeline, self._config)
            return compiled.result.rules[position].sigma

        return load


def load_cached(
    sources: Sequence[tuple[Path | None, str]],
    pipeline: ProcessingPipeline | str | None,
    config: Mapping[str, str] | None,
    cache: RuleCache,
) -> LoadResult:
    """Load `sources` through `cache` (see module docstring)."""
    report = CacheReport(cache.directory)
    cache.set_report(report.rejected.append)
    pipeline_id = _pipeline_id(pipeline)
    if pipeline_id is None:
        report.misses = len(sources)
        report.rejected.append("rule cache not used: the pipeline is not one of detection.pipelines")
        full = _compile(sources, pipeline, config).result
        return LoadResult(full.rules, full.correlations, full.errors, full.by_key, report)
    context = load_context(pipeline_id, config)
    keys = [entry_key(context, path, text) for path, text in sources]
    bundle = _bundle_key(context, keys)
    found = _read_bundle(cache, bundle, sources, pipeline, config)
    if found is not None:
        report.hits = len(sources)
        bundled = [rule for entry in found for rule in entry.rules]
        problems = tuple(error for entry in found for error in entry.errors)
        return LoadResult(tuple(bundled), (), problems, _by_key(bundled), report)
    counts: dict[Path | None, int] = {}
    for path, _ in sources:
        counts[path] = counts.get(path, 0) + 1
    hits: dict[int, _Entry] = {}
    for position, ((path, text), key) in enumerate(zip(sources, keys, strict=True)):
        lines = cache.read(key)
        if lines is None:
            continue
        try:
            hits[position] = _read_entry(lines, path, _Reparse(path, text, pipeline, config))
        except _UNREADABLE as exc:
            cache.reject(key, f"unreadable: {type(exc).__name__}: {str(exc)[:200]}")
    while True:
        missing = [sources[p] for p in range(len(sources)) if p not in hits]
        compiled = _compile(missing, pipeline, config) if missing else None
        if compiled is not None and compiled.has_filters:
            # A meta filter changes rules of other files: nothing cached can be trusted here.
            full = _compile(sources, pipeline, config).result
            report.misses = len(sources)
            return LoadResult(full.rules, full.correlations, full.errors, full.by_key, report)
        referenced = compiled.referenced if compiled is not None else frozenset()
        stale = [p for p, entry in hits.items() if entry.keys & referenced]
        if not stale:
            break
        for position in stale:  # a correlation decides whether these rules alert: compile them
            del hits[position]
    report.hits, report.misses = len(hits), len(sources) - len(hits)
    by_path: dict[Path | None, list[CompiledRule]] = {}
    errors_by_path: dict[Path | None, list[RuleLoadError]] = {}
    if compiled is not None:
        for rule in compiled.result.rules:
            by_path.setdefault(rule.source, []).append(rule)
        for error in compiled.result.errors:
            errors_by_path.setdefault(error.file, []).append(error)
    rules: list[CompiledRule] = []
    errors: list[RuleLoadError] = []
    entries: list[_Entry] = []
    for position, (path, text) in enumerate(sources):
        entry = hits.get(position)
        if entry is None:
            mine, my_errors = by_path.pop(path, []), errors_by_path.pop(path, [])
            writable = (
                compiled is not None
                and path is not None
                and counts[path] == 1
                and path in compiled.plain
                and not any(_names(rule) & compiled.referenced for rule in mine)
            )
            if not writable:
                rules.extend(mine)
                errors.extend(my_errors)
                continue
            try:
                lines = _entry_lines(mine, my_errors)
                cache.write(keys[position], lines)
                report.written += 1
            except (OSError, CodecError) as exc:
                report.rejected.append(f"rule cache entry for {path} not written: {exc}")
                rules.extend(mine)
                errors.extend(my_errors)
                continue
            # From now on the rules as a later run reads them back: the same code path, and the
            # pySigma objects (most of a cold load's memory) can go.
            entry = _read_entry(lines, path, _Reparse(path, text, pipeline, config))
        entries.append(entry)
        rules.extend(entry.rules)
        errors.extend(entry.errors)
    for leftover in errors_by_path.values():  # errors of no known file (None paths)
        errors.extend(leftover)
    correlations = compiled.result.correlations if compiled is not None else ()
    if len(entries) == len(sources) and not correlations:
        _write_bundle(cache, bundle, entries, report)
    return LoadResult(tuple(rules), correlations, tuple(errors), _by_key(rules), report)


def pending(
    sources: Sequence[tuple[Path | None, str]],
    pipeline: ProcessingPipeline | str | None,
    config: Mapping[str, str] | None,
    cache: RuleCache,
) -> int:
    """How many sources have no entry file (0 when the load's bundle is there); not verified."""
    pipeline_id = _pipeline_id(pipeline)
    if pipeline_id is None:
        return len(sources)
    context = load_context(pipeline_id, config)
    keys = [entry_key(context, path, text) for path, text in sources]
    if cache.has(_bundle_key(context, keys), bundle=True):
        return 0
    return sum(1 for key in keys if not cache.has(key))


def _bundle_key(context: str, keys: Sequence[str]) -> str:
    digest = hashlib.sha256(b"bundle\0" + context.encode())
    for key in keys:
        digest.update(b"\0" + key.encode())
    return digest.hexdigest()


def _read_bundle(
    cache: RuleCache,
    key: str,
    sources: Sequence[tuple[Path | None, str]],
    pipeline: ProcessingPipeline | str | None,
    config: Mapping[str, str] | None,
) -> list[_Entry] | None:
    lines = cache.read(key, bundle=True)
    if lines is None:
        return None
    try:
        sizes = orjson.loads(lines[0])
        if sizes.__class__ is not list or len(sizes) != len(sources) or sum(sizes) != len(lines) - 1:
            raise ValueError("the bundle does not hold one entry per file")
        entries, start = [], 1
        for size, (path, text) in zip(sizes, sources, strict=True):
            entries.append(
                _read_entry(lines[start : start + size], path, _Reparse(path, text, pipeline, config))
            )
            start += size
    except _UNREADABLE as exc:
        cache.reject(key, f"unreadable: {type(exc).__name__}: {str(exc)[:200]}", bundle=True)
        return None
    return entries


def _write_bundle(cache: RuleCache, key: str, entries: Sequence[_Entry], report: CacheReport) -> None:
    lines = [orjson.dumps([len(entry.lines) for entry in entries])]
    for entry in entries:
        lines.extend(entry.lines)
    try:
        cache.write(key, lines, bundle=True)
    except OSError as exc:
        report.rejected.append(f"rule cache bundle not written: {exc}")


def _names(rule: CompiledRule) -> set[str]:
    return {key for key in (rule.id, rule.name) if key}


def _entry_lines(rules: Sequence[CompiledRule], errors: Sequence[RuleLoadError]) -> list[bytes]:
    meta = {
        "rules": [
            {
                "id": rule.id,
                "name": rule.name,
                "title": rule.title,
                "level": rule.level,
                "tags": list(rule.tags),
                "logsource": [rule.logsource.product, rule.logsource.service, rule.logsource.category],
                "output": rule.output,
                "constraints": {f: sorted(v) for f, v in rule.constraints.items()},
            }
            for rule in rules
        ],
        "errors": [[error.line, error.reason] for error in errors],
    }
    nodes = [orjson.dumps(encode(rule.node)) for rule in rules]
    return [orjson.dumps(meta), *nodes, *(orjson.dumps(encode_clauses(rule.clauses)) for rule in rules)]


def _optional(value: Any) -> str | None:
    if value is not None and value.__class__ is not str:
        raise TypeError("expected a string or null")
    return value


_LOGSOURCES: dict[tuple[Any, Any, Any], RuleLogsource] = {}


def _logsource(product: Any, service: Any, category: Any) -> RuleLogsource:
    """One object per distinct logsource (SigmaHQ has a few hundred for 3,700 rules)."""
    key = (product, service, category)
    found = _LOGSOURCES.get(key)
    if found is None:
        found = _LOGSOURCES[key] = RuleLogsource(_optional(product), _optional(service), _optional(category))
    return found


def _read_entry(lines: Sequence[bytes], path: Path | None, reparse: _Reparse) -> _Entry:
    meta = orjson.loads(lines[0])
    specs = meta["rules"]
    count = len(specs)
    if len(lines) != 2 * count + 1:
        raise ValueError(f"{count} rules but {len(lines) - 1} lines of conditions and clauses")
    rules: list[CompiledRule] = []
    for position, spec in enumerate(specs):
        tags = spec["tags"]
        if tags.__class__ is not list or not set(map(type, tags)) <= {str}:
            raise TypeError("tags must be strings")
        constraints = spec["constraints"]
        rules.append(
            CompiledRule(
                id=str(spec["id"]),
                name=_optional(spec["name"]),
                title=str(spec["title"]),
                level=_optional(spec["level"]),
                tags=tuple(tags),
                logsource=_logsource(*spec["logsource"]),
                source=path,
                output=spec["output"] is True,
                encoded=lines[position + 1],
                encoded_clauses=lines[count + position + 1],
                constraints={str(f): frozenset(map(str, v)) for f, v in constraints.items()}
                if constraints
                else {},
                sigma_loader=reparse.rule(position),
            )
        )
    errors = tuple(RuleLoadError(path, _line(line), str(reason)) for line, reason in meta["errors"])
    keys = frozenset(key for rule in rules for key in _names(rule))
    return _Entry(tuple(rules), errors, keys, tuple(lines))


def _line(value: Any) -> int | None:
    if value is not None and value.__class__ is not int:
        raise TypeError("expected a line number or null")
    return value
