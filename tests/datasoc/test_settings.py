"""Settings: file and environment precedence, validation messages, production rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasoc.errors import ConfigError
from datasoc.settings import DEV_SECRET, MIN_RETENTION_DAYS, get_settings, load_settings

STRONG = {"DATASOC_API__SECRET_KEY": "s" * 32, "DATASOC_LEDGER__KEY_PASSPHRASE": "p" * 32}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "datasoc.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_development() -> None:
    settings = load_settings(None, {})
    assert settings.mode == "development"
    assert settings.store.retention_days == MIN_RETENTION_DAYS == 184
    assert settings.api.secret_key.get_secret_value() == DEV_SECRET


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = write(tmp_path, '[store]\nretention_days = 200\n[log]\nlevel = "debug"\n')
    settings = load_settings(config, {"DATASOC_STORE__RETENTION_DAYS": "365", "OTHER": "ignored"})
    assert settings.store.retention_days == 365
    assert settings.log.level == "debug"


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = write(tmp_path, 'data_dir = "/srv/datasoc"\n')
    assert load_settings(None, {"DATASOC_CONFIG": str(config)}).data_dir == Path("/srv/datasoc")


def test_invalid_value_names_key_value_and_allowed(tmp_path: Path) -> None:
    config = write(tmp_path, "[api]\nport = 99999\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {"DATASOC_LOG__LEVEL": "loud"})
    message = str(caught.value)
    assert "api.port = 99999" in message
    assert "less than or equal to 65535" in message
    assert "log.level = 'loud'" in message
    assert "'debug', 'info', 'warning' or 'error'" in message
    assert "DATASOC_LOG__LEVEL" in message


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"stor\.retention_days = 5: unknown setting|stor = .*unknown setting"
    ):
        load_settings(write(tmp_path, "[stor]\nretention_days = 5\n"), {})


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid UTF-8 TOML"):
        load_settings(write(tmp_path, "[store\n"), {})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", {})


def test_production_refuses_default_secrets_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"DATASOC_MODE": "production"})
    assert "api.secret_key" in str(caught.value)
    assert "refused in production" in str(caught.value)
    assert DEV_SECRET not in str(caught.value)


def test_production_refuses_short_retention() -> None:
    env = {"DATASOC_MODE": "production", "DATASOC_STORE__RETENTION_DAYS": "30", **STRONG}
    with pytest.raises(ConfigError, match=r"store\.retention_days.*six months"):
        load_settings(None, env)
    # Development may shorten it (demo, tests).
    assert load_settings(None, {"DATASOC_STORE__RETENTION_DAYS": "30"}).store.retention_days == 30


def test_production_with_real_secrets_loads_and_hides_them() -> None:
    settings = load_settings(None, {"DATASOC_MODE": "production", **STRONG})
    assert settings.mode == "production"
    assert "s" * 32 not in repr(settings)


def test_resolve_relative_paths_under_data_dir() -> None:
    settings = load_settings(None, {"DATASOC_DATA_DIR": "/var/lib/datasoc"})
    assert settings.resolve(settings.store.path) == Path("/var/lib/datasoc/events.sqlite3")
    assert settings.resolve(Path("/abs/x")) == Path("/abs/x")


def test_get_settings_is_cached() -> None:
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()


def test_section_check_names_the_full_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"DATASOC_COLLECT__SYSLOG_TLS_PORT": "6514"})
    assert "collect.syslog_tls_port = '6514': needs collect.tls_cert and collect.tls_key" in str(caught.value)
    assert "DATASOC_COLLECT__SYSLOG_TLS_PORT" in str(caught.value)


def test_detection_defaults_to_the_embedded_flink_job() -> None:
    detection = load_settings(None, {}).detection
    assert detection.engine == "flink"
    assert (detection.parallelism, detection.execution_mode, detection.jobmanager) == (1, "thread", None)
    assert (detection.checkpoint_interval_ms, detection.allowed_lateness_seconds) == (500, 60.0)


def test_detection_job_settings_from_file_and_environment(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[detection]\nengine = "flink"\nparallelism = 2\nexecution_mode = "process"\n'
        'jobmanager = "flink-jm.internal:8081"\ncheckpoint_interval_ms = 1000\n',
    )
    detection = load_settings(config, {"DATASOC_DETECTION__ALLOWED_LATENESS_SECONDS": "2.5"}).detection
    assert (detection.parallelism, detection.execution_mode) == (2, "process")
    assert detection.jobmanager == "flink-jm.internal:8081"
    assert (detection.checkpoint_interval_ms, detection.allowed_lateness_seconds) == (1000, 2.5)
    # "off" (TOML has no null) and an empty environment variable both mean the embedded MiniCluster.
    assert load_settings(None, {"DATASOC_DETECTION__JOBMANAGER": "off"}).detection.jobmanager is None
    assert load_settings(None, {"DATASOC_DETECTION__JOBMANAGER": ""}).detection.jobmanager is None
    assert load_settings(None, {"DATASOC_DETECTION__ENGINE": "inprocess"}).detection.engine == "inprocess"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ENGINE", "spark", "detection.engine = 'spark': Input should be 'flink' or 'inprocess'"),
        ("PARALLELISM", "0", "detection.parallelism = '0': Input should be greater than or equal to 1"),
        (
            "EXECUTION_MODE",
            "fork",
            "detection.execution_mode = 'fork': Input should be 'thread' or 'process'",
        ),
        ("JOBMANAGER", "http://jm", "detection.jobmanager = 'http://jm': String should match pattern"),
        ("CHECKPOINT_INTERVAL_MS", "10", "detection.checkpoint_interval_ms = '10': Input should be greater"),
        (
            "ALLOWED_LATENESS_SECONDS",
            "-1",
            "detection.allowed_lateness_seconds = '-1': Input should be greater",
        ),
        (
            "EXECUTION_MODE",
            "process",
            "detection.execution_mode = 'process': process mode runs only on a cluster",
        ),
        (
            "OUT_OF_ORDERNESS_SECONDS",
            "5",
            "detection.out_of_orderness_seconds = '5': replaced by detection.allowed_lateness_seconds",
        ),
    ],
)
def test_invalid_detection_settings_name_the_key(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {f"DATASOC_DETECTION__{variable}": value})
    assert expected in str(caught.value)
    assert f"DATASOC_DETECTION__{variable}" in str(caught.value)


def test_the_rule_cache_variable_is_not_a_setting() -> None:
    # `datasoc run` names the compiled-rule cache for its job's processes in DATASOC_RULE_CACHE.
    assert load_settings(None, {"DATASOC_RULE_CACHE": "/var/lib/datasoc/cache/rules"}) is not None


def test_collector_sources_and_limits_from_file(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """
[collect.limits]
http_max_connections = 200
http_header_timeout_seconds = 5

