"""The compiled-rule cache: same rules back, stale and corrupt entries rebuilt, nothing unsafe trusted."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from detection.cache import CacheError, RuleCache, engine_fingerprint
from detection.codec import CodecError, decode, decode_clauses, encode, encode_clauses
from detection.engine import Engine, LoadResult, RuleSet
from detection.index import clauses, ranked
from detection.view import build_view

CMD = """\
title: cmd
id: 6f1d2a8e-4c1b-4b8e-9d55-0000000000c1
logsource: {product: windows, category: process_creation}
detection:
    sel:
        Image|endswith: '\\\\cmd.exe'
        CommandLine|re: 'wh[o0]ami'
    filter:
        User: null
    condition: sel and not filter
"""
SHAPES = """\
title: every kind of value
id: 6f1d2a8e-4c1b-4b8e-9d55-0000000000c2
name: shapes
logsource: {product: datasoc, category: data_access}
detection:
    a:
        data.records|gte: 10
        source.ip|cidr: 10.0.0.0/8
        '@timestamp|hour': 3
        flag: true
        user.name|fieldref: user.target.name
        approval.id|exists: false
    b:
        event.action|contains|all: ['data', 'set']
        url.path|startswith: '/api'
        host.name: 'h?st*'
        tags|cased: CaseSensitive
    keywords:
        - 'mimikatz'
        - 4104
    condition: a or b or keywords
