"""SIGKILL in the middle of deliveries: `datasoc run` is killed while it notifies, started again, and
every notification is processed exactly once by the receivers (they deduplicate by idempotency key:
a send interrupted between the receiver's answer and our record is sent again under the same key)."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from datasoc.transport import ALERTS, Spool
from soc_api.alerting.receivers import LocalReceivers
from soc_api.detector import encode_alert
from tests.soc_api.alerting.conftest import detection_alert
from tests.soc_api.datasoc_run import spawn_run_listening

pytestmark = pytest.mark.slow
ALERTS_SENT = 60


def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def config(receivers: LocalReceivers, path: Path) -> Path:
    lines = [
        "[detection]",
        'engine = "inprocess"',
        "[alerting]",
        "max_attempts = 50",
        "retry_base_seconds = 0.2",
        "retry_max_seconds = 1",
    ]
    channels = receivers.channels(timeout=2.0)
    for channel in channels:
        lines.append("[[alerting.channel]]")
        for name in type(channel).model_fields:
            value = getattr(channel, name)
            if value is not None:
                lines.append(f"{name} = {_toml_value(value)}")
    lines += ["[[alerting.route]]", 'name = "all"', f"channels = {_toml_value([c.name for c in channels])}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def outbox(data_dir: Path) -> dict[str, str]:
    import sqlite3

    with sqlite3.connect(data_dir / "state.sqlite3") as conn:
        return dict(conn.execute("SELECT key, status FROM notifications").fetchall())


def test_sigkill_mid_delivery_then_restart_delivers_every_notification_once(tmp_path: Path) -> None:
    from crypto.recipes import SigningKey

    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    (data_dir / "tokens.json").write_text("{}", encoding="utf-8")
    # The push key is made by the platform on first start; the receiver needs its public half.
    from datasoc.settings import load_settings
    from soc_api.alerting.runtime import push_key

    signer: SigningKey = push_key(load_settings(None, {"DATASOC_DATA_DIR": str(data_dir)}))
    receivers = LocalReceivers.start(
        tmp_path / "receivers", now=datetime.now(UTC), push_public_pem=signer.public_key_pem(), smtp=True
    )
    # Slow receivers, so the kill lands while sends are in flight.
    for path in ("/webhook", "/sm2/push", "/wecom/webhook/send", "/dingtalk/robot/send"):
        receivers.web.delay[path] = 0.15
    settings_file = config(receivers, tmp_path / "datasoc.toml")
    spool = Spool.open(data_dir / "spool")
    alerts = [detection_alert(n, user=f"user{n}") for n in range(ALERTS_SENT)]
    spool.append(ALERTS, [encode_alert(a) for a in alerts], now=datetime.now(UTC))
    spool.close()
    env = {
        "DATASOC_CONFIG": str(settings_file),
        "DATASOC_ALERTING__BULLETINS__DAILY": "false",
        "DATASOC_ALERTING__BULLETINS__WEEKLY": "false",
    }
    try:
        proc, _addresses = spawn_run_listening(data_dir, env, interval=0.05)
        try:
            deadline = time.monotonic() + 120
            while receivers.inbox.count() < 40 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert receivers.inbox.count() >= 40, "deliveries did not start"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        before = outbox(data_dir)
        processed_before = receivers.inbox.count()
        assert list(before.values()).count("delivered") > 0
        assert "pending" in before.values(), "the kill came after every delivery: nothing was proven"

        proc, _addresses = spawn_run_listening(data_dir, env, interval=0.05)
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                rows = outbox(data_dir)
                if rows and all(status == "delivered" for status in rows.values()):
                    break
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        rows = outbox(data_dir)
        # Every notification of every alert, through every channel, delivered and processed once.
        assert len(rows) == ALERTS_SENT * len(receivers.channels())
        assert set(rows.values()) == {"delivered"}
        processed = receivers.inbox.processed
        assert set(rows) <= set(processed)
        assert processed_before < len(processed)
        # Anything sent twice (a send cut between the answer and our record) was a duplicate at the
        # receiver, recognised by its key, never processed again.
        assert all(key in processed for key in receivers.inbox.duplicates)
        assert len(receivers.smtp.messages) == ALERTS_SENT + sum(
            n for k, n in receivers.inbox.duplicates.items() if processed[k].channel == "smtp"
        )
    finally:
        receivers.stop()
