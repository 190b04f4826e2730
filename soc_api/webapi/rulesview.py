"""What the console shows of the rules: the files under the configured rule roots, their tests
(`<name>.tests.yml` beside each rule: `positive` and `negative` events) and per-rule health
figures from the running engine (matches, errors, evaluation time), keyed by the rule reference
the engines use (`detection.loop.rule_ref`: id, else name, else title).

Reading is pure over the files it is given; the engine's figures come through a callable chosen
by the composition root (`soc_api.platform.api_services`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from detection.loader import rule_files

#: Detection keys that are not field selections.
_NOT_FIELDS = frozenset({"condition", "timeframe"})


@dataclass(frozen=True, slots=True)
class RuleFigures:
    """One rule's figures since its engine started."""

    matches: int = 0
    errors: int = 0
    nanos: int = 0


@dataclass(frozen=True, slots=True)
class EngineHealth:
    """What the engine reports: figures per rule reference, and rule files it refused with why."""

    engine: str
    #: Events the engine has evaluated since it started (None: unknown), for time per event.
    evaluated: int | None = None
    figures: Mapping[str, RuleFigures] = field(default_factory=dict)
    rejected: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """One rule file as the console lists it."""

    key: str
    ref: str
    title: str
    level: str
    status: str
    kind: str
    tags: tuple[str, ...]
    description: str
    fields: tuple[str, ...]
    text: str
    tests_text: str | None
    positive: int
    negative: int

    @classmethod
    def from_text(cls, key: str, text: str, tests_text: str | None) -> RuleInfo:
        """Read a Sigma rule's metadata (an unreadable file is listed with its problem as title)."""
        try:
            data: Any = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            data = {"title": f"unreadable YAML: {str(exc)[:200]}"}
        if not isinstance(data, dict):
            data = {"title": "not a Sigma rule (not a mapping)"}
        tests: Any = {}
        if tests_text is not None:
            try:
                tests = yaml.safe_load(tests_text) or {}
            except yaml.YAMLError:
                tests = {}
        if not isinstance(tests, dict):
            tests = {}
        title = str(data.get("title") or key)
        ref = str(data.get("id") or data.get("name") or title)
        kind = "correlation" if "correlation" in data else "single"
        tags = data.get("tags")
        return cls(
            key=key,
            ref=ref,
            title=title,
            level=str(data.get("level") or ""),
            status=str(data.get("status") or ""),
            kind=kind,
            tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            description=str(data.get("description") or "").strip(),
            fields=tuple(detection_fields(data.get("detection"))),
            text=text,
            tests_text=tests_text,
            positive=len(tests.get("positive") or ()),
            negative=len(tests.get("negative") or ()),
        )


def detection_fields(detection: Any) -> list[str]:
    """Field names a rule's detection tests, modifiers stripped (`a.b|contains` -> `a.b`), in order."""
    found: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                name = str(key).split("|", 1)[0]
                if name and name not in _NOT_FIELDS and not isinstance(value, dict):
                    found.setdefault(name, None)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, dict):
                    walk(item)

    if isinstance(detection, dict):
        for key, value in detection.items():
            if key not in _NOT_FIELDS:
                walk(value)
    return list(found)


def read_rules(roots: Sequence[Path]) -> list[RuleInfo]:
    """Every rule file under `roots` (keys as the engines name them: path relative to its root)."""
    rules = []
    for root in roots:
        for file in rule_files([root]):
            key = str(file.relative_to(root)) if root.is_dir() else file.name
            tests = file.with_name(file.name.removesuffix(".yml").removesuffix(".yaml") + ".tests.yml")
            rules.append(
                RuleInfo.from_text(
                    key,
                    file.read_text(encoding="utf-8"),
                    tests.read_text(encoding="utf-8") if tests.is_file() else None,
                )
            )
    return sorted(rules, key=lambda r: r.key)


@dataclass(frozen=True)
class RulesView:
    """The rule files (read when asked: they change on disk) and the engine's health."""

    roots: tuple[Path, ...]
    health: Callable[[], EngineHealth]

    def rules(self) -> list[RuleInfo]:
        """Every rule file, sorted by key."""
        return read_rules(self.roots)
