"""Candidate index: which rules can possibly match an event, found without trying every rule.

For each rule, `clauses(node)` derives from its IR necessary clauses: sets of atoms such that, in
every event the rule matches, each clause has a true atom (so the index never loses a match):

- `("eq", field, text)`: the lowered field value equals `text` (a hash lookup per event field);
- `("sub", field, text)`: the lowered field value contains `text` (one Aho-Corasick automaton per
  field; `field` None means any field, for keywords, scanned once over all values);
- `("has", field, "")`: the field has a value (used only when a rule offers nothing better).

AND collects its children's clauses, OR gives the union of each child's best clause, NOT, null and
predicates without a usable literal give none. A rule is a candidate when each of its (up to three)
most selective clauses has a hit; a rule with no clause is always a candidate. Logsource routing by
Channel/EventID is a layer above this one (`detection.routing`).

Measured on dev.jsonl (`datasoc bench detect` prints it): per-field Aho-Corasick finds every literal
occurrence in about 14 us/event; one combined regular expression per field takes about 2,300 us/event
and cannot report overlapping literals at all, so Aho-Corasick it is. Hyperscan (a literal database per
field of the largest SigmaHQ partition, 7,854 literals over 17 fields, 11,393 values of dev.jsonl)
scans a value in 0.98 us against pyahocorasick's 1.01 us: both are mostly the cost of a Python call
and a callback per match, so the dependency buys nothing here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ahocorasick

from detection import ir
from detection.literals import required_literal
from detection.view import View

Atom = tuple[str, str | None, str]
Clause = frozenset[Atom]
Need = Clause | None

#: Substrings shorter than this are too common to narrow anything down.
MIN_LITERAL = 3
#: Fragments found in most Windows paths: an atom made only of them is a poor filter.
_COMMON = ("c:\\windows\\", "\\windows\\", "system32\\", "c:\\program files", "c:\\users\\", ".exe", ".dll")


def _quality(atom: Atom) -> float:
    kind, _, text = atom
    if kind == "has":
        return 1.0
    score = float(len(text))
    if kind == "eq":
        score += 4
    for common in _COMMON:
        if common in text:
            score -= len(common) * 0.8
    return score


def clause_score(need: Clause) -> tuple[float, int]:
    """Higher is more selective: the weakest atom decides (any atom hit makes a candidate)."""
    if not need:
        return (float("inf"), 0)
    return (min(_quality(a) for a in need), -len(need))


def regex_literal(pattern: str, flags: int) -> str | None:
    """The longest literal run every match of `pattern` must contain, lowered, or None."""
    found = required_literal(pattern, flags)
    if found is None:
        return None
    best = found[0].lower()
    return best if len(best) >= MIN_LITERAL else None


def _longest(texts: Sequence[str]) -> str:
    return max(texts, key=len) if texts else ""


def _literal_clause(node: ir.Node) -> Clause | None:
    """Literal atoms of a leaf (one of them is in every matching event), or None."""
    if isinstance(node, ir.Str):
        field = node.field
        if node.kind == "any":
            return None
        if node.kind == "eq" and field is not None:
            return frozenset(("eq", field, t.lower()) for t in node.texts)
        if node.kind == "glob":
            best = _longest(node.texts).lower()
            return frozenset({("sub", field, best)}) if len(best) >= MIN_LITERAL else None
        atoms = frozenset(("sub", field, t.lower()) for t in node.texts)
        return atoms if all(len(a[2]) >= MIN_LITERAL for a in atoms) else None
    if isinstance(node, ir.Regex):
        text = regex_literal(node.pattern, node.flags)
        return frozenset({("sub", node.field, text)}) if text else None
    if isinstance(node, ir.Num):
        text = str(node.number)
        if len(text) < MIN_LITERAL or "e" in text or "inf" in text or "nan" in text:
            return None
        return frozenset({("sub", node.field, text)})
    return None


def _present_clause(node: ir.Node) -> Clause | None:
    """`("has", field)` for a leaf that can only hold when its field has a (non-null) value."""
    if isinstance(node, ir.Exists):
        return frozenset({("has", node.field, "")}) if node.value else None
    if isinstance(node, ir.FieldRef):
        return frozenset({("has", node.field, "")})
    if isinstance(node, (ir.Str, ir.Regex, ir.Num, ir.Bool, ir.Cidr, ir.Compare, ir.TimePart)):
        return frozenset({("has", node.field, "")}) if node.field is not None else None
    return None


def clauses(node: ir.Node) -> list[Clause]:
    """Necessary clauses of `node`: in every event it matches, each clause has a true atom.

    AND collects its children's clauses; OR gives one clause, the union of each child's best
    clause (no clause when a child has none); NOT and null give nothing; a false constant gives the
    empty clause (never true).
    """
    if isinstance(node, ir.And):
        out: list[Clause] = []
        for child in node.children:
            out.extend(c for c in clauses(child) if c not in out)
        return out
    if isinstance(node, ir.Or):
        union: set[Atom] = set()
        for child in node.children:
            child_clauses = clauses(child)
            if not child_clauses:
                return []
            union |= _best(child_clauses)
        return [frozenset(union)]
    if isinstance(node, ir.Const):
        return [] if node.value else [frozenset()]
    clause = _literal_clause(node) or _present_clause(node)
    return [clause] if clause is not None else []


def _best(found: list[Clause]) -> Clause:
    return max(found, key=clause_score)


def need(node: ir.Node) -> Need:
    """The single most selective necessary clause of `node`, or None when there is none."""
    found = clauses(node)
    return max(found, key=clause_score) if found else None


@dataclass(frozen=True)
class IndexStats:
    """How the rules were indexed (printed by the bench)."""

    rules: int
    always: int
    never: int
    eq_atoms: int
    sub_atoms: int
    has_atoms: int


_FieldIndex = tuple[tuple[int, ...] | None, dict[str, tuple[int, ...]] | None, "ahocorasick.Automaton | None"]

#: A rule is a candidate only when each of its (up to) this many most selective clauses has a hit.
MAX_CLAUSES = 3
_SHIFT = 2  # key = rule position << _SHIFT | clause number


#: An atom that appears in more rules than this is shared logsource routing (`Channel: Sysmon`, in
#: 2,239 SigmaHQ rules under the sysmon pipeline): indexing it makes every event of that channel hit
#: thousands of rule keys, so it is chosen last. Measured on dev.jsonl under the sysmon pipeline:
#: 64 -> 17.9 candidates/event, 150 -> 12.1, 300 -> 10.4 (fastest), no limit -> half speed.
POPULAR_ATOM = 300


def ranked(found: list[Clause]) -> list[Clause]:
    """Clauses most selective first (`clause_score`; ties keep their order)."""
    return sorted(found, key=clause_score, reverse=True)


def _choose(found: list[Clause], popularity: Mapping[Atom, int], *, is_ranked: bool) -> list[Clause]:
    """The clauses worth indexing for one rule.

    Literal clauses first, most selective first, skipping clauses with an atom shared by more than
    `POPULAR_ATOM` rules; field presence (hits most events) and popular clauses only as a fallback
    when nothing else exists. Measured on dev.jsonl: with `Channel` clauses indexed under the sysmon
    pipeline, each event hit about 2,000 rule keys and the engine ran at half speed.
    """
    order = found if is_ranked else ranked(found)

    def popular(clause: Clause) -> bool:
        return any(popularity[atom] > POPULAR_ATOM for atom in clause)

    def presence(clause: Clause) -> bool:
        return any(kind == "has" for kind, _, _ in clause)

    good = [c for c in order if not presence(c) and not popular(c)]
    if good:
        return good[:MAX_CLAUSES]
    return order[:1]


class CandidateIndex:
    """Maps an event view to the sorted indices of the rules that may match it."""

    def __init__(self, nodes: Sequence[ir.Node]) -> None:
        self._build([clauses(node) for node in nodes])

    @classmethod
    def from_clauses(
        cls, found: Sequence[list[Clause]], positions: Sequence[int] | None = None, *, is_ranked: bool = False
    ) -> CandidateIndex:
        """An index over rules given by their necessary clauses (see `clauses`); `candidates` gives
        `positions[i]` for the i-th rule (default: i). `is_ranked`: each rule's clauses are already
        in `ranked` order (spares sorting them again for every index that holds the rule)."""
        index = cls.__new__(cls)
        index._build(found, positions, is_ranked=is_ranked)
        return index

    def _build(
        self,
        found: Sequence[list[Clause]],
        positions: Sequence[int] | None = None,
        *,
        is_ranked: bool = False,
    ) -> None:
        always: list[int] = []
        never = 0
        eq: dict[str, dict[str, list[int]]] = {}
        sub: dict[str | None, dict[str, list[int]]] = {}
        has: dict[str, list[int]] = {}
        self._needed: dict[int, int] = {}
        popularity: Counter[Atom] = Counter(
            atom for rule_clauses in found for atom in set().union(*rule_clauses)
        )
        for local, rule_clauses in enumerate(found):
            position = positions[local] if positions is not None else local
            chosen = _choose(rule_clauses, popularity, is_ranked=is_ranked)
            if not chosen:
                always.append(position)
                continue
            if any(not clause for clause in chosen):
                never += 1  # a clause that can never hold: the rule never matches
                continue
            self._needed[position] = len(chosen)
            for number, clause in enumerate(chosen):
                key = position << _SHIFT | number
                for kind, field, text in clause:
                    if kind == "has":
                        assert field is not None
                        has.setdefault(field, []).append(key)
                    elif kind == "eq":
                        assert field is not None
                        eq.setdefault(field, {}).setdefault(text, []).append(key)
                    else:
                        sub.setdefault(field, {}).setdefault(text, []).append(key)
        self.always: frozenset[int] = frozenset(always)
        self._always = sorted(always)
        self._keyword: ahocorasick.Automaton | None = None
        automata: dict[str, ahocorasick.Automaton] = {}
        for field, literals in sub.items():
            automaton = ahocorasick.Automaton()
            for text, keys in literals.items():
                automaton.add_word(text, tuple(keys))
            automaton.make_automaton()
            if field is None:
                self._keyword = automaton
            else:
                automata[field] = automaton
        # One lookup per event field: (presence keys, exact-value map, substring automaton).
        self._fields: dict[str, _FieldIndex] = {
            field: (
                tuple(has[field]) if field in has else None,
                {t: tuple(keys) for t, keys in eq[field].items()} if field in eq else None,
                automata.get(field),
            )
            for field in {*has, *eq, *automata}
        }
        self.stats = IndexStats(
            rules=len(found),
            always=len(always),
            never=never,
            eq_atoms=sum(len(m) for m in eq.values()),
            sub_atoms=sum(len(m) for m in sub.values()),
            has_atoms=len(has),
        )

    def substring_literals(self) -> dict[str, list[str]]:
        """Per field, the literals its automaton searches for (for the prefilter comparison)."""
        return {field: list(entry[2].keys()) for field, entry in self._fields.items() if entry[2] is not None}

    def scan_substrings(self, low: View) -> int:
        """Run only the per-field automata over a view; the number of literal occurrences found."""
        count = 0
        for field, value in low.items():
            entry = self._fields.get(field)
            if entry is None or entry[2] is None:
                continue
            for text in (value,) if value.__class__ is str else value:
                count += sum(1 for _ in entry[2].iter(text))
        return count

    def _hits(self, low: View) -> set[int]:
        hits: set[int] = set()
        fields = self._fields
        # Only the event fields the index knows (a C-level set intersection, not a Python loop).
        for field in low.keys() & fields.keys():
            value = low[field]
            present, exact, automaton = fields[field]
            if present is not None:
                hits.update(present)
            if value.__class__ is str:
                if exact is not None:
                    found = exact.get(value)
                    if found is not None:
                        hits.update(found)
                if automaton is not None:
                    for _, found_sub in automaton.iter(value):
                        hits.update(found_sub)
                continue
            for text in value:
                if exact is not None:
                    found = exact.get(text)
                    if found is not None:
                        hits.update(found)
                if automaton is not None:
                    for _, found_sub in automaton.iter(text):
                        hits.update(found_sub)
        keyword = self._keyword
        if keyword is not None:
            # One scan over all values joined by NUL: a literal found across a joint only adds a
            # candidate (the matcher then decides), so no match is lost.
            try:
                joined = "\x00".join(low.values())  # type: ignore[arg-type]  # all strings: one C call
            except TypeError:
                joined = "\x00".join(v if v.__class__ is str else "\x00".join(v) for v in low.values())
            for _, found_kw in keyword.iter(joined):
                hits.update(found_kw)
        return hits

    def candidates(self, low: View) -> list[int]:
        """Indices (ascending) of the rules whose chosen clauses all hold in this view, plus the rest."""
        hits = self._hits(low)
        if not hits:
            return list(self._always)
        counts: dict[int, int] = {}
        get = counts.get
        for key in hits:
            position = key >> _SHIFT
            counts[position] = get(position, 0) + 1
        needed = self._needed
        found = [p for p, count in counts.items() if count == needed[p]]
        if self._always:
            found.extend(self._always)
        if len(found) > 1:
            found.sort()
        return found
