"""Native logs of every parser through `datasoc run`: file tails, HTTP with parser tokens, syslog
with per-peer mapping (an auditd host over syslog), an `.evtx` folder; all stored, and a token
source that stays silent past its expected interval raises the silent-source alert (issue 11)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from click.testing import CliRunner

from collectors.inputs.tokens import hash_token, new_token
from datasoc.store import FieldFilter, SearchQuery, SQLiteEventStore
from datasoc.transport import ALERTS, Spool
from soc_api.cli import cli
from soc_api.demo import generate, write_demo
from tests.collectors.inputs.test_syslog import AUDIT
from tests.collectors.test_parser_provider import record as provider_record
from tests.soc_api.datasoc_run import spawn_run_listening

REGRESSION = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sigma" / "regression_data"
FAR = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


def count(store: SQLiteEventStore, dataset: str) -> int:
    query = SearchQuery(start=FAR[0], end=FAR[1], filters=(FieldFilter.eq("event.dataset", dataset),))
    return int(store.count(query))


def count_where(store: SQLiteEventStore, dataset: str, condition: FieldFilter) -> int:
    filters = (FieldFilter.eq("event.dataset", dataset), condition)
    return int(store.count(SearchQuery(start=FAR[0], end=FAR[1], filters=filters)))


def send_tcp(port: int, lines: list[bytes], source: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"".join(line + b"\n" for line in lines))


def test_every_parser_through_run_is_stored_and_silence_is_alerted(tmp_path: Path) -> None:
    demo = write_demo(
        generate(seed=7, start=datetime(2026, 11, 1, tzinfo=UTC), days=1, scale=0.1), tmp_path / "demo"
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(demo["apigw_access.jsonl"], logs / "apigw.jsonl")
    shutil.copy(demo["postgresql.csv"], logs / "postgresql.csv")
    evtx_dir = tmp_path / "evtx"
    evtx_dir.mkdir()
    evtx_files = sorted(REGRESSION.rglob("*.evtx"))[:3] if REGRESSION.is_dir() else []
    for index, path in enumerate(evtx_files):
        shutil.copy(path, evtx_dir / f"host-{index}.evtx")
    mysql, provider = new_token(), new_token()
    (tmp_path / "tokens.json").write_text(
        json.dumps(
            {
                hash_token(mysql): {"source": "mysql-audit", "parser": "mysql_audit_json"},
                hash_token(provider): {"source": "portal", "parser": "provider_json"},
                hash_token(new_token()): {"source": "quiet-gateway", "parser": None},
            }
        ),
        encoding="utf-8",
    )
    config = tmp_path / "datasoc.toml"
    config.write_text(
        f"""
[[collect.tail]]
source = "gateway-log"
parser = "apigw_json"
patterns = ["{logs}/apigw*.jsonl"]
expected_interval_seconds = 3600

[[collect.tail]]
source = "pg-log"
parser = "pgaudit_csv"
patterns = ["{logs}/postgresql.csv"]

[[collect.evtx]]
source = "windows-hosts"
patterns = ["{evtx_dir}/*.evtx"]

[[collect.syslog_source]]
source = "audit-hosts"
parser = "auditd"
peer = ["127.0.0.3"]

[[collect.token_source]]
source = "quiet-gateway"
expected_interval_seconds = 1

