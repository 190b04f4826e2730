"""Logsource routing: an event's logsource, which rules it admits, and the engine honouring it."""

from __future__ import annotations

import textwrap

from sigma.pipelines.sysmon.sysmon import sysmon_pipeline
from sigma.pipelines.windows.windows import windows_audit_pipeline, windows_logsource_pipeline
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.transformations import AddConditionTransformation, ChangeLogsourceTransformation

from datasoc.logsource import WINDOWS_CATEGORIES, WINDOWS_SERVICE_CHANNELS
from detection.engine import Engine, RuleSet
from detection.logsource import RuleLogsource, Source, admitted, route_key, sources
from detection.pipelines import resolve_pipeline
from detection.view import build_view

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _listed(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def test_windows_tables_are_the_pysigma_pipelines_mapping() -> None:
    services: dict[str, tuple[str, ...]] = {}
    for item in windows_logsource_pipeline().items:
        transformation = item.transformation
        if isinstance(transformation, AddConditionTransformation) and "Channel" in transformation.conditions:
            (condition,) = item.rule_conditions
            assert isinstance(condition, LogsourceCondition)
            channels = _listed(transformation.conditions["Channel"])
            services[str(condition.logsource.service)] = tuple(str(c).lower() for c in channels)
    assert services == dict(WINDOWS_SERVICE_CHANNELS)
    categories: dict[tuple[str, int], set[str]] = {}
    for pipeline in (sysmon_pipeline(), windows_logsource_pipeline(), windows_audit_pipeline()):
        service_of = {
            item.rule_conditions[0].logsource.category: item.transformation.service  # type: ignore[attr-defined]
            for item in pipeline.items
            if isinstance(item.transformation, ChangeLogsourceTransformation)
        }
        for item in pipeline.items:
            transformation = item.transformation
            if not isinstance(transformation, AddConditionTransformation):
                continue
            if "EventID" not in transformation.conditions:
                continue
            category = item.rule_conditions[0].logsource.category  # type: ignore[attr-defined]
            for channel in services[service_of[category]]:
                for event_id in _listed(transformation.conditions["EventID"]):
                    categories.setdefault((channel, int(str(event_id))), set()).add(category)
    assert categories == {key: set(value) for key, value in WINDOWS_CATEGORIES.items()}


def _sources(event: dict[str, object]) -> tuple[Source, ...] | None:
    return sources(route_key(build_view(event)[1]))


def test_sources_of_windows_and_normalized_events() -> None:
    assert _sources({"Channel": SYSMON, "EventID": 13}) == (
        Source("windows", frozenset({"sysmon"}), frozenset({"registry_event", "registry_set"})),
    )
    assert _sources({"Channel": "Security", "EventID": "4688"}) == (
        Source("windows", frozenset({"security"}), frozenset({"process_creation"})),
    )
    # A channel no service names: product windows, no service, no category.
    assert _sources({"Channel": "Microsoft-Windows-Foo/Operational", "EventID": 1}) == (
        Source("windows", frozenset(), frozenset()),
    )
    # ETW trace records have no channel: windows, services and categories not known.
    assert _sources({"EventID": 6, "Provider_Name": "Microsoft-Windows-RPC"}) == (
        Source("windows", None, None),
    )
    normalized = {
        "datasoc.logsource.product": "datasoc",
        "datasoc.logsource.service": "windows",
        "datasoc.logsource.category": "iam",
        "Channel": "Security",
        "EventID": 4732,
    }
    assert _sources(normalized) == (
        Source("datasoc", frozenset({"windows"}), frozenset({"iam"})),
        Source("windows", frozenset({"security"}), frozenset()),
    )
    assert _sources({"CommandLine": "whoami"}) is None
    assert _sources({"EventID": 1}) is None  # an event id alone says nothing


def test_admission_rules() -> None:
    sysmon_1 = _sources({"Channel": SYSMON, "EventID": 1})
    assert admitted(sysmon_1, RuleLogsource("windows", None, "process_creation"))
    assert admitted(sysmon_1, RuleLogsource("windows", "sysmon", "process_creation"))
    assert not admitted(sysmon_1, RuleLogsource("windows", "security", "process_creation"))
    assert not admitted(sysmon_1, RuleLogsource("windows", None, "image_load"))
    assert not admitted(sysmon_1, RuleLogsource("zeek", "rdp", None))  # rule 1
    assert admitted(sysmon_1, RuleLogsource("windows", None, None))
    # Rule 3: a value the product never reports cannot narrow a rule of that product.
    assert admitted(sysmon_1, RuleLogsource("windows", None, "file_access"))
    assert admitted(sysmon_1, RuleLogsource("windows", "iis-configuration", None))
    # Rule 4: no product, no leniency.
    assert not admitted(sysmon_1, RuleLogsource(None, None, "proxy"))
    assert admitted(sysmon_1, RuleLogsource(None, None, "process_creation"))
    # An event whose logsource cannot be told admits every rule.
    assert admitted(None, RuleLogsource("zeek", "rdp", None))
    etw = _sources({"EventID": 6, "Provider_Name": "Microsoft-Windows-RPC"})
    assert admitted(etw, RuleLogsource("windows", "security", None))
    assert not admitted(etw, RuleLogsource("linux", None, "process_creation"))


def _rules(text: str, pipeline: str | None = None) -> Engine:
    loaded = RuleSet.from_texts(
        [(None, textwrap.dedent(text))], pipeline=resolve_pipeline(pipeline) if pipeline else None
    )
    assert not loaded.errors, [str(e) for e in loaded.errors]
    return Engine(loaded.rules)


ZEEK_NOT = """\
title: RDP listener (zeek)
id: 5d2c5f8e-0000-4000-8000-00000000a001
logsource: {product: zeek, service: rdp}
detection:
    selection:
        id.resp_h|cidr: 10.0.0.0/8
    condition: not selection
---
title: cmd (windows)
id: 5d2c5f8e-0000-4000-8000-00000000a002
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\\\\cmd.exe'
    condition: selection
"""


def test_engine_keeps_rules_of_another_product_off_windows_events() -> None:
    engine = _rules(ZEEK_NOT)
    event = {"Channel": SYSMON, "EventID": 1, "Image": "C:\\Windows\\cmd.exe"}
    assert [r.title for r in engine.match(event)] == ["cmd (windows)"]
    assert [r.title for r in engine.match_naive(event)] == ["cmd (windows)"]
    # A Sysmon file event is not process_creation: the windows rule is not tried either.
    assert engine.match({"Channel": SYSMON, "EventID": 11, "Image": "C:\\Windows\\cmd.exe"}) == []
    # Foreign JSON (no logsource) is tried against every rule, as before routing existed.
    assert [r.title for r in engine.match({"Image": "x\\cmd.exe"})] == [
        "RDP listener (zeek)",
        "cmd (windows)",
    ]
    zeek = {"datasoc.logsource.product": "zeek", "datasoc.logsource.service": "rdp", "id.resp_h": "8.8.8.8"}
    assert [r.title for r in engine.match(zeek)] == ["RDP listener (zeek)"]
    # An event that states its product but no service has none: a service rule is not its log.
    assert engine.match({**zeek, "datasoc.logsource.service": None}) == []
    unrouted = Engine(engine.rules, logsource=False)
    assert len(unrouted.match(event)) == 2
    assert not unrouted.index.logsource_routing


def test_pipeline_logsource_is_what_routes() -> None:
    # Under `sysmon` a process_creation rule becomes service sysmon: a Security 4688 event is not
    # its log (the pipeline's Channel condition says the same); under no pipeline it is.
    rule = ZEEK_NOT.split("---\n")[1]
    security = {"Channel": "Security", "EventID": 4688, "Image": "C:\\Windows\\cmd.exe"}
    assert _rules(rule, "sysmon").match(security) == []
    assert len(_rules(rule).match(security)) == 1
