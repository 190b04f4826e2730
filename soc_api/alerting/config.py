"""`AlertingConfig`: the validated policies of `[alerting]`, built once where the platform is assembled."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from datasoc.settings_alerting import AlertingSettings
from soc_api.alerting.facts import GroupingPolicy
from soc_api.alerting.levels import ClassRules, LevelTable
from soc_api.alerting.routing import Route
from soc_api.alerting.sla import LevelSla, SlaPolicy


@dataclass(frozen=True)
class RetryPolicy:
    """Delivery retries: exponential back-off with jitter, dead-lettered after `max_attempts`."""

    max_attempts: int = 8
    base: timedelta = timedelta(seconds=2)
    maximum: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int, jitter: float) -> timedelta:
        """Wait after the `attempts`-th failure; `jitter` in [0, 1) spreads retries (full jitter
        on the upper half: between half and all of the exponential delay)."""
        exponential = min(self.base.total_seconds() * 2 ** max(attempts - 1, 0), self.maximum.total_seconds())
        return timedelta(seconds=exponential * (0.5 + 0.5 * jitter))


@dataclass(frozen=True)
class AlertingConfig:
    """Grouping, SLA, configured routes, time zone, retries and the console link."""

    grouping: GroupingPolicy
    sla: SlaPolicy
    routes: tuple[Route, ...] = ()
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    retry: RetryPolicy = RetryPolicy()
    console_url: str = "https://127.0.0.1:8600/alerts/{id}"
    channels: tuple[str, ...] = ()
    organisation: str = ""

    @classmethod
    def from_settings(cls, s: AlertingSettings) -> AlertingConfig:
        """From `[alerting]` (already validated by the settings model)."""
        grouping = GroupingPolicy(
            levels=LevelTable(
                MappingProxyType(
                    {k: MappingProxyType({str(g): str(w) for g, w in v.items()}) for k, v in s.levels.items()}
                )
            ),
            classes=ClassRules.with_configured([(c.tag, c.event_class) for c in s.event_classes]),
            group_fields=s.group_fields,
            per_rule_fields=MappingProxyType({g.rule: g.fields for g in s.grouping}),
            window_seconds=s.group_window_seconds,
        )
        sla = SlaPolicy(
            MappingProxyType(
                {
                    level: LevelSla(
                        respond=timedelta(minutes=v.respond_minutes),
                        resolve=timedelta(hours=v.resolve_hours),
                        escalation=v.escalation,
                    )
                    for level, v in s.sla.items()
                }
            )
        )
        routes = tuple(
            Route(
                id=f"settings:{r.name}",
                name=r.name,
                channels=r.channels,
                levels=r.levels,
                grades=r.grades,
                tags=r.tags,
                sources=r.sources,
                hours=r.hours,
                kinds=r.kinds,
                origin="settings",
            )
            for r in s.route
        )
        return cls(
            grouping=grouping,
            sla=sla,
            routes=routes,
            zone=ZoneInfo(s.timezone),
            retry=RetryPolicy(
                s.max_attempts,
                timedelta(seconds=s.retry_base_seconds),
                timedelta(seconds=s.retry_max_seconds),
            ),
            console_url=s.console_url,
            channels=tuple(c.name for c in s.channel),
            organisation=s.bulletins.organisation,
        )

    def url_of(self, alert_id: str) -> str:
        """The console's page of `alert_id`."""
        return self.console_url.replace("{id}", alert_id)

    def local(self, when: datetime) -> datetime:
        """`when` in the configured time zone."""
        return when.astimezone(self.zone)


def default_config() -> AlertingConfig:
    """The defaults of `[alerting]` (tests, the bench)."""
    return AlertingConfig.from_settings(AlertingSettings())