"""
EVENTS = [
    {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "c:\\CMD.exe", "User": "u",
     "CommandLine": "whoami"},
    {"Image": "c:\\cmd.exe", "CommandLine": "wh0ami /all"},
    {"Image": "c:\\cmd.exe", "CommandLine": "whoami", "User": None},
    {"data.records": 12, "source.ip": "10.1.2.3", "@timestamp": "2026-01-01T03:04:05Z", "flag": True,
     "user.name": "a", "user.target.name": "a"},
    {"event.action": "dataset.query", "url.path": "/api/x", "host.name": "host-1", "tags": "CaseSensitive"},
    {"message": "Invoke-Mimikatz", "n": 4104},
    {"event.action": "dataset.query"},
]  # fmt: skip


def _files(tmp_path: Path, **texts: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    for name, text in texts.items():
        (rules / f"{name}.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    return rules


def _load(rules: Path, cache: RuleCache | None, pipeline: str = "default") -> LoadResult:
    return RuleSet.load([rules], pipeline=pipeline, cache=cache)


def _summary(loaded: LoadResult) -> list[tuple[object, ...]]:
    engine = Engine(loaded.rules)
    matches = [[r.id for r in engine.match(event)] for event in EVENTS]
    rules = [(r.id, r.name, r.title, r.level, r.tags, r.logsource, r.output, r.node) for r in loaded.rules]
    return [*rules, tuple(map(tuple, matches)), tuple(str(e) for e in loaded.errors)]


def test_a_cached_load_gives_the_rules_a_compilation_gives(tmp_path: Path) -> None:
    rules = _files(tmp_path, cmd=CMD, shapes=SHAPES, broken=CMD.replace("endswith", "bogus"))
    expected = _summary(_load(rules, None))
    cache = RuleCache(tmp_path / "cache")
    cold = _load(rules, cache)
    assert cold.cache is not None
    assert (cold.cache.hits, cold.cache.misses, cold.cache.written) == (0, 3, 3)
    assert _summary(cold) == expected
    warm = _load(rules, cache)
    assert warm.cache is not None
    assert (warm.cache.hits, warm.cache.misses, warm.cache.written) == (3, 0, 0)
    assert _summary(warm) == expected
    assert any("bogus" in str(e) for e in warm.errors)  # errors come back too, with their file
    assert sum(1 for e in expected[-1] if "broken.yml" in str(e)) >= 1  # type: ignore[union-attr]


def test_a_cached_rule_parses_again_for_its_pysigma_form(tmp_path: Path) -> None:
    rules = _files(tmp_path, shapes=SHAPES)
    cache = RuleCache(tmp_path / "cache")
    _load(rules, cache)
    (rule,) = _load(rules, cache).rules
    assert rule.sigma.title == "every kind of value"


def test_a_changed_file_rebuilds_its_entry_only(tmp_path: Path) -> None:
    rules = _files(tmp_path, cmd=CMD, shapes=SHAPES)
    cache = RuleCache(tmp_path / "cache")
    _load(rules, cache)
    (rules / "cmd.yml").write_text(CMD.replace("cmd.exe", "pwsh.exe"), encoding="utf-8")
    again = _load(rules, cache)
    assert again.cache is not None
    assert (again.cache.hits, again.cache.misses) == (1, 1)
    assert Engine(again.rules).match({**EVENTS[0], "Image": "c:\\pwsh.exe"})


def test_another_pipeline_or_configuration_is_another_entry(tmp_path: Path) -> None:
    rules = _files(tmp_path, cmd=CMD)
    cache = RuleCache(tmp_path / "cache")
    _load(rules, cache, "sysmon")
    other = _load(rules, cache, "none")
    assert other.cache is not None
    assert other.cache.misses == 1
    # `none` adds no Channel condition: a flat event without one matches only here.
    flat = {"Image": "c:\\cmd.exe", "CommandLine": "wh0ami /all", "User": "u"}
    assert Engine(other.rules).match(flat)
    assert not Engine(_load(rules, cache, "sysmon").rules).match(flat)
    assert len(engine_fingerprint()) == 64


def _entries(cache_dir: Path) -> list[Path]:
    return [p for p in cache_dir.glob("??/*") if p.is_file()]


def test_a_corrupt_entry_is_reported_and_rebuilt(tmp_path: Path) -> None:
    rules = _files(tmp_path, cmd=CMD)
    cache = RuleCache(tmp_path / "cache")
    expected = _summary(_load(rules, cache))
    for bundle in (tmp_path / "cache" / "bundles").iterdir():
        bundle.unlink()  # so the per-file entry is what is read
    (entry,) = _entries(tmp_path / "cache")
    data = bytearray(entry.read_bytes())
    data[-5] ^= 0x20
    entry.write_bytes(bytes(data))
    again = _load(rules, cache)
    assert again.cache is not None
    assert again.cache.misses == 1
    assert any("HMAC" in line for line in again.cache.rejected)
    assert _summary(again) == expected
    assert _load(rules, cache).cache.hits == 1  # type: ignore[union-attr]


def test_an_entry_written_without_the_key_is_never_used(tmp_path: Path) -> None:
    """Whatever is planted in the directory (a pickle, another cache's entry) fails the HMAC."""
    rules = _files(tmp_path, cmd=CMD)
    cache = RuleCache(tmp_path / "cache")
    _load(rules, cache)
    for bundle in (tmp_path / "cache" / "bundles").iterdir():
        bundle.unlink()
    (entry,) = _entries(tmp_path / "cache")
    other = RuleCache(tmp_path / "other")  # same format, another key
    other.write(entry.name, [b'{"rules": [], "errors": []}'])
    entry.write_bytes((tmp_path / "other" / entry.parent.name / entry.name).read_bytes())
    again = _load(rules, cache)
    assert len(again.rules) == 1
    assert again.cache is not None
    assert again.cache.misses == 1


def test_an_authentic_entry_that_does_not_decode_is_rebuilt(tmp_path: Path) -> None:
    rules = _files(tmp_path, cmd=CMD)
    cache = RuleCache(tmp_path / "cache")
    _load(rules, cache)
    for bundle in (tmp_path / "cache" / "bundles").iterdir():
        bundle.unlink()
    (entry,) = _entries(tmp_path / "cache")
    cache.write(entry.name, [b"\x80\x04K\x01."])  # pickle bytes, properly authenticated: still data only
    again = _load(rules, cache)
    assert len(again.rules) == 1
    assert again.cache is not None
    assert any("unreadable" in line for line in again.cache.rejected)


def test_a_corrupt_bundle_falls_back_to_the_entries(tmp_path: Path) -> None:
    rules = _files(tmp_path, cmd=CMD, shapes=SHAPES)
    cache = RuleCache(tmp_path / "cache")
    expected = _summary(_load(rules, cache))
    (bundle,) = (tmp_path / "cache" / "bundles").iterdir()
    bundle.write_bytes(bundle.read_bytes()[:-3])
    again = _load(rules, cache)
    assert again.cache is not None
    assert again.cache.hits == 2
    assert again.cache.rejected
    assert _summary(again) == expected


def test_only_the_newest_bundles_are_kept(tmp_path: Path) -> None:
    rules = _files(tmp_path, cmd=CMD)
    cache = RuleCache(tmp_path / "cache")
    for n in range(7):
        (rules / "cmd.yml").write_text(CMD.replace("cmd.exe", f"cmd{n}.exe"), encoding="utf-8")
        _load(rules, cache)
    assert len(list((tmp_path / "cache" / "bundles").iterdir())) == 4


def test_files_and_directories_are_private(tmp_path: Path) -> None:
    rules = _files(tmp_path, cmd=CMD)
    _load(rules, RuleCache(tmp_path / "cache"))
    for path in [tmp_path / "cache", *(tmp_path / "cache").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


@pytest.mark.parametrize("target", ["cache", "cache/key"])
def test_a_cache_others_can_write_is_refused(tmp_path: Path, target: str) -> None:
    RuleCache(tmp_path / "cache")
    os.chmod(tmp_path / target, 0o770 if target == "cache" else 0o644)
    with pytest.raises(CacheError, match="group or others"):
        RuleCache(tmp_path / "cache")


def test_the_environment_names_the_default_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = _files(tmp_path, cmd=CMD)
    monkeypatch.setenv("DATASOC_RULE_CACHE", str(tmp_path / "env-cache"))
    first = RuleSet.load([rules], pipeline="default")
    assert first.cache is not None
    assert first.cache.written == 1
    assert RuleSet.load([rules], pipeline="default").cache.hits == 1  # type: ignore[union-attr]
    monkeypatch.delenv("DATASOC_RULE_CACHE")
    assert RuleSet.load([rules], pipeline="default").cache is None
    (tmp_path / "bad").mkdir(mode=0o777)
    os.chmod(tmp_path / "bad", 0o777)
    reported: list[str] = []
    assert (
        RuleCache.from_environment({"DATASOC_RULE_CACHE": str(tmp_path / "bad")}, report=reported.append)
        is None
    )
    assert reported


CORRELATED = """\
title: failed login
id: 6f1d2a8e-4c1b-4b8e-9d55-0000000000d1
name: failed_login
logsource: {product: datasoc, category: authentication}
detection:
    selection:
        event.action: auth.login
        event.outcome: failure
    condition: selection
"""
CORRELATION = """\
title: burst
id: 6f1d2a8e-4c1b-4b8e-9d55-0000000000d2
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [user.name]
    timespan: 1m
    condition: {gte: 3}
"""


def test_rules_a_correlation_references_are_compiled_with_it(tmp_path: Path) -> None:
    rules = _files(tmp_path, base=CORRELATED)
    cache = RuleCache(tmp_path / "cache")
    alone = _load(rules, cache)
    assert alone.rule("failed_login").output  # cached as a rule of its own
    (rules / "zz_burst.yml").write_text(CORRELATION, encoding="utf-8")
    together = _load(rules, cache)
    assert together.cache is not None
    assert together.cache.misses == 2  # the correlation's file, and the base rule's (generate: false)
    assert not together.rule("failed_login").output
    assert len(together.correlations) == 1
    assert _load(rules, cache).cache.misses == 2  # type: ignore[union-attr]


def test_a_meta_filter_uses_no_cached_entry(tmp_path: Path) -> None:
    rules = _files(tmp_path, cmd=CMD)
    cache = RuleCache(tmp_path / "cache")
    _load(rules, cache)
    (rules / "filter.yml").write_text(
        textwrap.dedent(
            """\
            title: not admin
            filter:
                rules: [6f1d2a8e-4c1b-4b8e-9d55-0000000000c1]
                selection:
                    User: admin
                condition: not selection
            logsource: {product: windows, category: process_creation}
            """
        ),
        encoding="utf-8",
    )
    filtered = _load(rules, cache, "none")
    assert filtered.cache is not None
    assert filtered.cache.hits == 0
    event = {"Image": "c:\\cmd.exe", "CommandLine": "whoami", "User": "admin"}
    assert not Engine(filtered.rules).match(event)
    assert Engine(filtered.rules).match({**event, "User": "bob"})


def test_codec_round_trip_and_refusals(tmp_path: Path) -> None:
    loaded = _load(_files(tmp_path, cmd=CMD, shapes=SHAPES), None)
    for rule in loaded.rules:
        encoded = json.loads(json.dumps(encode(rule.node)))
        assert decode(encoded) == rule.node
        found = ranked(clauses(rule.node))
        assert decode_clauses(json.loads(json.dumps(encode_clauses(found)))) == found
    for bad in (
        [],
        ["S", None, "eq"],
        ["S", "f", "nope", ["a"], False, ""],
        ["X", 1],
        ["&", [["K", 1]]],
        "x",
    ):
        with pytest.raises(CodecError):
            decode(bad)


def test_the_view_does_not_depend_on_the_cache(tmp_path: Path) -> None:
    # A sanity check on what the summaries compare: events built into views the same way.
    assert build_view({"a": 1})[1] == {"a": "1"}


def test_a_registry_pipeline_object_shares_the_entries_of_its_name(tmp_path: Path) -> None:
    from sigma.processing.pipeline import ProcessingPipeline

    from detection.pipelines import resolve_pipeline

    rules = _files(tmp_path, cmd=CMD)
    cache = RuleCache(tmp_path / "cache")
    _load(rules, cache, "sysmon")
    by_object = RuleSet.load([rules], pipeline=resolve_pipeline("sysmon"), cache=cache)
    assert by_object.cache is not None
    assert by_object.cache.hits == 1  # the job hands objects, `datasoc detect` names: one entry
    # A pipeline built elsewhere has no stable identity (pySigma names its conditions at random).
    custom = RuleSet.load([rules], pipeline=ProcessingPipeline(), cache=cache)
    assert custom.cache is not None
    assert custom.cache.misses == 1
    assert "not one of detection.pipelines" in custom.cache.rejected[0]
    assert len(custom.rules) == 1


def test_the_stream_jobs_rule_bundles_compile_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detection.bundle import compile_bundle
    from detection.pipelines import resolve_pipeline
    from detection.stream.rules import RuleChange, apply_change

    monkeypatch.setenv("DATASOC_RULE_CACHE", str(tmp_path / "cache"))
    texts = {"cmd.yml": CMD, "shapes.yml": SHAPES}
    first = compile_bundle(texts, resolve_pipeline("default"))
    entries = {p: p.stat().st_mtime_ns for p in _entries(tmp_path / "cache")}
    assert len(entries) == 2
    again = compile_bundle(texts, resolve_pipeline("default"))  # start-up after a restart
    assert [r.id for r in again.engine.rules] == [r.id for r in first.engine.rules]
    assert {p: p.stat().st_mtime_ns for p in _entries(tmp_path / "cache")} == entries  # nothing rebuilt
    change = RuleChange(version=2, put={"cmd.yml": CMD.replace("cmd.exe", "pwsh.exe")})
    bundle, outcome = apply_change(texts, change, resolve_pipeline("default"))  # hot reload
    assert outcome.accepted == ("cmd.yml",)
    after = _entries(tmp_path / "cache")
    assert len(after) == 3  # one new entry, for the changed rule only
    assert all(p.stat().st_mtime_ns == entries[p] for p in after if p in entries)
    assert bundle.engine.match({**EVENTS[0], "Image": "c:\\pwsh.exe"})
