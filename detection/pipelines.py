"""Named pySigma processing pipelines: the one place `--pipeline NAME` is resolved.

Field mapping is always a pySigma processing pipeline, never an edit of a rule.

- `default`: `sysmon` plus `datasoc`; each applies only to its own logsources, so one pipeline
  serves Windows rules and the project's rules alike. What the CLI uses without `--pipeline`.
- `sysmon` (what Windows rules get by default): pySigma's Sysmon pipeline plus its Windows logsource
  pipeline. They add the conditions a logsource implies (process_creation -> Sysmon EventID 1 on
  the Sysmon channel, service security -> Channel Security, ps_script -> EventID 4104, ...).
- `none`: no processing; every rule is tried on every event whatever its logsource.
- `windows`: the Windows logsource pipeline alone (Channel conditions for services).
- `windows-audit`: generic categories mapped to Windows Security auditing (4688, 4657); use it to run
  process_creation rules over Security 4688 events instead of Sysmon.
- `datasoc`: the project's own pipeline for the normalized ECS-dotted schema (see `datasoc_pipeline`).

Why `sysmon` by default (measured on ../shared/data, all SigmaHQ rules): `datasoc.winevent.flatten`
already yields the field names SigmaHQ rules use, so no field mapping is needed, and SigmaHQ's 202
regression tests pass with `none` and with `sysmon` alike. But over dev.jsonl, `none` gives 269 more
matches than `sysmon` (7,062 against 6,793) and every one of them is a rule firing on an event
outside its logsource: 147 by a raw_access_thread rule made of negations on process-creation events,
process_creation rules on file, image-load and network events, dns_query rules on process events.
`sysmon` loses none of the matches that are inside the logsource. The cost: a process_creation rule
no longer fires on a Security 4688 event (none did in that data); `--pipeline windows-audit` does.
"""

from __future__ import annotations

from collections.abc import Callable

from sigma.pipelines.sysmon.sysmon import sysmon_pipeline
from sigma.pipelines.windows.windows import windows_audit_pipeline, windows_logsource_pipeline
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation

from detection.errors import UnknownPipelineError

#: Generic Sigma taxonomy names (as in SigmaHQ web/proxy/network rules) -> normalized ECS fields.
DATASOC_FIELD_MAP: dict[str | None, str | list[str]] = {
    "User": "user.name",
    "SubjectUserName": "user.name",
    "TargetUserName": "user.target.name",
    "SourceIp": "source.ip",
    "src_ip": "source.ip",
    "DestinationIp": "destination.ip",
    "dst_ip": "destination.ip",
    "c-ip": "source.ip",
    "cs-method": "http.request.method",
    "cs-uri": "url.original",
    "c-uri": "url.original",
    "sc-status": "http.response.status_code",
    "c-useragent": "user_agent.original",
}


def datasoc_pipeline() -> ProcessingPipeline:
    """Pipeline for rules on the normalized event schema (`logsource: product: datasoc`).

    Rules of the project's pack already name ECS fields (`user.name`, `data.classification`) and pass
    unchanged; generic Sigma taxonomy names used by third-party rules are mapped to their ECS names.
    """
    return ProcessingPipeline(
        name="datasoc normalized schema",
        priority=20,
        items=[
            ProcessingItem(
                identifier="datasoc_generic_fields",
                transformation=FieldMappingTransformation(dict(DATASOC_FIELD_MAP)),
                rule_conditions=[LogsourceCondition(product="datasoc")],
            )
        ],
    )


def _none() -> ProcessingPipeline | None:
    return None


def _sysmon() -> ProcessingPipeline:
    combined: ProcessingPipeline = sysmon_pipeline() + windows_logsource_pipeline()
    return combined


def _default() -> ProcessingPipeline:
    # The Windows items apply to Windows logsources only, the datasoc items to product datasoc only.
    combined: ProcessingPipeline = _sysmon() + datasoc_pipeline()
    return combined


#: name -> factory (a fresh pipeline per call: pySigma pipelines carry per-rule state).
PIPELINES: dict[str, Callable[[], ProcessingPipeline | None]] = {
    "default": _default,
    "none": _none,
    "sysmon": _sysmon,
    "windows": windows_logsource_pipeline,
    "windows-audit": windows_audit_pipeline,
    "datasoc": datasoc_pipeline,
}

#: What Windows rules get when no `--pipeline` is given (see module doc).
DEFAULT_WINDOWS_PIPELINE = "sysmon"
#: What `datasoc detect` and `datasoc rules` apply when no `--pipeline` is given: `sysmon` for
#: Windows logsources and `datasoc` for the normalized schema, in one pipeline.
DEFAULT_PIPELINE = "default"


#: The attribute naming the registry entry a pipeline object was built from (what the compiled-rule
#: cache keys it by: pySigma pipelines carry generated names and state, so their repr is no key).
REGISTRY_NAME = "_datasoc_registry_name"


def resolve_pipeline(name: str) -> ProcessingPipeline | None:
    """Build the named pipeline; `UnknownPipelineError` lists the known names."""
    try:
        factory = PIPELINES[name]
    except KeyError:
        raise UnknownPipelineError(name, sorted(PIPELINES)) from None
    pipeline = factory()
    if pipeline is not None:
        setattr(pipeline, REGISTRY_NAME, name)
    return pipeline


def registry_name(pipeline: object) -> str | None:
    """The registry name `resolve_pipeline` built `pipeline` from, or None."""
    name = getattr(pipeline, REGISTRY_NAME, None)
    return name if isinstance(name, str) else None
