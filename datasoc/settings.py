"""Typed settings: one object, read from a TOML file and `DATASOC_*` environment variables.

Precedence, lowest first: defaults, the TOML file, environment variables
(`DATASOC_STORE__RETENTION_DAYS=200` sets `[store] retention_days`). Everything is validated
when loaded; an invalid value stops start-up with a `ConfigError` naming the key, the value and
what is allowed. Nothing is read at import time: `get_settings()` loads once, on first call.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from datasoc.errors import ConfigError
from datasoc.settings_alerting import AlertingSettings

#: Placeholder secrets that only development mode accepts.
DEV_SECRET = "dev-only-insecure-change-me"  # noqa: S105 - a marker refused outside development
#: MLPS 2.0 level 3 (GB/T 22239-2019 8.1.4.3): audit records kept at least six months.
MIN_RETENTION_DAYS = 184
CONFIG_ENV = "DATASOC_CONFIG"
#: `DATASOC_*` variables that are not settings: the compiled-rule cache `datasoc run` names for
#: the detection job's processes (read by `detection.cache`).
NOT_SETTINGS = frozenset({CONFIG_ENV, "DATASOC_RULE_CACHE"})


class _Section(BaseModel):
    # Infinity and NaN are never a sensible duration or size (inf lateness overflowed a timedelta).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: `auto` is console in development and JSON lines in production.
    format: Literal["auto", "json", "console"] = "auto"


class SpoolSettings(_Section):
    segment_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024, le=1024**3)
    retention_hours: int = Field(default=7 * 24, ge=1)
    retention_bytes: int = Field(default=10 * 1024**3, ge=1024 * 1024)


_BROKER = r"[A-Za-z0-9_.\[\]:-]+:[0-9]{1,5}"
_BROKERS = rf"^{_BROKER}(,{_BROKER})*$"


class TransportSettings(_Section):
    """Where collectors put events and the consumers read them: the embedded spool (`[spool]`)
    or Kafka (the keys below; `[spool]` is then unused)."""

    backend: Literal["spool", "kafka"] = "spool"
    #: Kafka: `host:port` of one or more brokers, comma-separated.
    bootstrap: str = Field(default="127.0.0.1:9092", pattern=_BROKERS)
    #: Kafka topics are `<topic_prefix>events`, `...alerts`, `...deadletter` (one partition each).
    topic_prefix: str = Field(default="datasoc.", pattern=r"^[A-Za-z0-9._-]{0,100}$")
    #: Each platform consumer is the group `<group_prefix><consumer>` (`indexer`, `trail`, `detector`).
    group_prefix: str = Field(default="datasoc.", pattern=r"^[A-Za-z0-9._-]{0,100}$")
    #: Replicas of each topic datasoc creates (`min.insync.replicas` is min(2, replication)).
    replication: int = Field(default=1, ge=1, le=16)
    #: Topic retention datasoc sets when it creates a topic (the broker deletes; not datasoc).
    retention_hours: int = Field(default=7 * 24, ge=1)
    #: An append the brokers did not acknowledge within this is refused (HTTP 503 to the sender).
    delivery_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    username: str | None = None
    password: SecretStr | None = None
    #: CA bundle of the brokers' TLS certificates (relative to `data_dir`).
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _credentials_need_sasl(self) -> TransportSettings:
        if self.username is not None and not self.security_protocol.startswith("SASL"):
            raise ValueError(
                "transport.username: credentials need security_protocol SASL_SSL (or SASL_PLAINTEXT)"
            )
        return self


class StoreSettings(_Section):
    #: `sqlite` (embedded, `path`); `opensearch` or `elasticsearch` (a cluster at `urls`).
    backend: Literal["sqlite", "opensearch", "elasticsearch"] = "sqlite"
    #: Relative paths are under `data_dir`.
    path: Path = Path("events.sqlite3")
    retention_days: int = Field(default=MIN_RETENTION_DAYS, ge=1, le=36500)
    #: Search cluster (OpenSearch/Elasticsearch): node URLs, without credentials in them.
    urls: tuple[str, ...] = Field(default=("http://127.0.0.1:9200",), min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    #: Elasticsearch/OpenSearch API key (sent as `Authorization: ApiKey ...`), instead of a password.
    api_key: SecretStr | None = None
    verify_tls: bool = True
    #: CA bundle for the cluster's TLS certificates (relative to `data_dir`); system CAs when unset.
    ca_file: Path | None = None
    #: Daily indices are `<index_prefix>events-YYYY.MM.DD`.
    index_prefix: str = Field(default="datasoc-", pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")
    shards: int = Field(default=1, ge=1, le=64)
    replicas: int = Field(default=1, ge=0, le=8)
    #: The store never creates more daily indices than this (events that would need one more are
    #: dead-lettered).
    max_indices: int = Field(default=1000, ge=1, le=100_000)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    @field_validator("urls", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> Any:
        # An environment variable is one string: a comma-separated list of URLs.
        return tuple(u.strip() for u in value.split(",") if u.strip()) if isinstance(value, str) else value

    @field_validator("urls")
    @classmethod
    def _plain_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"store.urls: {url!r} must start with http:// or https://")
            if "@" in url.split("//", 1)[1].split("/", 1)[0]:
                raise ValueError("store.urls: put credentials in store.username/password, not in the URL")
        return value


class ApiSettings(_Section):
    """The API for people and machines (`/api/v1`), served by `datasoc run`; port "off" switches it off."""

    host: str = "127.0.0.1"
    port: int | None = Field(default=8600, ge=0, le=65535)
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    #: `Secure` session cookie; only development on plain-HTTP localhost may turn it off.
    cookie_secure: bool = True
    session_idle_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    session_absolute_hours: float = Field(default=8.0, gt=0, le=7 * 24)
    #: Consecutive sign-in failures before a lock; the lock doubles per further failure up to the cap.
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_base_seconds: float = Field(default=60.0, ge=1, le=86_400)
    lockout_cap_seconds: float = Field(default=3600.0, ge=1, le=7 * 86_400)
    password_min_length: int = Field(default=12, ge=8, le=128)
    password_min_classes: int = Field(default=3, ge=1, le=4)
    #: A new password differs from this many previous ones.
    password_history: int = Field(default=5, ge=0, le=24)
    #: Proxies (IP addresses) whose `X-Forwarded-Proto`/`-For` are believed (HSTS, client address).
    trusted_proxies: tuple[str, ...] = ()
    #: Bearer token that may read `/metrics` only (Prometheus); unset: only a `metrics.read` identity.
    scrape_token: SecretStr | None = None

    @field_validator("port", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
            return None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_address(item)
            except ValueError:
                raise ValueError(f"api.trusted_proxies: {item!r} is not an IP address") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ApiSettings:
        if self.lockout_cap_seconds < self.lockout_base_seconds:
            raise ValueError("api.lockout_cap_seconds: must be at least api.lockout_base_seconds")
        if self.scrape_token is not None and len(self.scrape_token.get_secret_value()) < 16:
            raise ValueError("api.scrape_token: must be at least 16 characters")
        return self


class LedgerSettings(_Section):
    path: Path = Path("ledger")
    #: Names the ledger in its signed checkpoints (the first line of the signed text).
    origin: str = Field(
        default="datasoc.local/audit-ledger", min_length=1, max_length=200, pattern=r"^[^\n]+$"
    )
    #: Key store (SM2 signing and SM4 sealing keys, encrypted under `key_passphrase`).
    keys_path: Path = Path("keys")
    checkpoint_every: int = Field(default=1000, ge=1)
    checkpoint_seconds: float = Field(default=60.0, gt=0, le=86_400)
    #: A checkpoint due by `checkpoint_every` waits this long after the last one (bounds the
    #: signing rate under load; 0: sign as soon as the count is reached).
    checkpoint_min_seconds: float = Field(default=1.0, ge=0, le=86_400)
    key_passphrase: SecretStr = SecretStr(DEV_SECRET)

    @model_validator(mode="after")
    def _min_within_interval(self) -> LedgerSettings:
        if self.checkpoint_min_seconds > self.checkpoint_seconds:
            raise ValueError(
                f"checkpoint_min_seconds ({self.checkpoint_min_seconds}) must not exceed "
                f"checkpoint_seconds ({self.checkpoint_seconds})"
            )
        return self


_SOURCE_NAME = r"^[A-Za-z0-9_.:-]+$"
#: A source silent for longer raises the `datasoc-source-silent` alert (unset: never).
_INTERVAL = Field(default=None, gt=0, le=366 * 86_400)


class TailSettings(_Section):
    """One followed log: files matching `patterns`, read with `parser`, reported as `source`."""

    source: str = Field(min_length=1, max_length=128, pattern=_SOURCE_NAME)
    parser: str = Field(min_length=1)
    patterns: tuple[str, ...] = Field(min_length=1)
    expected_interval_seconds: float | None = _INTERVAL


class EvtxSettings(_Section):
    """A folder of Windows `.evtx` files (`patterns`), collected as `source` (new and growing files)."""

    source: str = Field(min_length=1, max_length=128, pattern=_SOURCE_NAME)
    patterns: tuple[str, ...] = Field(min_length=1)
    expected_interval_seconds: float | None = _INTERVAL


class SyslogSourceSettings(_Section):
    """Syslog senders (by `peer` address, `cidr` network or TLS client `tls_subject`) named `source`
    and read with `parser`. `tls_subject` is `CN=<name>`, a full RFC 4514 subject
    (`CN=web-1,O=City,C=CN`) or a certificate fingerprint `sha256:<hex>`."""

    source: str = Field(min_length=1, max_length=128, pattern=_SOURCE_NAME)
    parser: str = Field(default="linux_syslog", min_length=1)
    peer: tuple[str, ...] = ()
    cidr: tuple[str, ...] = ()
    tls_subject: tuple[str, ...] = ()
    expected_interval_seconds: float | None = _INTERVAL

    @field_validator("peer")
    @classmethod
    def _peers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address") from None
        return value

    @field_validator("cidr")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=True)
            except ValueError as exc:
                raise ValueError(f"{network!r} is not a network ({exc})") from None
        return value

    @model_validator(mode="after")
    def _matches_something(self) -> SyslogSourceSettings:
        if not (self.peer or self.cidr or self.tls_subject):
            raise ValueError(f"source {self.source!r} needs at least one of peer, cidr, tls_subject")
        return self


class TokenSourceSettings(_Section):
    """What an HTTP token's source (`collect.tokens_file`) is expected to do: send every so often."""

    source: str = Field(min_length=1, max_length=128, pattern=_SOURCE_NAME)
    expected_interval_seconds: float = Field(gt=0, le=366 * 86_400)


