"""Sigma detection: rules parsed by pySigma, compiled once, matched through a candidate index.

Entry points: `detection.engine` (`RuleSet.load`, `Engine`, `CompiledRule`), `detection.pipelines`
(named pySigma pipelines); Windows events are flattened by the kernel's `datasoc.winevent`, shared
with the collectors. Inside: `ir` (pySigma condition tree -> IR), `matchers` and `codegen`
(IR -> Python), `index` and `routing` (candidate selection), `loader`, `checks` (rule management).
Measurement and the pySigma-SQLite reference live in the checkout's `benchmarks/`.
"""
