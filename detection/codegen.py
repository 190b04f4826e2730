"""Compile a rule's IR into one Python function, so evaluating a rule is one call, not one per leaf.

`generate(node)` writes the source of `def match(raw, low): return <expression>`: AND/OR/NOT become
Python `and`/`or`/`not` (short-circuit), and the common leaves (a string field compared with `==`,
`in`, `startswith`, `endswith`) are inlined. Every other leaf, and every list-valued field, calls the
closure from `detection.matchers`, so both paths share one definition of each semantic.

Safety: the source holds no text from the rule. Field names are embedded with `repr()` (a Python
string literal) and every other value (patterns, tuples, closures) is passed in as a named constant of
the function's globals. Measured on dev.jsonl with all SigmaHQ rules under the sysmon pipeline:
evaluating the candidate rules went from about 39 to 26 us per event (numbers inlined as well).
"""

from __future__ import annotations

import itertools
from typing import Any

from detection.ir import And, Node, Not, Num, Or, Str
from detection.matchers import AUTOMATON_MIN, Matcher, build, merge_or
from detection.view import View


class _Lazy:
    """A matcher built on its first call: the fallbacks of inlined leaves (list-valued fields, other
    spellings of a number) are rarely needed, and building them is most of a rule's compile time."""

    __slots__ = ("_matcher", "_node")

    def __init__(self, node: Node) -> None:
        self._node = node
        self._matcher: Matcher | None = None

    def __call__(self, raw: View, low: View) -> bool:
        matcher = self._matcher
        if matcher is None:
            matcher = self._matcher = build(self._node)
        return matcher(raw, low)


class _Writer:
    def __init__(self) -> None:
        self.constants: dict[str, Any] = {}
        self._names = itertools.count()

    def constant(self, value: Any) -> str:
        name = f"_c{next(self._names)}"
        self.constants[name] = value
        return name

    def variable(self) -> str:
        return f"_v{next(self._names)}"

    def expression(self, node: Node) -> str:
        if isinstance(node, And):
            parts = [self.expression(child) for child in node.children]
            return "(" + " and ".join(parts) + ")" if parts else "True"
        if isinstance(node, Or):
            parts = [self.expression(child) for child in merge_or(node.children)]
            return "(" + " or ".join(parts) + ")" if parts else "False"
        if isinstance(node, Not):
            return f"(not {self.expression(node.child)})"
        if isinstance(node, Str) and node.field is not None:
            inline = self._inline_str(node)
            if inline is not None:
                return inline
        if isinstance(node, Num) and node.field is not None:
            return self._inline_num(node)
        return f"{self.constant(build(node))}(raw, low)"

    def _inline_num(self, node: Num) -> str:
        var, text = self.variable(), str(node.number)
        fallback = self.constant(_Lazy(node))  # numeric equality of other spellings, list values
        if isinstance(node.number, int) and node.number >= 0:
            # A plain digit string without a leading zero equals the number only when it is `text`.
            maybe = f"({var}[:1] == '0' or not {var}.isdigit())"
        else:
            maybe = "True"
        return (
            f"(({var} := low.get({node.field!r})) is not None and "
            f"({var} == {self.constant(text)} or "
            f"(({maybe} if {var}.__class__ is str else True) and {fallback}(raw, low))))"
        )

    def _inline_str(self, node: Str) -> str | None:
        var = self.variable()
        texts = node.texts
        if node.kind == "eq":
            test = f"{var} == {self.constant(texts[0])}" if len(texts) == 1 else None
            if test is None:
                test = f"{var} in {self.constant(frozenset(texts))}"
        elif node.kind == "prefix":
            test = f"{var}.startswith({self.constant(texts)})"
        elif node.kind == "suffix":
            test = f"{var}.endswith({self.constant(texts)})"
        elif node.kind == "contains" and len(texts) == 1:
            test = f"{self.constant(texts[0])} in {var}"
        elif node.kind == "contains" and len(texts) < AUTOMATON_MIN:
            test = f"any(_t in {var} for _t in {self.constant(texts)})"
        else:
            return None
        view = "raw" if node.cased else "low"
        fallback = self.constant(_Lazy(node))  # list-valued fields: any element
        return (
            f"(({var} := {view}.get({node.field!r})) is not None and "
            f"({test} if {var}.__class__ is str else {fallback}(raw, low)))"
        )


def generate(node: Node) -> Matcher:
    """One function evaluating `node` on an event view (see module docstring)."""
    writer = _Writer()
    body = writer.expression(node)
    source = f"def match(raw, low):\n    return {body}\n"
    namespace: dict[str, Any] = dict(writer.constants)
    code = compile(source, "<sigma-rule>", "exec")
    exec(code, namespace)  # noqa: S102 - source built from repr() literals and generated names only
    matcher: Matcher = namespace["match"]
    return matcher