class LimitSettings(_Section):
    """Limits of the network listeners against hostile clients and mistakes (README "Security")."""

    http_max_connections: int = Field(default=1000, ge=1, le=100_000)
    http_max_connections_per_peer: int = Field(default=64, ge=1, le=100_000)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    http_body_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    http_keepalive_seconds: float = Field(default=5.0, ge=1, le=600)
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    http_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024**3)
    http_max_records: int = Field(default=200_000, ge=1)
    http_concurrency: int = Field(default=8, ge=1, le=1024)
    auth_max_failures: int = Field(default=10, ge=1)
    auth_window_seconds: float = Field(default=60.0, gt=0)
    auth_block_seconds: float = Field(default=60.0, gt=0)
    dead_letter_records: int = Field(default=100, ge=1)
    dead_letter_bytes: int = Field(default=1024 * 1024, ge=1024)
    idempotency_window: int = Field(default=100_000, ge=0, le=10_000_000)
    security_window_seconds: float = Field(default=60.0, gt=0, le=86_400)
    syslog_max_connections: int = Field(default=1000, ge=1, le=100_000)
    syslog_max_connections_per_peer: int = Field(default=64, ge=1, le=100_000)
    syslog_tls_handshake_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    syslog_frame_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    syslog_idle_timeout_seconds: float = Field(default=600.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _per_peer(self) -> LimitSettings:
        for kind in ("http", "syslog"):
            cap = getattr(self, f"{kind}_max_connections")
            per_peer = getattr(self, f"{kind}_max_connections_per_peer")
            if per_peer > cap:
                raise ValueError(
                    f"collect.limits.{kind}_max_connections_per_peer: {per_peer} is above "
                    f"{kind}_max_connections ({cap})"
                )
        return self


class CollectSettings(_Section):
    """Network inputs started by `datasoc run`; a port of "off" switches that input off."""

    host: str = "127.0.0.1"
    http_port: int | None = Field(default=8601, ge=0, le=65535)
    #: JSON of token digests `{"sha256:<hex>": {"source": NAME, "parser": NAME|null}}`; relative to data_dir.
    tokens_file: Path | None = None
    syslog_udp_port: int | None = Field(default=None, ge=0, le=65535)
    syslog_tcp_port: int | None = Field(default=None, ge=0, le=65535)
    syslog_tls_port: int | None = Field(default=None, ge=0, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    #: Ingest answers 429 (and TCP syslog stops reading) past this many unconsumed events.
    lag_limit: int = Field(default=1_000_000, ge=0)
    lag_consumers: tuple[str, ...] = ("indexer",)
    #: Files followed by `datasoc run` (`[[collect.tail]]` tables); offsets survive restarts.
    tail: tuple[TailSettings, ...] = ()
    #: Folders of `.evtx` files collected by `datasoc run` (`[[collect.evtx]]` tables).
    evtx: tuple[EvtxSettings, ...] = ()
    #: Syslog senders mapped to a source and parser (`[[collect.syslog_source]]` tables).
    syslog_source: tuple[SyslogSourceSettings, ...] = ()
    #: Expected intervals of HTTP token sources (`[[collect.token_source]]` tables).
    token_source: tuple[TokenSourceSettings, ...] = ()
    limits: LimitSettings = LimitSettings()

    @field_validator("http_port", "syslog_udp_port", "syslog_tcp_port", "syslog_tls_port", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        # TOML has no null and environment variables are strings: "off" (or empty) switches off.
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
            return None
        return value

    @model_validator(mode="after")
    def _tls_needs_key_pair(self) -> CollectSettings:
        if self.syslog_tls_port is not None and (self.tls_cert is None or self.tls_key is None):
            raise ValueError("collect.syslog_tls_port: needs collect.tls_cert and collect.tls_key")
        return self

    @model_validator(mode="after")
    def _unique_sources(self) -> CollectSettings:
        # Each table's source names its state file and its health; two inputs may not share one.
        seen: dict[str, str] = {}
        for kind, tables in (
            ("tail", self.tail),
            ("evtx", self.evtx),
            ("syslog_source", self.syslog_source),
            ("token_source", self.token_source),
        ):
            for table in tables:
                if table.source in seen:
                    other = seen[table.source]
                    raise ValueError(
                        f"collect.{kind}: source {table.source!r} is already used by collect.{other}"
                    )
                seen[table.source] = kind
        return self


class DetectionSettings(_Section):
    """Detection of `datasoc run` and `datasoc demo`: the Flink job (default) or the in-process engine."""

    #: `flink`: the PyFlink job (an embedded MiniCluster, or the cluster at `jobmanager`);
    #: `inprocess`: the engine inside the platform process (correlation windows not checkpointed).
    engine: Literal["flink", "inprocess"] = "flink"
    #: Sigma rule files or directories (relative to the working directory); empty: the project's pack.
    rules: tuple[Path, ...] = ()
    pipeline: str = Field(default="default", min_length=1)
    #: Both engines: how far behind the newest event time an event may arrive and still count in
    #: correlations (also the Flink job's watermark bound). One setting, so switching engines never
    #: changes which late events correlate; "fewer than N" alerts come this much event time late.
    allowed_lateness_seconds: float = Field(default=60.0, ge=0, le=86_400)
    #: Flink job: operator parallelism.
    parallelism: int = Field(default=1, ge=1, le=64)
    #: Flink job: `python.execution-mode`; thread mode measured about twice as fast as process mode,
    #: which only runs on a cluster (on the embedded MiniCluster Beam's servers bind every interface).
    execution_mode: Literal["thread", "process"] = "thread"
    #: Flink job: `host:port` of a standalone cluster's JobManager; unset or "off": embedded MiniCluster.
    jobmanager: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+:[0-9]{1,5}$")
    #: Flink job: checkpoint interval; alerts are committed (visible to the platform) on checkpoints.
    checkpoint_interval_ms: int = Field(default=500, ge=50, le=600_000)

    @model_validator(mode="before")
    @classmethod
    def _replaced(cls, values: Any) -> Any:
        if isinstance(values, dict) and "out_of_orderness_seconds" in values:
            raise ValueError(
                "detection.out_of_orderness_seconds: replaced by detection.allowed_lateness_seconds, "
                "the one correlation lateness of both engines (the Flink job's was 5 s, the "
                "in-process engine's 300 s); set that instead"
            )
        return values

    @model_validator(mode="after")
    def _process_mode_on_a_cluster(self) -> DetectionSettings:
        if self.execution_mode == "process" and self.engine == "flink" and self.jobmanager is None:
            raise ValueError(
                "detection.execution_mode: process mode runs only on a cluster (detection.jobmanager): "
                "on the embedded MiniCluster the gRPC servers of its Python workers listen on every "
                "interface (measured; nothing binds them); thread mode is the default and faster"
            )
        return self

    @field_validator("jobmanager", mode="before")
    @classmethod
    def _embedded(cls, value: Any) -> Any:
        # TOML has no null and environment variables are strings: "off" (or empty) means embedded.
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none", "embedded"):
            return None
        return value


class GovernanceSettings(_Section):
    """What every parser enriches from (relative paths are under `data_dir`); reloaded on change."""

    #: Asset catalog JSON (datasets with their grade, owner and region; departments; network plan).
    catalog: Path | None = None
    #: Approval register, JSON lines (one grant per line).
    approvals: Path | None = None


class PlatformSettings(_Section):
    """How `datasoc run` supervises its steps (indexer, trail, detection, checkpoints, retention)."""

    #: Seconds a step waits after a round that found no more work.
    step_interval_seconds: float = Field(default=0.2, gt=0, le=60)
    #: Page cache of each state-store connection, MiB (filled as pages are read).
    state_cache_mib: int = Field(default=64, ge=1, le=4096)
    #: A consumer further behind than this many events makes `/readyz` answer 503.
    lag_bound: int = Field(default=200_000, ge=1)
    #: SIGTERM stops within this many seconds; work not done is left for the next start.
    stop_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    #: How often the store's and the spool's retention run.
    retention_every_seconds: float = Field(default=3600.0, ge=1, le=86_400)


class Settings(BaseSettings):
    """All of datasoc's configuration."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    log: LogSettings = LogSettings()
    spool: SpoolSettings = SpoolSettings()
    transport: TransportSettings = TransportSettings()
    store: StoreSettings = StoreSettings()
    api: ApiSettings = ApiSettings()
    ledger: LedgerSettings = LedgerSettings()
    collect: CollectSettings = CollectSettings()
    detection: DetectionSettings = DetectionSettings()
    governance: GovernanceSettings = GovernanceSettings()
    platform: PlatformSettings = PlatformSettings()
    alerting: AlertingSettings = AlertingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `load_settings` merges the TOML file and the environment (in that order) into the init
        # values itself, from a mapping it is given, so tests never touch the process environment.
        return (init_settings,)

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.mode != "production":
            return self
        for key, secret in (
            ("api.secret_key", self.api.secret_key),
            ("ledger.key_passphrase", self.ledger.key_passphrase),
        ):
            if secret.get_secret_value() == DEV_SECRET:
                raise ValueError(
                    f"{key}: the development default is refused in production mode; set a secret"
                )
            if len(secret.get_secret_value()) < 16:
                raise ValueError(f"{key}: must be at least 16 characters in production mode")
        if not self.api.cookie_secure:
            raise ValueError(
                "api.cookie_secure: production mode needs Secure session cookies (serve the API over TLS, "
                "or behind a TLS proxy listed in api.trusted_proxies); only development may turn it off"
            )
        for channel in self.alerting.channel:
            if channel.type == "smtp" and not channel.starttls:
                raise ValueError(
                    f"alerting.channel: {channel.name}: production mode sends mail only over STARTTLS"
                )
        if self.store.backend != "sqlite" and not self.store.verify_tls:
            raise ValueError("store.verify_tls: must stay true in production mode")
        if self.store.backend != "sqlite" and (self.store.password or self.store.api_key):
            plain = [url for url in self.store.urls if url.startswith("http://")]
            if plain:
                raise ValueError(
                    f"store.urls: credentials over plain http are refused in production ({plain[0]})"
                )
        t = self.transport
        if t.backend == "kafka" and t.password is not None and t.security_protocol != "SASL_SSL":
            raise ValueError(
                f"transport.security_protocol: a Kafka password over {t.security_protocol} is "
                "refused in production; use SASL_SSL"
            )
        if self.store.retention_days < MIN_RETENTION_DAYS:
            raise ValueError(
                f"store.retention_days: {self.store.retention_days} is below {MIN_RETENTION_DAYS}; "
                "MLPS 2.0 level 3 keeps audit records at least six months "
                "(only development mode may shorten it)"
            )
        return self

    def resolve(self, path: Path) -> Path:
        """A configured path, relative ones taken under `data_dir`."""
        return path if path.is_absolute() else self.data_dir / path


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; raise `ConfigError` that names key, value and what is allowed.

    `environ` defaults to `os.environ`; tests pass their own mapping.
    """
    env = dict(os.environ if environ is None else environ)
    if config_file is None and env.get(CONFIG_ENV):
        config_file = Path(env[CONFIG_ENV])
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"configuration file {config_file} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"configuration file {config_file} is not valid UTF-8 TOML: {exc}") from None
    merged = _deep_merge(file_values, _from_environ(env))
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(_scrub(_describe(exc, config_file, merged), merged)) from None


def _from_environ(env: Mapping[str, str]) -> dict[str, Any]:
    """`DATASOC_STORE__RETENTION_DAYS=200` -> `{"store": {"retention_days": "200"}}`."""
    out: dict[str, Any] = {}
    for name, value in env.items():
        upper = name.upper()
        if not upper.startswith("DATASOC_") or upper in NOT_SETTINGS:
            continue
        parts = [part.lower() for part in upper[len("DATASOC_") :].split("__")]
        if not all(parts):
            raise ConfigError(f"environment variable {name}: empty key segment")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, config_file: Path | None, merged: Mapping[str, Any]) -> str:
    where = f" (from {config_file} and DATASOC_* variables)" if config_file else " (from DATASOC_* variables)"
    lines = [f"invalid configuration{where}:"]
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error.get("loc", ())]
        key = ".".join(loc) if loc else ""
        message = str(error.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
            head, sep, rest = message.partition(": ")
            # A section's own check names the full key itself ("collect.tls_key: ...").
            if sep and (not key or head.startswith(f"{key}.") or ("." in head and " " not in head)):
                key, message = head, rest
        if error.get("type") == "extra_forbidden":
            message = "unknown setting"
        # The value is looked up by its key in what was given, never taken from the error: a
        # model-level check's "input" is the whole configuration, secrets and all.
        found, value = _lookup(merged, key)
        shown = "<secret>" if _is_secret_key(key) else repr(value) if found else "(not set)"
        env_name = "DATASOC_" + "__".join(part.upper() for part in key.split(".")) if key else ""
        lines.append(
            f"  {key or '<settings>'} = {shown}: {message}" + (f" [env {env_name}]" if env_name else "")
        )
    return "\n".join(lines)


def _lookup(merged: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = merged
    for part in key.split(".") if key else ():
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    if isinstance(node, Mapping | list | tuple):
        return False, None  # a whole section is not a value to show
    return bool(key), node


def _secrets_in(node: Any, key: str = "") -> list[str]:
    if isinstance(node, Mapping):
        return [s for k, v in node.items() for s in _secrets_in(v, f"{key}.{k}" if key else str(k))]
    if isinstance(node, list | tuple):
        return [s for item in node for s in _secrets_in(item, key)]
    if _is_secret_key(key) and isinstance(node, str | SecretStr):
        text = node.get_secret_value() if isinstance(node, SecretStr) else node
        return [text] if len(text) >= 4 else []
    return []


def _scrub(message: str, merged: Mapping[str, Any]) -> str:
    """Replace every configured secret that appears in `message` (belt and braces)."""
    for secret in sorted(set(_secrets_in(merged)), key=len, reverse=True):
        message = message.replace(secret, "<secret>")
    return message


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in ("secret", "passphrase", "password", "token", "key"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded on first use from `DATASOC_CONFIG` and the environment."""
    return load_settings()
