"""Settings of alerting and response (`[alerting]`): grouping, the warning-level table, SLA per level,
notification channels and configured routes, bulletins.

Channel secrets (webhook HMAC keys, DingTalk and WeCom secrets, the SMTP password) are `SecretStr`:
never logged, never in an error, never answered by the API (which lists channels without them).
Everything here is validated at start; a bad table stops start-up naming its key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

WarningLevelName = Literal["red", "orange", "yellow", "blue"]
Grade = Literal["general", "important", "core"]
_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _default_levels() -> dict[str, dict[Grade, WarningLevelName]]:
    # The rule level gives the base (critical→red, high→orange, medium→yellow, low/info→blue); core
    # data raises it one step and to at least orange, important data to at least yellow.
    return {
        "critical": {"general": "red", "important": "red", "core": "red"},
        "high": {"general": "orange", "important": "orange", "core": "red"},
        "medium": {"general": "yellow", "important": "yellow", "core": "orange"},
        "low": {"general": "blue", "important": "yellow", "core": "orange"},
        "informational": {"general": "blue", "important": "yellow", "core": "orange"},
    }


class SlaLevelSettings(_Section):
    """Timers of one warning level: respond (taken in hand) and resolve (closed), and who is next."""

    respond_minutes: float = Field(gt=0, le=30 * 24 * 60)
    resolve_hours: float = Field(gt=0, le=366 * 24)
    #: Responders in order (account names): the first is assigned when nobody is; each timer that
    #: runs out hands the alert to the next one.
    escalation: tuple[str, ...] = ()


def _default_sla() -> dict[WarningLevelName, SlaLevelSettings]:
    return {
        "red": SlaLevelSettings(respond_minutes=15, resolve_hours=4),
        "orange": SlaLevelSettings(respond_minutes=30, resolve_hours=24),
        "yellow": SlaLevelSettings(respond_minutes=120, resolve_hours=72),
        "blue": SlaLevelSettings(respond_minutes=480, resolve_hours=168),
    }


class _Channel(_Section):
    name: str = Field(pattern=_NAME)
    #: Seconds for connecting and for the whole exchange of one delivery.
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: `delivery`: a successful delivery completes 通报; `ack`: only the receiver's acknowledgement does.
    receipt: Literal["delivery", "ack"] = "delivery"
    #: Deliveries of this channel in flight at once.
    concurrency: int = Field(default=4, ge=1, le=64)


class WebhookChannel(_Channel):
    """Generic webhook: JSON POST, `X-Datasoc-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>`."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr
    ca_file: Path | None = None
    #: Notifications per request (a JSON list when above 1).
    max_batch: int = Field(default=1, ge=1, le=500)


