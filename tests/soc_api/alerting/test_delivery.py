"""Delivery through every channel to real local receivers that verify signatures and payloads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crypto.recipes import SigningKey
from soc_api.alerting import store
from soc_api.alerting.channels import build_senders
from soc_api.alerting.config import AlertingConfig, RetryPolicy, default_config
from soc_api.alerting.delivery import Deliverer, DeliveryReport
from soc_api.alerting.receivers import LocalReceivers
from soc_api.alerting.routing import Route
from tests.soc_api.alerting.conftest import AlertEnv, detection_alert, open_alerting


@pytest.fixture(scope="module")
def push_signer() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def receivers(tmp_path: Path, push_signer: SigningKey) -> Iterator[LocalReceivers]:
    started = LocalReceivers.start(
        tmp_path / "receivers", now=datetime.now(UTC), push_public_pem=push_signer.public_key_pem(), smtp=True
    )
    yield started
    started.stop()


def wired(
    tmp_path: Path,
    receivers: LocalReceivers,
    signer: SigningKey,
    *,
    retry: RetryPolicy | None = None,
    timeout: float = 5.0,
) -> tuple[AlertEnv, Deliverer]:
    channels = receivers.channels(timeout=timeout)
    names = tuple(c.name for c in channels)
    config = replace(
        default_config(),
        channels=names,
        routes=(
            Route(
                id="settings:all",
                name="all",
                channels=names,
                kinds=("alert", "escalation", "bulletin"),
                origin="settings",
            ),
        ),
        retry=retry or RetryPolicy(),
    )
    env = open_alerting(tmp_path / "env", config)
    deliverer = Deliverer(
        env.env.state,
        build_senders(channels, push_signer=signer),
        config,
        env.recorder,
        clock=env.env.clock,
        jitter=lambda: 0.5,
    )
    return env, deliverer


def drain(
    env: AlertEnv, deliverer: Deliverer, *, advance: float = 0.0, seconds: float = 20.0
) -> DeliveryReport:
    """Run rounds until nothing is pending nor in flight (moving the clock by `advance` per round)."""
    total = DeliveryReport()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        report = deliverer.run(env.env.clock())
        for name in ("started", "delivered", "failed", "dead"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        with env.env.state.read() as conn:
            pending = conn.execute("SELECT count(*) FROM notifications WHERE status = 'pending'").fetchone()[
                0
            ]
        if not pending and not report.in_flight:
            return total
        env.env.clock.advance(seconds=advance)
        time.sleep(0.02)
    raise AssertionError(f"not drained: {total}")


def test_every_channel_delivers_each_notification_once(
    tmp_path: Path, receivers: LocalReceivers, push_signer: SigningKey
) -> None:
    env, deliverer = wired(tmp_path, receivers, push_signer)
    try:
        # Twelve alerts of twelve users at once: a burst.
        env.take([detection_alert(n, user=f"user{n}") for n in range(12)])
        report = drain(env, deliverer)
        inbox = receivers.inbox
        assert inbox.refused == []
        assert report.dead == 0
        with env.env.state.read() as conn:
            rows = [(r["key"], r["channel"]) for r in conn.execute("SELECT key, channel FROM notifications")]
        assert len(rows) == 12 * 6
        kinds = {"soc-webhook": "webhook", "dingtalk-duty": "dingtalk", "wecom-duty": "wecom",
                 "province-cascade": "syslog", "city-command": "sm2", "mail-duty": "smtp"}  # fmt: skip
        for key, channel in rows:
            assert inbox.processed[key].channel == kinds[channel]
        assert not inbox.duplicates
        # Robots got one digest for the burst (DingTalk: at most 20 messages a minute).
        assert receivers.web.requests["/dingtalk/robot/send"] == 1
        assert receivers.web.requests["/wecom/webhook/send"] == 1
        assert receivers.web.requests["/webhook"] == 12
        # The cascade's CEF parses back to the alert.
        record, cef = receivers.syslog.records[0]
        assert record.params["key"] == cef.ext()["cs3"]
        assert cef.ext()["cs1"] == "red"
        assert cef.severity == 10
        assert cef.ext()["externalId"].startswith("alr-")
        # Mail came over STARTTLS (the receiver refuses anything else).
        assert len(receivers.smtp.messages) == 12
        assert receivers.smtp.messages[0]["Subject"].startswith("【红色预警】")
        # 通报 done: delivered on `delivery` channels (and acknowledged by the SM2 receiver).
        alerts = env.service.find(store.AlertQuery())
        assert {a.status for a in alerts} == {"notified"}
        with env.env.state.read() as conn:
            acked = conn.execute("SELECT count(*) FROM notifications WHERE acked_at IS NOT NULL").fetchone()[
                0
            ]
        assert acked == 12  # the city command system's receipts
        assert len(env.env.entries("alert.notified")) == 12
    finally:
        deliverer.close()
        env.env.close()


def test_failures_back_off_then_dead_letter_and_resend(
    tmp_path: Path, receivers: LocalReceivers, push_signer: SigningKey
) -> None:
    retry = RetryPolicy(max_attempts=3, base=timedelta(seconds=2), maximum=timedelta(seconds=60))
    env, deliverer = wired(tmp_path, receivers, push_signer, retry=retry)
    try:
        receivers.web.fail_next["/webhook"] = 2
        env.take([detection_alert(0)])
        drain(env, deliverer, advance=5)
        with env.env.state.read() as conn:
            row = conn.execute("SELECT * FROM notifications WHERE channel = 'soc-webhook'").fetchone()
        assert (row["status"], row["attempts"]) == ("delivered", 3)
        assert receivers.web.requests["/webhook"] == 3

        receivers.web.fail_next["/webhook"] = 10
        env.take([detection_alert(1, user="other")])
        report = drain(env, deliverer, advance=5)
        assert report.dead == 1
        dead = env.service.notifications(status="dead")
        assert len(dead) == 1
        assert dead[0].last_error == "soc-webhook: receiver answered 503"
        assert env.env.entries("alert.notification_dead")
        # Resent by a person, delivered under the same key.
        receivers.web.fail_next["/webhook"] = 0
        from soc_api.identity.actors import Actor

        env.service.resend(Actor.cli("tester"), dead[0].id, now=env.env.clock())
        drain(env, deliverer)
        assert receivers.inbox.processed[dead[0].key].channel == "webhook"
        assert env.env.entries("alert.notification_resent")
    finally:
        deliverer.close()
        env.env.close()


def test_a_hanging_receiver_blocks_nothing_but_its_own_channel(
    tmp_path: Path, receivers: LocalReceivers, push_signer: SigningKey
) -> None:
    env, deliverer = wired(tmp_path, receivers, push_signer, timeout=0.5)
    try:
        receivers.web.delay["/webhook"] = 2.0
        env.take([detection_alert(0)])
        started = time.monotonic()
        deliverer.run(env.env.clock())
        assert time.monotonic() - started < 0.5  # a round never waits for a receiver
        time.sleep(1.0)
        deliverer.run(env.env.clock())
        with env.env.state.read() as conn:
            states = dict(conn.execute("SELECT channel, status FROM notifications").fetchall())
            failed = conn.execute(
                "SELECT last_error FROM notifications WHERE channel = 'soc-webhook'"
            ).fetchone()[0]
        assert states["province-cascade"] == "delivered"
        assert states["soc-webhook"] == "pending"
        assert failed == "soc-webhook: ReadTimeout"
        # Intake goes on meanwhile.
        assert env.take([detection_alert(1, user="someone")]).created == 1
    finally:
        deliverer.close()
        env.env.close()


def test_bad_credentials_are_refused_by_the_receivers(
    tmp_path: Path, receivers: LocalReceivers, push_signer: SigningKey
) -> None:
    env, deliverer = wired(tmp_path, receivers, SigningKey.generate())  # not the key the receiver trusts
    receivers.web.secrets.webhook_secret = "someone-else's-secret-0123"
    try:
        env.take([detection_alert(0)])
        deliverer.run(env.env.clock())
        time.sleep(1.0)
        deliverer.run(env.env.clock())
        reasons = {reason for _channel, reason in receivers.inbox.refused}
        assert {"bad signature", "unknown key or stale"} <= reasons
        with env.env.state.read() as conn:
            states = dict(conn.execute("SELECT channel, status FROM notifications").fetchall())
        # 401 is final: dead-lettered at once, never retried into a receiver that refuses it.
        assert states["soc-webhook"] == "dead"
        assert states["city-command"] == "dead"
    finally:
        deliverer.close()
        env.env.close()


def test_config_default_is_usable() -> None:
    assert isinstance(default_config(), AlertingConfig)


def test_channel_secrets_never_reach_logs_or_errors(
    tmp_path: Path, receivers: LocalReceivers, push_signer: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    env, deliverer = wired(tmp_path, receivers, push_signer)
    secrets = receivers.web.secrets
    receivers.web.fail_next["/dingtalk/robot/send"] = 1
    try:
        env.take([detection_alert(0)])
        drain(env, deliverer, advance=5)
        with env.env.state.read() as conn:
            errors = " ".join(str(r[0]) for r in conn.execute("SELECT last_error FROM notifications"))
        logged = caplog.text + errors
        for secret in (
            secrets.dingtalk_token,
            secrets.dingtalk_secret,
            secrets.wecom_key,
            secrets.webhook_secret,
        ):
            assert secret not in logged
    finally:
        deliverer.close()
        env.env.close()
