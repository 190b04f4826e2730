"""The platform on Kafka (`transport.backend = "kafka"`): HTTP ingest through the broker into the
store, the ledger trail and detection, the consumers resuming from their groups after a restart."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from collectors.inputs.tokens import hash_token, new_token
from datasoc.errors import ConfigError
from datasoc.settings import Settings, load_settings
from datasoc.transport import ALERTS, EVENTS, KafkaTransport, Spool
from services import Server
from soc_api.daemon import Daemon, Roles, ServingThread
from soc_api.detector import decode_alert


def kafka_env(tmp_path: Path, kafka: Server, **extra: str) -> dict[str, str]:
    """Settings of a platform on `kafka`, its topics and groups under a prefix of its own."""
    prefix = f"p{secrets.token_hex(4)}."
    return {
        "DATASOC_DATA_DIR": str(tmp_path),
        "DATASOC_DETECTION__ENGINE": "inprocess",
        "DATASOC_TRANSPORT__BACKEND": "kafka",
        "DATASOC_TRANSPORT__BOOTSTRAP": kafka.address,
        "DATASOC_TRANSPORT__TOPIC_PREFIX": prefix,
        "DATASOC_TRANSPORT__GROUP_PREFIX": prefix,
        "DATASOC_COLLECT__HTTP_PORT": "0",
        "DATASOC_COLLECT__TOKENS_FILE": "tokens.json",
        "DATASOC_API__PORT": "off",
        **extra,
    }


def write_token(data_dir: Path) -> str:
    token = new_token()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "tokens.json").write_text(
        json.dumps({hash_token(token): {"source": "gateway", "parser": None}}), encoding="utf-8"
    )
    return token


def record(i: int, action: str = "dataset.query", original: str = "GET /q") -> dict[str, object]:
    return {
        "@timestamp": "2026-11-28T03:00:00Z",
        "event.id": f"k-{i:05d}",
        "event.action": action,
        "event.outcome": "success",
        "observer.collector": "gateway",
        "log.original": f"{original} #{i}",
        "user.name": "lisi",
        "datasoc.lifecycle": "use",
    }


def _daemon(settings: Settings) -> Daemon:
    counter = itertools.count()
    # The real clock: `wait_caught_up` compares the steps' round times with it.
    return Daemon.open(
        settings, roles=Roles(), clock=lambda: datetime.now(UTC), new_id=lambda: f"id-{next(counter)}"
    )


def test_settings_choose_kafka_and_refuse_what_is_wrong(tmp_path: Path) -> None:
    chosen = load_settings(
        None, {"DATASOC_TRANSPORT__BACKEND": "kafka", "DATASOC_TRANSPORT__BOOTSTRAP": "a:1,b:2"}
    )
    assert (chosen.transport.backend, chosen.transport.bootstrap) == ("kafka", "a:1,b:2")
    assert load_settings(None, {}).transport.backend == "spool"
    with pytest.raises(ConfigError, match=r"transport\.bootstrap"):
        load_settings(None, {"DATASOC_TRANSPORT__BOOTSTRAP": "no-port"})
    with pytest.raises(ConfigError, match=r"transport\.nope.*unknown setting"):
        load_settings(None, {"DATASOC_TRANSPORT__NOPE": "1"})
    production = {
        "DATASOC_MODE": "production",
        "DATASOC_API__SECRET_KEY": "s" * 32,
        "DATASOC_LEDGER__KEY_PASSPHRASE": "p" * 32,
        "DATASOC_TRANSPORT__BACKEND": "kafka",
        "DATASOC_TRANSPORT__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "DATASOC_TRANSPORT__SASL_MECHANISM": "SCRAM-SHA-512",
        "DATASOC_TRANSPORT__USERNAME": "datasoc",
        "DATASOC_TRANSPORT__PASSWORD": "kafka-secret-42",
    }
    with pytest.raises(ConfigError, match="SASL_SSL") as refused:
        load_settings(None, production)
    assert "kafka-secret-42" not in str(refused.value)
    accepted = load_settings(None, {**production, "DATASOC_TRANSPORT__SECURITY_PROTOCOL": "SASL_SSL"})
    assert "kafka-secret-42" not in repr(accepted)
    with pytest.raises(ConfigError, match=r"transport\.username"):
        load_settings(None, {"DATASOC_TRANSPORT__USERNAME": "datasoc"})  # PLAINTEXT with a user


def test_platform_on_kafka_ingests_indexes_traces_detects_and_resumes_from_its_groups(
    kafka_server: Server, tmp_path: Path
) -> None:
    token = write_token(tmp_path)
    settings = load_settings(None, kafka_env(tmp_path, kafka_server))
    daemon = _daemon(settings)
    serving = ServingThread(daemon)
    try:
        transport = daemon.platform.spool
        assert isinstance(transport, KafkaTransport)
        assert not (tmp_path / "spool").exists()  # nothing spooled locally
        daemon.start()
        port = int(serving.start()["http"][1])
        lines = [record(i) for i in range(30)] + [record(30, "audit.disable", "auditctl -e 0")]
        body = "\n".join(json.dumps(line) for line in lines).encode()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/ingest",
            content=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 31
        assert transport.range(EVENTS).end == 31  # acknowledged: on the broker
        daemon.wait_caught_up(lambda: datetime.now(UTC), time.sleep, timeout=timedelta(seconds=120))
        assert all(daemon.platform.store.get(f"k-{i:05d}") is not None for i in range(31))
        alerts = [decode_alert(r.payload) for r in transport.read(ALERTS, 0, 100)]
        assert [a.event_ids for a in alerts] == [("k-00030",)]
        offsets = transport.consumer_offsets(EVENTS)
        assert (offsets["indexer"], offsets["detector"]) == (31, 31)  # committed in their groups
        kinds = [e.kind for e in daemon.platform.ledger.store.entries()]
        assert kinds.count("access") == 31
    finally:
        serving.stop()
        daemon.close()
    again = _daemon(settings)  # a restart: every consumer resumes where its group committed
    try:
        for name in ("indexer", "trail", "detection"):
            again.supervisor.run_once(name)
        status = {s.name: s for s in again.supervisor.statuses()}
        assert [status[n].work for n in ("indexer", "trail", "detection")] == [0, 0, 0]
        assert [e.kind for e in again.platform.ledger.store.entries()].count("access") == 31
    finally:
        again.close()
    assert not isinstance(again.platform.spool, Spool)