class SmtpChannel(_Channel):
    """E-mail over SMTP with STARTTLS (required unless `starttls = false` in development)."""

    type: Literal["smtp"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")], ...] = Field(min_length=1)
    ca_file: Path | None = None


class DingTalkChannel(_Channel):
    """DingTalk robot: each request signed (timestamp, HMAC-SHA256 of the secret); at most
    `per_minute` messages a minute, so a burst becomes one markdown digest."""

    type: Literal["dingtalk"]
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr
    per_minute: int = Field(default=20, ge=1, le=20)
    ca_file: Path | None = None


class WeComChannel(_Channel):
    """WeCom (企业微信) group robot: markdown, at most 4,096 bytes of content."""

    type: Literal["wecom"]
    url: str = Field(pattern=r"^https?://")
    per_minute: int = Field(default=20, ge=1, le=20)
    ca_file: Path | None = None


class SyslogCefChannel(_Channel):
    """Upward cascade: RFC 5424 over TLS (RFC 5425 octet counting) carrying CEF."""

    type: Literal["syslog_cef"]
    host: str = Field(min_length=1)
    port: int = Field(default=6514, ge=1, le=65535)
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    #: RFC 5424 HOSTNAME and APP-NAME of our messages.
    hostname: str = Field(default="datasoc", pattern=r"^[!-~]{1,255}$")
    app_name: str = Field(default="datasoc", pattern=r"^[!-~]{1,48}$")
    facility: int = Field(default=13, ge=0, le=23)


class Sm2PushChannel(_Channel):
    """HTTPS JSON push signed with SM2 over its SM3 digest (GB/T 32918, GB/T 32905)."""

    type: Literal["sm2_push"]
    url: str = Field(pattern=r"^https?://")
    ca_file: Path | None = None


ChannelSettings = Annotated[
    WebhookChannel | SmtpChannel | DingTalkChannel | WeComChannel | SyslogCefChannel | Sm2PushChannel,
    Field(discriminator="type"),
]


class RouteSettings(_Section):
    """A configured routing rule (the API adds its own); every given criterion must hold."""

    name: str = Field(pattern=_NAME)
    channels: tuple[str, ...] = Field(min_length=1)
    levels: tuple[WarningLevelName, ...] = ()
    grades: tuple[Grade, ...] = ()
    #: Any of these rule tags (a tag ending in "." is a prefix).
    tags: tuple[str, ...] = ()
    #: Alerts whose events came from these `observer.collector` values (e.g. `http:apigw_access.jsonl`).
    sources: tuple[str, ...] = ()
    #: Local time of day `HH:MM-HH:MM` (may wrap midnight); empty: all day.
    hours: str = Field(default="", pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
    #: What the route sends: new alerts (and raised levels), escalations, bulletins.
    kinds: tuple[Literal["alert", "escalation", "bulletin"], ...] = ("alert", "escalation")


class GroupingSettings(_Section):
    """Per-rule grouping fields (otherwise `[alerting] group_fields`)."""

    rule: str = Field(min_length=1, max_length=256)
    fields: tuple[str, ...]


class EventClassSettings(_Section):
    """Event class (GB/T 20986-2023) of alerts whose rule has `tag` (a trailing "." is a prefix)."""

    tag: str = Field(min_length=1)
    event_class: Literal[
        "malware",
        "network_attack",
        "data_security",
        "information_content",
        "equipment_failure",
        "violation",
        "security_hazard",
        "abnormal_behavior",
        "force_majeure",
        "other",
    ]


class BulletinSettings(_Section):
    """Scheduled bulletins (通报): daily at `daily_at`, weekly on `weekly_on` (1 = Monday)."""

    daily: bool = True
    weekly: bool = True
    daily_at: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    weekly_on: int = Field(default=1, ge=1, le=7)
    #: Title line naming the organisation in every bulletin.
    organisation: str = Field(default="明州市大数据中心 Mingzhou Big Data Center", max_length=200)


class AlertingSettings(_Section):
    """Alerting and response (see the module docstring)."""

    enabled: bool = True
    #: Alerts of one rule and group key whose times lie within this gap roll up into one.
    group_window_seconds: float = Field(default=3600.0, gt=0, le=30 * 86_400)
    #: Fields whose values (common to an alert's events) form its group key, unless a correlation's
    #: own group-by values or a `[[alerting.grouping]]` table say otherwise.
    group_fields: tuple[str, ...] = ("user.name", "source.ip", "data.asset.id", "host.name")
    grouping: tuple[GroupingSettings, ...] = ()
    #: Rule level → data grade → warning level (the national emergency plan's four levels).
    levels: dict[str, dict[Grade, WarningLevelName]] = Field(default_factory=_default_levels)
    sla: dict[WarningLevelName, SlaLevelSettings] = Field(default_factory=_default_sla)
    event_classes: tuple[EventClassSettings, ...] = ()
    #: IANA time zone of routes' hours and bulletins' days.
    timezone: str = "Asia/Shanghai"
    channel: tuple[ChannelSettings, ...] = ()
    route: tuple[RouteSettings, ...] = ()
    bulletins: BulletinSettings = BulletinSettings()
    #: Deliveries tried before a notification is dead-lettered.
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_seconds: float = Field(default=2.0, gt=0, le=3600)
    retry_max_seconds: float = Field(default=600.0, gt=0, le=86_400)
    #: Link in notifications to the console's alert page (`{id}` is replaced).
    console_url: str = Field(default="https://127.0.0.1:8600/alerts/{id}", max_length=500)

    @field_validator("levels")
    @classmethod
    def _complete_table(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        missing = [
            f"{level}.{grade}"
            for level in ("informational", "low", "medium", "high", "critical")
            for grade in ("general", "important", "core")
            if grade not in value.get(level, {})
        ]
        if missing:
            raise ValueError(f"alerting.levels: the table needs every rule level × grade; missing {missing}")
        unknown = sorted(set(value) - {"informational", "low", "medium", "high", "critical"})
        if unknown:
            raise ValueError(f"alerting.levels: unknown rule levels {unknown}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"alerting.timezone: unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AlertingSettings:
        names = [c.name for c in self.channel]
        if len(set(names)) != len(names):
            raise ValueError(f"alerting.channel: channel names must be unique: {names}")
        for route in self.route:
            unknown = sorted(set(route.channels) - set(names))
            if unknown:
                raise ValueError(f"alerting.route: route {route.name!r} names unknown channels {unknown}")
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError("alerting.retry_max_seconds: must be at least alerting.retry_base_seconds")
        for level in ("red", "orange", "yellow", "blue"):
            if level not in self.sla:
                raise ValueError(f"alerting.sla: level {level} is missing")
        return self

    def channel_named(self, name: str) -> Any:
        """The channel settings called `name` (KeyError when none)."""
        for channel in self.channel:
            if channel.name == name:
                return channel
        raise KeyError(name)
