"""Typed settings: one object, read from a TOML file and `DATASOC_*` environment variables.

Precedence, lowest first: defaults, the TOML file, environment variables
(`DATASOC_STORE__RETENTION_DAYS=200` sets `[store] retention_days`). Everything is validated
when loaded; an invalid value stops start-up with a `ConfigError` naming the key, the value and
what is allowed. Nothing is read at import time: `get_settings()` loads once, on first call.
"""

from __future__ import annotations

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

#: Placeholder secrets that only development mode accepts.
DEV_SECRET = "dev-only-insecure-change-me"  # noqa: S105 - a marker refused outside development
#: MLPS 2.0 level 3 (GB/T 22239-2019 8.1.4.3): audit records kept at least six months.
MIN_RETENTION_DAYS = 184
CONFIG_ENV = "DATASOC_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: `auto` is console in development and JSON lines in production.
    format: Literal["auto", "json", "console"] = "auto"


class SpoolSettings(_Section):
    segment_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024, le=1024**3)
    retention_hours: int = Field(default=7 * 24, ge=1)
    retention_bytes: int = Field(default=10 * 1024**3, ge=1024 * 1024)


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
    host: str = "127.0.0.1"
    port: int = Field(default=8600, ge=1, le=65535)
    secret_key: SecretStr = SecretStr(DEV_SECRET)


class LedgerSettings(_Section):
    path: Path = Path("ledger")
    #: Names the ledger in its signed checkpoints (the first line of the signed text).
    origin: str = Field(
        default="datasoc.local/audit-ledger", min_length=1, max_length=200, pattern=r"^[^\n]+$"
    )
    #: Key store (SM2 signing and SM4 sealing keys, encrypted under `key_passphrase`).
    keys_path: Path = Path("keys")
    checkpoint_every: int = Field(default=1000, ge=1)
    checkpoint_seconds: float = Field(default=60.0, gt=0)
    key_passphrase: SecretStr = SecretStr(DEV_SECRET)


class TailSettings(_Section):
    """One followed log: files matching `patterns`, read with `parser`, reported as `source`."""

    source: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    parser: str = Field(min_length=1)
    patterns: tuple[str, ...] = Field(min_length=1)


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


class DetectionSettings(_Section):
    """Detection of `datasoc run` and `datasoc demo`: the Flink job (default) or the in-process engine."""

    #: `flink`: the PyFlink job (an embedded MiniCluster, or the cluster at `jobmanager`);
    #: `inprocess`: the engine inside the platform process (correlation windows not checkpointed).
    engine: Literal["flink", "inprocess"] = "flink"
    #: Sigma rule files or directories (relative to the working directory); empty: the project's pack.
    rules: tuple[Path, ...] = ()
    pipeline: str = Field(default="default", min_length=1)
    #: In-process engine: how far behind the newest event time an event may arrive and still count
    #: in correlations.
    allowed_lateness_seconds: float = Field(default=300.0, ge=0)
    #: Flink job: operator parallelism.
    parallelism: int = Field(default=1, ge=1, le=64)
    #: Flink job: `python.execution-mode`; thread mode measured about twice as fast as process mode.
    execution_mode: Literal["thread", "process"] = "thread"
    #: Flink job: `host:port` of a standalone cluster's JobManager; unset or "off": embedded MiniCluster.
    jobmanager: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+:[0-9]{1,5}$")
    #: Flink job: checkpoint interval; alerts are committed (visible to the platform) on checkpoints.
    checkpoint_interval_ms: int = Field(default=500, ge=50, le=600_000)
    #: Flink job: watermark delay behind the newest event time, also the correlations' allowed lateness.
    out_of_orderness_seconds: float = Field(default=5.0, ge=0, le=86_400)

    @field_validator("jobmanager", mode="before")
    @classmethod
    def _embedded(cls, value: Any) -> Any:
        # TOML has no null and environment variables are strings: "off" (or empty) means embedded.
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none", "embedded"):
            return None
        return value


class Settings(BaseSettings):
    """All of datasoc's configuration."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    log: LogSettings = LogSettings()
    spool: SpoolSettings = SpoolSettings()
    store: StoreSettings = StoreSettings()
    api: ApiSettings = ApiSettings()
    ledger: LedgerSettings = LedgerSettings()
    collect: CollectSettings = CollectSettings()
    detection: DetectionSettings = DetectionSettings()

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
        if self.store.backend != "sqlite" and not self.store.verify_tls:
            raise ValueError("store.verify_tls: must stay true in production mode")
        if self.store.backend != "sqlite" and (self.store.password or self.store.api_key):
            plain = [url for url in self.store.urls if url.startswith("http://")]
            if plain:
                raise ValueError(
                    f"store.urls: credentials over plain http are refused in production ({plain[0]})"
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
        raise ConfigError(_describe(exc, config_file)) from None


def _from_environ(env: Mapping[str, str]) -> dict[str, Any]:
    """`DATASOC_STORE__RETENTION_DAYS=200` -> `{"store": {"retention_days": "200"}}`."""
    out: dict[str, Any] = {}
    for name, value in env.items():
        upper = name.upper()
        if not upper.startswith("DATASOC_") or upper == CONFIG_ENV:
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


def _describe(exc: ValidationError, config_file: Path | None) -> str:
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
            if sep and (not key or head.startswith(f"{key}.")):
                key, message = head, rest
        value = error.get("input")
        if isinstance(value, dict) and key.rsplit(".", 1)[-1] in value:
            value = value[key.rsplit(".", 1)[-1]]
        shown = "<secret>" if _is_secret_key(key) else repr(value)
        if error.get("type") == "extra_forbidden":
            message = "unknown setting"
        env_name = "DATASOC_" + "__".join(part.upper() for part in key.split(".")) if key else ""
        lines.append(
            f"  {key or '<settings>'} = {shown}: {message}" + (f" [env {env_name}]" if env_name else "")
        )
    return "\n".join(lines)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in ("secret", "passphrase", "password", "token", "key"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded on first use from `DATASOC_CONFIG` and the environment."""
    return load_settings()
