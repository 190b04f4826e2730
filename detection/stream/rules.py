"""Rule changes for the job's broadcast stream, and applying one to the active rule texts. Pure.

A rule change is one JSON line written by the platform (`soc_api.stream.rules.RuleChangeWriter`):

    {"version": 7, "put": {"<rule key>": "<Sigma YAML>", ...}, "disable": ["<rule key>", ...]}

`put` adds or replaces rules, `disable` removes them. Keys are the rule store's names (a file name,
a rule id); they are also the `file` of every load error, so an error always names its rule.
Per-rule validation: a put whose rule fails to load (or whose correlation cannot run in the stream)
is rejected with its error and the previous version of that rule, if any, stays active; the other
rules of the change still apply. Nothing is dropped silently: every rejection is in the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sigma.processing.pipeline import ProcessingPipeline

from detection.bundle import RuleBundle, compile_bundle
from detection.errors import DetectionError


class RuleChangeError(DetectionError, ValueError):
    """A rule-change line is not valid; names the position in the change stream."""


@dataclass(frozen=True)
class RuleChange:
    """One change of the active rule set (see module docstring)."""

    version: int
    put: Mapping[str, str] = field(default_factory=dict)
    disable: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, line: str, *, where: str = "rule change") -> RuleChange:
        """Parse and check one JSON line; raises `RuleChangeError` naming what is wrong."""
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise RuleChangeError(f"{where}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise RuleChangeError(f"{where}: must be a JSON object")
        unknown = sorted(set(data) - {"version", "put", "disable"})
        if unknown:
            raise RuleChangeError(f"{where}: unknown keys {unknown}")
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise RuleChangeError(f"{where}: version must be a positive integer, got {version!r}")
        put = data.get("put", {})
        if not isinstance(put, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in put.items()
        ):
            raise RuleChangeError(f"{where}: put must map rule keys to YAML texts")
        disable = data.get("disable", [])
        if not isinstance(disable, list) or not all(isinstance(k, str) and k for k in disable):
            raise RuleChangeError(f"{where}: disable must be a list of rule keys")
        return cls(version=version, put=dict(put), disable=tuple(disable))

    def to_json(self) -> str:
        """The one-line wire form."""
        return json.dumps(
            {"version": self.version, "put": dict(self.put), "disable": list(self.disable)},
            ensure_ascii=False,
            sort_keys=True,
        )


@dataclass(frozen=True)
class ChangeOutcome:
    """What a change did: accepted and disabled keys, and each rejected key with its errors."""

    version: int
    accepted: tuple[str, ...]
    disabled: tuple[str, ...]
    rejected: Mapping[str, tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        """Wire form for the job's health output."""
        return {
            "kind": "rule_change",
            "version": self.version,
            "accepted": list(self.accepted),
            "disabled": list(self.disabled),
            "rejected": {k: list(v) for k, v in sorted(self.rejected.items())},
        }


def apply_change(
    current: Mapping[str, str], change: RuleChange, pipeline: ProcessingPipeline | None
) -> tuple[RuleBundle, ChangeOutcome]:
    """Apply `change` to the active texts; a put that fails keeps the previous version of its rule."""
    candidate = {k: v for k, v in current.items() if k not in change.disable}
    candidate.update(change.put)
    bundle = compile_bundle(candidate, pipeline)
    rejected = {k: bundle.errors[k] for k in change.put if k in bundle.errors}
    if rejected:
        for key in rejected:
            if key in current:
                candidate[key] = current[key]
            else:
                del candidate[key]
        bundle = compile_bundle(candidate, pipeline)
    outcome = ChangeOutcome(
        version=change.version,
        accepted=tuple(sorted(k for k in change.put if k not in rejected)),
        disabled=tuple(sorted(k for k in change.disable if k in current)),
        rejected=rejected,
    )
    return bundle, outcome
