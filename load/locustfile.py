"""Locust scenario: HTTP bulk ingest of 500-byte normalized events as NDJSON.

    DATASOC_INGEST_TOKEN=... locust -f load/locustfile.py --headless -u 4 -r 4 -t 60s \
        --host http://127.0.0.1:8601

Environment: `DATASOC_INGEST_TOKEN` (required; a token of `datasoc collect --tokens`),
`DATASOC_INGEST_BATCH` (events per request, default 1000), `DATASOC_INGEST_GZIP` (1 to gzip).
A request counts as failed unless it is answered 200 with every event accepted; 429 answers
(transport lag) are reported under their own name so back-pressure is visible, not hidden.
Standalone on purpose: it imports nothing from datasoc, so it runs from any machine with locust.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import uuid

from locust import FastHttpUser, constant, task

_PAD = "x" * 400


def _event(run: str, number: int) -> bytes:
    event = {
        "@timestamp": "2026-11-28T10:00:00.000000Z",
        "event.id": f"{run}-{number:010d}",
        "event.action": "api.query",
        "event.outcome": "success",
        "observer.collector": "locust",
        "user.name": f"user{number % 97}",
        "datasoc.actor_role": "user",
        "source.ip": "10.1.2.3",
        "log.original": "GET /api/v1/datasets?q=" + _PAD,
    }
    return json.dumps(event, separators=(",", ":")).encode()


class BulkIngestUser(FastHttpUser):
    """Posts NDJSON batches back to back on one keep-alive connection."""

    wait_time = constant(0)

    def on_start(self) -> None:
        token = os.environ.get("DATASOC_INGEST_TOKEN")
        if not token:
            raise RuntimeError("set DATASOC_INGEST_TOKEN to an ingest token")
        self.batch = int(os.environ.get("DATASOC_INGEST_BATCH", "1000"))
        self.gzip = os.environ.get("DATASOC_INGEST_GZIP") == "1"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
        if self.gzip:
            self.headers["Content-Encoding"] = "gzip"
        self.run_id = uuid.uuid4().hex[:12]
        self.numbers = itertools.count()

    @task
    def bulk_ingest(self) -> None:
        body = b"\n".join(_event(self.run_id, next(self.numbers)) for _ in range(self.batch))
        if self.gzip:
            body = gzip.compress(body, compresslevel=1)
        with self.client.post(
            "/api/v1/ingest",
            data=body,  # type: ignore[arg-type]  # geventhttpclient sends bytes as they are
            headers=self.headers,
            name="ingest ndjson",
            catch_response=True,
        ) as response:
            if response.status_code == 429:
                response.failure("throttled (429): transport lag past its limit")
            elif response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
            elif response.json().get("accepted") != self.batch:
                response.failure(f"not all accepted: {response.text[:200]}")
            else:
                response.success()
