"""`POST /api/v1/ingest`, `GET /api/v1/sources` and `GET /metrics` over a real spool."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
import structlog

from benchmarks.ingest import SCRAPE_HEADERS as SCRAPE
from datasoc.logging import configure_logging
from datasoc.transport import DEADLETTER, EVENTS
from tests.collectors.inputs.conftest import event_dict, ndjson, read_topic
from tests.soc_api.api.conftest import GW_TOKEN, HOST_TOKEN, NOW, Api, build_api


def test_ndjson_batch_is_durable_before_the_answer_with_per_record_results(api: Api) -> None:
    body = ndjson(event_dict(1), event_dict(2, **{"event.outcome": "perhaps"}), event_dict(3))
    response = api.post(body + b"{broken\n", content_type="application/x-ndjson")
    assert response.status_code == 200
    answer = response.json()
    assert (answer["accepted"], answer["rejected"], answer["source"]) == (2, 2, "gw-1")
    assert [e["position"] for e in answer["errors"]] == [2, 4]
    assert "event.outcome" in answer["errors"][0]["reason"]
    assert [e["event.id"] for e in read_topic(api.spool, EVENTS)] == ["ev-000001", "ev-000003"]
    dead = read_topic(api.spool, DEADLETTER)
    assert [(d["source"], d["position"]) for d in dead] == [("gw-1", 2), ("gw-1", 4)]


def test_json_array_gzip_body(api: Api) -> None:
    body = gzip.compress(orjson.dumps([event_dict(1), event_dict(2)]))
    response = api.post(body, content_type="application/json", content_encoding="gzip")
    assert response.status_code == 200
    assert response.json()["accepted"] == 2


def test_native_lines_are_parsed_by_the_tokens_parser(api: Api) -> None:
    line = (
        "<38>1 2026-11-28T10:00:00+08:00 web01 sshd 1 - - Failed password for root from 10.9.9.9 port 22 ssh2"
    )
    response = api.post(line.encode() + b"\n", token=HOST_TOKEN)
    assert response.json()["accepted"] == 1
    (event,) = read_topic(api.spool, EVENTS)
    assert (event["event.action"], event["event.outcome"], event["observer.collector"]) == (
        "ssh.login",
        "failure",
        "http:host-1",
    )


def test_bad_token_is_401_logged_without_the_token_and_raises_a_security_event(api: Api) -> None:
    stream = io.StringIO()
    configure_logging(level="info", fmt="json", stream=stream)
    try:
        response = api.post(ndjson(event_dict(1)), token="wrong-secret-value-123456")
        missing = api.post(ndjson(event_dict(1)), token=None)
    finally:
        structlog.reset_defaults()
    assert (response.status_code, missing.status_code) == (401, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "wrong-secret-value" not in stream.getvalue()
    assert "security_denied" in stream.getvalue()
    assert [e.kind for e in api.security_events] == ["login.denied", "login.denied"]
    assert api.security_events[0].reason == "unknown token"
    assert "wrong-secret" not in repr(api.security_events)
    (summary,) = api.security.drain(NOW, final=True)  # one peer, one window: one ledger entry
    assert (summary.kind, summary.count, summary.subject) == ("login.denied", 2, "collector:http-ingest")
    assert dict(summary.reasons) == {"unknown token": 1, "missing Authorization header": 1}
    assert api.spool.range(EVENTS).end == 0
    assert api.spool.range(DEADLETTER).end == 0


def test_too_large_bodies_are_413(api: Api) -> None:
    assert api.post(b"x" * (64 * 1024 + 1)).status_code == 413
    bomb = gzip.compress(b"\n" * (10 * 1024 * 1024))
    assert api.post(bomb, content_encoding="gzip").status_code == 413
    assert api.spool.range(EVENTS).end == 0


def test_undecodable_bodies_are_4xx_and_kept_as_dead_letters(api: Api) -> None:
    assert api.post(b"\x1f\x8b garbage", content_encoding="gzip").status_code == 400
    assert api.post(b"[1,", content_type="application/json").status_code == 400
    assert api.post(b"a,b", content_type="text/csv").status_code == 415
    dead = read_topic(api.spool, DEADLETTER)
    assert len(dead) == 3
    assert all(d["source"] == "gw-1" for d in dead)


def test_record_size_limit_rejects_the_record_only(api: Api) -> None:
    body = ndjson(event_dict(1), event_dict(2, **{"log.original": "x" * 5000}))
    answer = api.post(body).json()
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    assert "exceeds the limit" in answer["errors"][0]["reason"]


def test_lagging_transport_answers_429_with_retry_after(api: Api) -> None:
    api.lag.config = type(api.lag.config)(consumers=("indexer",), limit=1, refresh=api.lag.config.refresh)
    assert api.post(ndjson(event_dict(1), event_dict(2))).status_code == 200
    response = api.post(ndjson(event_dict(3)))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    api.spool.consumer("indexer", EVENTS).commit(2)
    assert api.post(ndjson(event_dict(3))).status_code == 200


def test_sources_and_metrics_report_health(api: Api) -> None:
    api.post(ndjson(event_dict(1)) + b"bad\n")
    api.post(b"x", token="nope-nope-nope-nope-nope")
    (gw,) = api.client.get("/api/v1/sources", headers=SCRAPE).json()
    assert (gw["name"], gw["accepted_total"], gw["rejected_total"], gw["silent"]) == ("gw-1", 1, 1, False)
    assert gw["last_seen"] == "2026-11-28T12:00:00.000000Z"
    text = api.client.get("/metrics", headers=SCRAPE).text
    assert 'datasoc_source_events_accepted_total{source="gw-1"} 1.0' in text
    assert "datasoc_ingest_auth_denied_total 1.0" in text
    assert "datasoc_transport_lag" in text


def test_sources_and_metrics_answer_only_the_scrape_token(api: Api) -> None:
    """A collector without the API for people serves source health and metrics to the scrape token
    alone; an ingest token or none is refused (401), counted and kept as a security event, and a
    peer that keeps failing is throttled (429) like an ingest client."""
    for path in ("/metrics", "/api/v1/sources"):
        assert api.client.get(path).status_code == 401
        refused = api.client.get(path, headers={"Authorization": f"Bearer {GW_TOKEN}"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert GW_TOKEN not in refused.text
    assert [e.kind for e in api.security_events] == ["login.denied"] * 4
    assert api.client.get("/metrics", headers=SCRAPE).status_code == 200
    assert (
        api.client.get("/metrics", headers={"Authorization": "Bearer forged-forged-forged"}).status_code
        == 401
    )
    throttled = api.client.get("/metrics", headers=SCRAPE)  # the fifth failure blocked the peer
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers


def test_without_a_scrape_token_sources_and_metrics_are_not_served(tmp_path: Path) -> None:
    for api in build_api(tmp_path, scrape=False):
        assert api.client.get("/metrics", headers=SCRAPE).status_code == 404
        assert api.client.get("/api/v1/sources", headers=SCRAPE).status_code == 404
        assert api.post(ndjson(event_dict(1))).status_code == 200  # ingest is unaffected


def test_records_and_bodies_at_the_default_limits_never_overflow_the_spool(tmp_path: Path) -> None:
    for api in build_api(tmp_path):
        base = len(orjson.dumps(event_dict(1, **{"log.original": ""})))
        near_limit = orjson.dumps(event_dict(1, **{"log.original": "x" * ((1 << 20) - 10 - base)}))
        assert len(near_limit) == (1 << 20) - 10
        answer = api.post(near_limit).json()
        assert (answer["accepted"], answer["rejected"]) == (0, 1)
        assert "after normalization exceeds" in answer["errors"][0]["reason"]
        garbage = api.post(b"\x01" * (3 << 20), content_type="application/json")
        assert garbage.status_code == 400
        dead = read_topic(api.spool, DEADLETTER)
        assert len(dead) == 2
        assert all(d["raw_truncated"] for d in dead)


def test_ingest_slots_bound_the_requests_in_progress(api: Api) -> None:
    import asyncio

    import pytest

    from collectors.inputs.errors import BusyError
    from collectors.inputs.http import HttpIngest, HttpIngestConfig

    service = HttpIngest(
        tokens=api.ingest.tokens,
        delivery=api.ingest.delivery,
        parsers=api.ingest.parsers,
        config=HttpIngestConfig(concurrency=1, slot_wait_seconds=0.05),
    )

    async def two_at_once() -> None:
        async with service.slot():
            with pytest.raises(BusyError, match="1 ingest slots stayed busy"):
                async with service.slot():
                    pass
        async with service.slot():  # released: the next request gets in
            pass

    asyncio.run(two_at_once())
    assert service.busy == 1
