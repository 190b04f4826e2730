"""`datasoc bench discovery`: precision and recall of sensitive-data discovery on generated values.

For each kind, the same number of valid values and near misses (a wrong check digit or character, an
impossible birth date with a correct check digit, a landline, a letter and seven digits, an address
without a street; `soc_api.governance.samples`), plus every other kind's values as further negatives.
Discovery (`soc_api.governance.discovery.kinds_of`: check digits and dates through python-stdnum) is
compared in the same run with what a user would write instead: the format alone, as a regular
expression (`BASELINE`), which takes every near miss of the right shape for the real thing.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Final

from soc_api.governance.discovery import kinds_of
from soc_api.governance.samples import MAKERS

#: The format alone (what a spreadsheet filter or a DLP regex list usually is).
BASELINE: Final[dict[str, re.Pattern[str]]] = {
    "resident_id": re.compile(r"\d{17}[\dXx]"),
    "bank_card": re.compile(r"\d{16}|\d{19}"),
    "credit_code": re.compile(r"[0-9A-Z]{18}"),
    "mobile": re.compile(r"1\d{10}"),
    "passport": re.compile(r"[A-Z]\d{7,8}"),
    "email": re.compile(r"[^@\s]+@[^@\s]+"),
    "address": re.compile(r".+(省|市).+(区|县).*"),
}
TODAY: Final = date(2026, 3, 1)


@dataclass(frozen=True)
class Score:
    """One detector's figures on one kind."""

    kind: str
    detector: str
    tp: int
    fp: int
    fn: int
    tn: int
    seconds: float

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def corpus(count: int, seed: int) -> list[tuple[str, str, bool]]:
    """(kind made, value, valid) for `count` valid and `count` invalid values of every kind."""
    rng = random.Random(seed)  # noqa: S311 - generated test values
    out: list[tuple[str, str, bool]] = []
    for kind, make in MAKERS.items():
        for n in range(2 * count):
            valid = n % 2 == 0
            out.append((kind, make(rng, valid), valid))
    return out


def score(values: list[tuple[str, str, bool]], count_seed: int = 0) -> list[Score]:
    """Discovery and the baseline on every kind: a value is a positive of kind K when it was made as a
    valid K; everything else (near misses, other kinds) is a negative of K."""
    del count_seed
    results: list[Score] = []
    started = time.perf_counter()
    found = [set(kinds_of(v, TODAY)) for _, v, _ in values]
    ours = time.perf_counter() - started
    started = time.perf_counter()
    naive = [{k for k, p in BASELINE.items() if p.fullmatch(v)} for _, v, _ in values]
    theirs = time.perf_counter() - started
    for kind in MAKERS:
        for name, hits, seconds in (("discovery", found, ours), ("regex only", naive, theirs)):
            tp = fp = fn = tn = 0
            for (made, _value, valid), got in zip(values, hits, strict=True):
                positive = made == kind and valid
                if kind in got:
                    tp, fp = (tp + 1, fp) if positive else (tp, fp + 1)
                else:
                    fn, tn = (fn + 1, tn) if positive else (fn, tn + 1)
            results.append(Score(kind, name, tp, fp, fn, tn, seconds))
    return results


def format_scores(scores: list[Score], count: int, total: int) -> str:
    """The table the command prints."""
    lines = [
        f"discovery bench: {count} valid and {count} invalid values per kind ({total} values), "
        "every other kind's values as negatives too",
        f"{'kind':<13}{'detector':<12}{'precision':>10}{'recall':>8}{'TP':>7}{'FP':>7}{'FN':>6}",
    ]
    for s in scores:
        lines.append(
            f"{s.kind:<13}{s.detector:<12}{s.precision:>10.3f}{s.recall:>8.3f}{s.tp:>7}{s.fp:>7}{s.fn:>6}"
        )
    ours = next(s.seconds for s in scores if s.detector == "discovery")
    theirs = next(s.seconds for s in scores if s.detector == "regex only")
    lines.append(f"time for all values: discovery {ours:.3f} s, regex only {theirs:.3f} s")
    return "\n".join(lines)
