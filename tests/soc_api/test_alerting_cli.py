"""`datasoc alerts` and `datasoc cases` at the host: the same service and audit as the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from audit.ledger import Ledger
from crypto.recipes import KeyStore
from datasoc.settings import load_settings
from datasoc.transport import ALERTS, Spool
from soc_api.cli import cli
from soc_api.detector import encode_alert
from tests.soc_api.alerting.conftest import detection_alert

ENV = {"DATASOC_DETECTION__ENGINE": "inprocess"}


def run(data_dir: Path, *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(data_dir)], env=ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_the_queue_walked_to_closed_from_the_command_line(tmp_path: Path) -> None:
    # Alerts committed by detection, taken in by one pass of the platform.
    spool = Spool.open(tmp_path / "spool")
    spool.append(ALERTS, [encode_alert(detection_alert(n)) for n in range(12)], now=datetime.now(UTC))
    spool.close()
    result = CliRunner().invoke(
        cli, ["run", "--once", "--data-dir", str(tmp_path)], env={**ENV, "DATASOC_COLLECT__HTTP_PORT": "off"}
    )
    assert result.exit_code == 0, result.output
    queue = run(tmp_path, "alerts", "list")
    assert [(a["count"], a["status"]) for a in queue] == [(12, "new")]
    alert_id = str(queue[0]["id"])
    run(tmp_path, "alerts", "start", alert_id, "--note", "处置中")
    run(tmp_path, "alerts", "comment", alert_id, "已通知数据提供方")
    opened = run(tmp_path, "cases", "open", "--title", "夜间导出", "--alert", alert_id)
    failed = CliRunner().invoke(
        cli,
        ["alerts", "close", alert_id, "--resolution", "resolved", "--note", " ", "--data-dir", str(tmp_path)],
        env=ENV,
    )
    assert failed.exit_code == 1
    assert "disposition note is required" in failed.output
    closed = run(
        tmp_path, "alerts", "close", alert_id, "--resolution", "resolved", "--note", "已约谈，权限已回收"
    )
    assert closed[0]["status"] == "closed"
    assert closed[0]["case"] == opened[0]["id"]
    shown = run(tmp_path, "alerts", "show", alert_id)[0]
    actions = [h["action"] for h in shown["history"]]  # type: ignore[index, union-attr]
    assert actions[:1] + actions[-4:] == ["new", "started", "commented", "case_linked", "closed"]
    report = tmp_path / "case.pdf"
    run(tmp_path, "cases", "report", str(opened[0]["id"]), "--out", str(report))
    assert report.read_bytes().startswith(b"%PDF-")
    # Every action is in the ledger under the operator.
    settings = load_settings(None, {"DATASOC_DATA_DIR": str(tmp_path)})
    keys = KeyStore.open(
        settings.resolve(settings.ledger.keys_path),
        settings.ledger.key_passphrase.get_secret_value().encode(),
    )
    ledger = Ledger.open(
        settings.resolve(settings.ledger.path), keys.signing_key, origin=settings.ledger.origin
    )
    try:
        kinds = [e.kind for e in ledger.store.entries() if e.actor.startswith("cli:")]
    finally:
        ledger.close()
    assert {"alert.started", "alert.commented", "alert.case_created", "alert.closed"} <= set(kinds)
