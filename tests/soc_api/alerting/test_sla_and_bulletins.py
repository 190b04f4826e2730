"""SLA timers escalate along the chain (ledgered, routed); bulletins are made once per period,
ledgered with their digests, routed, and their PDF pages render."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from crypto.recipes import sm3_hex
from datasoc.settings_alerting import BulletinSettings
from soc_api.alerting import store
from soc_api.alerting.bulletins import BulletinStep, file_of, listed
from soc_api.alerting.config import default_config
from soc_api.alerting.routing import Route
from soc_api.alerting.sla import LevelSla
from soc_api.alerting.steps import SlaStep
from soc_api.identity.actors import Actor
from tests.soc_api.alerting.conftest import detection_alert, open_alerting


def config_with_chain() -> object:
    base = default_config()
    red = LevelSla(respond=timedelta(minutes=15), resolve=timedelta(hours=4), escalation=("duty-a", "duty-b"))
    route = Route(
        "settings:all", "all", ("hook",), kinds=("alert", "escalation", "bulletin"), origin="settings"
    )
    return replace(
        base,
        sla=replace(base.sla, levels={**base.sla.levels, "red": red}),
        channels=("hook",),
        routes=(route,),
    )


def test_timers_escalate_to_the_next_responder(tmp_path: Path) -> None:
    env = open_alerting(tmp_path, config_with_chain())  # type: ignore[arg-type]
    try:
        env.take([detection_alert(0)])
        alert = env.service.find(store.AlertQuery())[0]
        assert (alert.assignee, alert.sla_stage) == ("duty-a", "respond")
        step = SlaStep(env.env.state, env.config, env.recorder)
        assert step.run(env.env.clock() + timedelta(minutes=14)).work == 0
        assert step.run(env.env.clock() + timedelta(minutes=16)).work == 1
        escalated = env.service.get(alert.id)
        assert escalated.alert.assignee == "duty-b"
        assert escalated.alert.sla_breaches == 1
        assert [n.kind for n in escalated.notifications] == ["escalation", "alert"]
        assert escalated.changes[-1].detail["from"] == "duty-a"
        assert env.env.entries("alert.escalated")
        # Taken in hand: the resolve timer runs from the creation.
        env.service.start(Actor.cli("duty-b"), alert.id, now=env.env.clock() + timedelta(minutes=20))
        assert step.run(env.env.clock() + timedelta(hours=3)).work == 0
        assert step.run(env.env.clock() + timedelta(hours=4, minutes=1)).work == 1
        assert env.service.get(alert.id).alert.sla_stage == "resolve"
        env.service.close(
            Actor.cli("duty-b"),
            alert.id,
            resolution="resolved",
            note="ok",
            now=env.env.clock() + timedelta(hours=5),
        )
        assert step.run(env.env.clock() + timedelta(days=3)).work == 0
    finally:
        env.env.close()


def test_daily_bulletin_once_ledgered_routed_and_rendered(tmp_path: Path) -> None:
    env = open_alerting(tmp_path, config_with_chain())  # type: ignore[arg-type]
    try:
        # Alerts raised during the previous local day (the clock is 2026-12-01 09:00 UTC = 17:00 local).
        env.take([detection_alert(n, user=f"u{n % 3}") for n in range(9)])
        platform = SimpleNamespace(
            state=env.env.state,
            settings=SimpleNamespace(alerting=SimpleNamespace(bulletins=BulletinSettings(weekly=False))),
        )
        step = BulletinStep(platform, env.config, env.recorder)
        next_morning = env.env.clock() + timedelta(hours=16)  # 09:00 local the next day
        assert step.run(next_morning).work == 1
        assert step.run(next_morning + timedelta(hours=1)).work == 0  # once per period
        made = listed(env.env.state)
        assert [b.kind for b in made] == ["daily"]
        pdf = file_of(env.env.state, made[0].id, "pdf")
        html = file_of(env.env.state, made[0].id, "html")
        assert pdf is not None
        assert html is not None
        entry = env.env.entries("alert.bulletin_generated")[0]
        assert entry["payload"]["pdf"] == sm3_hex(pdf) == made[0].pdf_digest  # type: ignore[index]
        assert entry["payload"]["alerts"] == 3  # type: ignore[index]
        with env.env.state.read() as conn:
            kinds = [r[0] for r in conn.execute("SELECT kind FROM notifications WHERE alert_id IS NULL")]
        assert kinds == ["bulletin"]
        assert "数据安全预警日报" in html.decode()
        if shutil.which("pdftoppm") is None:
            pytest.skip("poppler-utils (pdftoppm) is not installed")
        (tmp_path / "b.pdf").write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", "40", "-gray", "-png", str(tmp_path / "b.pdf"), str(tmp_path / "p")],
            check=True,
        )
        pages = sorted(tmp_path.glob("p-*.png"))
        assert len(pages) == made[0].pages >= 2
        assert all(sum(Image.open(p).convert("L").histogram()[:200]) > 500 for p in pages)
    finally:
        env.env.close()
