"""`run_collector` in-process: serves HTTP and syslog, reports silent sources as alerts, stops cleanly."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.ingest import SCRAPE_HEADERS, SCRAPE_TOKEN
from collectors.health import SourceConfig
from collectors.inputs.syslog import SyslogConfig
from collectors.inputs.tokens import TokenGrant, TokenStore, hash_token
from datasoc.transport import ALERTS, EVENTS, Spool
from soc_api.api.server import CollectConfig, run_collector
from tests.collectors.inputs.conftest import event_dict, ndjson
from tests.soc_api.api.conftest import GW_TOKEN, NOW


def test_collector_serves_ingest_and_syslog_and_alerts_on_silent_sources(tmp_path: Path) -> None:
    ticks = itertools.count()

    def clock() -> Any:
        return NOW + timedelta(seconds=next(ticks))  # a second per reading: silence comes quickly

    config = CollectConfig(
        tokens=TokenStore.from_tokens({GW_TOKEN: TokenGrant("gw-1")}),
        http_port=0,
        syslog=SyslogConfig(udp_port=0, tcp_port=0),
        sources={"quiet-host": SourceConfig("quiet-host", timedelta(seconds=30))},
        silence_check_seconds=0.05,
        scrape_token_digest=hash_token(SCRAPE_TOKEN),
    )

    async def scenario(spool: Spool) -> None:
        stop = asyncio.Event()
        started = asyncio.Event()
        ready: dict[str, Any] = {}

        def on_ready(addresses: dict[str, Any]) -> None:
            ready.update(addresses)
            started.set()

        task = asyncio.create_task(
            run_collector(spool, config, stop=stop, clock=clock, new_id=lambda: "id", on_ready=on_ready)
        )
        await asyncio.wait_for(started.wait(), timeout=30)
        base = f"http://127.0.0.1:{ready['http'][1]}"
        async with httpx.AsyncClient(base_url=base) as client:
            response = await client.post(
                "/api/v1/ingest",
                content=ndjson(event_dict(1)),
                headers={"Authorization": f"Bearer {GW_TOKEN}"},
            )
            assert response.json()["accepted"] == 1
            for _ in range(500):
                if spool.range(ALERTS).end:
                    break
                await asyncio.sleep(0.02)
            names = {
                item["name"] for item in (await client.get("/api/v1/sources", headers=SCRAPE_HEADERS)).json()
            }
        assert set(ready) == {"http", "udp", "tcp"}
        assert names == {"gw-1", "quiet-host"}
        stop.set()
        await asyncio.wait_for(task, timeout=30)

    with Spool.open(tmp_path / "spool") as spool:
        asyncio.run(scenario(spool))
        assert spool.range(EVENTS).end == 1
        alerts = [orjson.loads(r.payload) for r in spool.read(ALERTS, 0, 10)]
    assert alerts, "a silent configured source must raise an alert"
    assert "quiet-host" in orjson.dumps(alerts[0]).decode()
