"""An alerting environment over the real identity environment (state store, ledger, clock)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from datasoc.alert import Alert
from datasoc.event import format_timestamp
from soc_api.alerting import MIGRATIONS
from soc_api.alerting.config import AlertingConfig, default_config
from soc_api.alerting.intake import LedgerRecorder, take_in
from soc_api.alerting.routing import Route
from soc_api.alerting.service import Alerting, ChannelInfo
from tests.soc_api.identity_env import T0, Env, open_env

RULE = "9b2c1f0e-0000-4000-8000-000000000001"


def detection_alert(
    n: int,
    *,
    rule: str = RULE,
    title: str = "核心或重要数据批量导出 / Bulk export of core or important data",
    level: str = "high",
    user: str = "luowen",
    ip: str = "10.23.4.5",
    dataset: str = "ds-core-1",
    grade: str = "core",
    at: datetime = T0,
    tags: Sequence[str] = ("attack.exfiltration", "gbt.43697.core"),
    group: dict[str, Any] | None = None,
    collector: str = "http:apigw_access.jsonl",
) -> Alert:
    """A detection alert as the engines make it (one event), `n` making its id distinct."""
    event_id = "ev-" + hashlib.sha256(f"{rule}{n}".encode()).hexdigest()[:32]
    when = at + timedelta(minutes=n)
    event = {
        "@timestamp": format_timestamp(when),
        "event.id": event_id,
        "event.action": "dataset.download",
        "user.name": user,
        "source.ip": ip,
        "data.asset.id": dataset,
        "data.classification": grade,
        "observer.collector": collector,
    }
    return Alert.from_dict(
        {
            "alert.id": "al-" + hashlib.sha256(f"{rule}{event_id}".encode()).hexdigest()[:32],
            "rule.id": rule,
            "rule.title": title,
            "rule.level": level,
            "rule.tags": list(tags),
            "warning_level": "red",
            "group": group or {},
            "event_ids": [event_id],
            "events": [event],
            "first_seen": format_timestamp(when),
            "last_seen": format_timestamp(when),
            "count": 1,
        }
    )


@dataclass
class AlertEnv:
    env: Env
    config: AlertingConfig
    service: Alerting

    @property
    def recorder(self) -> LedgerRecorder:
        return LedgerRecorder(self.env.ledger, self.env.clock)

    def take(self, alerts: Sequence[Alert]) -> Any:
        return take_in(self.env.state, self.recorder, self.config, alerts, now=self.env.clock())


def open_alerting(root: Path, config: AlertingConfig | None = None) -> AlertEnv:
    env = open_env(root)
    env.state.migrate(MIGRATIONS, now=env.clock)
    config = config or replace(
        default_config(),
        channels=("hook",),
        routes=(Route(id="settings:all", name="all", channels=("hook",), origin="settings"),),
    )
    counter = iter(range(10**6))
    service = Alerting(
        env.state,
        env.identity.audit,
        config,
        channels={
            name: ChannelInfo(name, "webhook", "delivery", "http://127.0.0.1") for name in config.channels
        },
        new_id=lambda: f"{next(counter):06d}",
    )
    return AlertEnv(env, config, service)


@pytest.fixture
def alerting(tmp_path: Path) -> Iterator[AlertEnv]:
    built = open_alerting(tmp_path)
    yield built
    built.env.close()