[governance]
catalog = "{demo["catalog.json"]}"
approvals = "{demo["approvals.jsonl"]}"
""",
        encoding="utf-8",
    )
    env = {
        "DATASOC_CONFIG": str(config),
        "DATASOC_LOG__LEVEL": "warning",
        "DATASOC_DETECTION__ENGINE": "inprocess",
        "DATASOC_COLLECT__SYSLOG_TCP_PORT": "0",
        "PATH": "/usr/bin:/bin",
    }
    # Source health is served by the API behind `sources.read`: a token that may read it.
    made = CliRunner().invoke(
        cli, ["tokens", "add", "--data-dir", str(tmp_path), "--name", "probe", "--scope", "sources.read"]
    )
    assert made.exit_code == 0, made.stderr
    probe = made.stdout.strip()
    proc, addresses = spawn_run_listening(tmp_path, env, interval=0.2)
    api = "http://127.0.0.1:{}/api/v1/sources".format(addresses["api"][1])  # type: ignore[index]
    url = "http://127.0.0.1:{}/api/v1/ingest".format(addresses["http"][1])  # type: ignore[index]
    tcp_port = int(addresses["tcp"][1])  # type: ignore[call-overload]
    expected = {"apigw_json", "pgaudit_csv", "mysql_audit_json", "provider_json", "linux_syslog", "auditd"}
    if evtx_files:
        expected.add("windows_evtx")
    try:
        answer = httpx.post(
            url, content=demo["mysql_audit.jsonl"].read_bytes(), headers={"Authorization": f"Bearer {mysql}"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] > 0
        answer = httpx.post(
            url, content=provider_record().encode(), headers={"Authorization": f"Bearer {provider}"}
        )
        assert answer.json()["accepted"] == 1, answer.text
        send_tcp(tcp_port, demo["auth.log"].read_bytes().splitlines()[:20], "127.0.0.1")
        send_tcp(tcp_port, [f"<86>Nov 28 10:00:01 db-01 audisp-syslog: {AUDIT}".encode()], "127.0.0.3")
        deadline = time.monotonic() + 90
        found: dict[str, int] = {}
        while time.monotonic() < deadline:
            with SQLiteEventStore(tmp_path / "events.sqlite3") as store:
                found = {name: count(store, name) for name in expected}
            if all(found.values()):
                break
            time.sleep(0.3)
        with SQLiteEventStore(tmp_path / "events.sqlite3") as store:
            # Graded and joined with the approval register as they are parsed, in `run` too.
            graded = {
                name: count_where(
                    store, name, FieldFilter.any_of("data.classification", ("core", "important", "general"))
                )
                for name in ("apigw_json", "mysql_audit_json", "pgaudit_csv")
            }
            with_approval = count_where(
                store, "apigw_json", FieldFilter.any_of("approval.status", ("approved", "expired", "unknown"))
            )
        answer = httpx.get(api, headers={"Authorization": f"Bearer {probe}"})
        assert answer.status_code == 200, answer.text
        sources = {s["name"]: s for s in answer.json()}
        time.sleep(6)  # the collector checks silence every 5 s
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert all(found.values()), found
    assert all(graded.values()), graded
    assert with_approval > 0
    # Tails and evtx folders report into the same source health as the network inputs.
    assert sources["gateway-log"]["accepted_total"] > 0
    assert sources["audit-hosts"]["accepted_total"] == 1
    with Spool.open(tmp_path / "spool") as spool:
        alerts = [orjson.loads(r.payload) for r in spool.read(ALERTS, 0, 1000)]
    silent = [a for a in alerts if a["rule.id"] == "datasoc-source-silent"]
    assert [a["group"]["source"] for a in silent] == ["quiet-gateway"]


def test_collect_config_maps_sources_and_refuses_unknown_parsers(tmp_path: Path) -> None:
    import pytest

    from datasoc.errors import ConfigError
    from datasoc.settings import load_settings
    from soc_api.platform import collect_config

    good = tmp_path / "good.toml"
    good.write_text(
        '[[collect.syslog_source]]\nsource = "audit-hosts"\nparser = "auditd"\ncidr = ["10.20.0.0/16"]\n'
        "expected_interval_seconds = 60\n"
        '[[collect.tail]]\nsource = "gw"\nparser = "apigw_json"\npatterns = ["x"]\n',
        encoding="utf-8",
    )
    config, _ = collect_config(load_settings(good, {"DATASOC_DATA_DIR": str(tmp_path)}))
    assert config.syslog.routes.for_peer("10.20.3.4").parser == "auditd"
    assert config.sources["audit-hosts"].expected_interval.total_seconds() == 60
    assert config.sources["gw"].expected_interval is None
    assert config.http.max_decoded_bytes == config.http.max_body_bytes
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[collect.syslog_source]]\nsource = "a"\nparser = "nope"\npeer = ["10.0.0.1"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"collect.syslog_source\[0\].parser = 'nope': known:"):
        collect_config(load_settings(bad, {"DATASOC_DATA_DIR": str(tmp_path)}))