[[collect.syslog_source]]
source = "audit-hosts"
parser = "auditd"
cidr = ["10.20.0.0/16"]
peer = ["10.1.2.3"]
expected_interval_seconds = 600

[[collect.evtx]]
source = "dc-01"
patterns = ["/srv/evtx/*.evtx"]

[[collect.token_source]]
source = "gateway"
expected_interval_seconds = 300
""",
    )
    collect = load_settings(config, {"DATASOC_COLLECT__LIMITS__HTTP_MAX_CONNECTIONS_PER_PEER": "20"}).collect
    assert (collect.limits.http_max_connections, collect.limits.http_max_connections_per_peer) == (200, 20)
    assert collect.limits.http_header_timeout_seconds == 5
    assert collect.limits.syslog_idle_timeout_seconds == 600  # defaults beside what was set
    assert collect.syslog_source[0].cidr == ("10.20.0.0/16",)
    assert collect.evtx[0].patterns == ("/srv/evtx/*.evtx",)
    assert collect.token_source[0].expected_interval_seconds == 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[collect.syslog_source]]\nsource = "a"\ncidr = ["10.0.0.1/8"]\n', "collect.syslog_source.0.cidr"),
        ('[[collect.syslog_source]]\nsource = "a"\npeer = ["db-01"]\n', "is not an IP address"),
        ('[[collect.syslog_source]]\nsource = "a"\n', "needs at least one of peer, cidr, tls_subject"),
        ("[collect.limits]\nhttp_max_connections = 10\nhttp_max_connections_per_peer = 11\n", "above"),
        ("[collect.limits]\nhttp_header_timeout_seconds = 0\n", "collect.limits.http_header_timeout_seconds"),
        (
            '[[collect.evtx]]\nsource = "x"\npatterns = ["a"]\n[[collect.tail]]\nsource = "x"\n'
            'parser = "apigw_json"\npatterns = ["b"]\n',
            "source 'x' is already used",
        ),
        ('[[collect.token_source]]\nsource = "gw"\n', "collect.token_source.0.expected_interval_seconds"),
    ],
)
def test_invalid_collector_tables_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        load_settings(write(tmp_path, text), {})


def test_search_store_settings_from_environment_keep_the_password_secret() -> None:
    env = {
        "DATASOC_STORE__BACKEND": "elasticsearch",
        "DATASOC_STORE__URLS": "https://es-1:9200, https://es-2:9200",
        "DATASOC_STORE__USERNAME": "writer",
        "DATASOC_STORE__PASSWORD": "correct horse battery",
        "DATASOC_STORE__REPLICAS": "2",
    }
    settings = load_settings(None, env)
    assert settings.store.urls == ("https://es-1:9200", "https://es-2:9200")
    assert settings.store.password is not None
    assert settings.store.password.get_secret_value() == "correct horse battery"
    assert "correct horse" not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {**env, "DATASOC_STORE__SHARDS": "0"})
    assert "store.shards" in str(caught.value)
    assert "correct horse" not in str(caught.value)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"DATASOC_STORE__URLS": "es-1:9200"}, r"store\.urls.*http:// or https://"),
        ({"DATASOC_STORE__URLS": "https://user:pw@es-1:9200"}, r"credentials in store\.username"),
        ({"DATASOC_STORE__INDEX_PREFIX": "Upper-"}, r"store\.index_prefix"),
        ({"DATASOC_STORE__BACKEND": "mongodb"}, r"store\.backend"),
    ],
)
def test_invalid_search_store_settings_name_the_key(variables: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(None, variables)


def test_production_refuses_unverified_tls_and_credentials_over_http() -> None:
    base = {"DATASOC_MODE": "production", "DATASOC_STORE__BACKEND": "opensearch", **STRONG}
    with pytest.raises(ConfigError, match=r"store\.verify_tls"):
        load_settings(
            None, {**base, "DATASOC_STORE__VERIFY_TLS": "false", "DATASOC_STORE__URLS": "https://os:9200"}
        )
    with pytest.raises(ConfigError, match=r"plain http are refused"):
        load_settings(
            None, {**base, "DATASOC_STORE__PASSWORD": "p" * 20, "DATASOC_STORE__URLS": "http://os:9200"}
        )
    assert (
        load_settings(None, {**base, "DATASOC_STORE__URLS": "https://os:9200"}).store.backend == "opensearch"
    )
