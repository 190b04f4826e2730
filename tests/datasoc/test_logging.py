"""Logging: JSON lines with bound context; secrets and sealed fields never rendered."""

from __future__ import annotations

import io
import json

from pydantic import SecretStr

from datasoc.logging import bind_context, configure_logging, get_logger


def test_json_lines_with_context_and_redaction() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    log = get_logger("collector", source="apigw")
    with bind_context(request_id="req-42"):
        log.warning(
            "拒绝访问 denied",
            api_token="tok-123",
            key=SecretStr("hunter2"),
            payload={"id_card": {"sealed": "sm4-gcm", "kid": "k1", "iv": "aa", "ct": "bb"}, "password": "p"},
            note="-----BEGIN PRIVATE KEY-----\nMIGTAgEA\n-----END PRIVATE KEY-----",
            blob=b"\x00\x01",
        )
    log.info("after")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "拒绝访问 denied"
    assert first["component"] == "collector"
    assert first["source"] == "apigw"
    assert first["request_id"] == "req-42"
    assert first["level"] == "warning"
    assert first["payload"] == {"id_card": "[sealed]", "password": "[redacted]"}
    text = out.getvalue()
    assert "tok-123" not in text
    assert "hunter2" not in text
    assert "MIGTAgEA" not in text
    assert '"ct"' not in text
    assert first["blob"] == "<2 bytes>"
    assert "request_id" not in second


def test_console_in_development_and_level_filter() -> None:
    out = io.StringIO()
    configure_logging(fmt="auto", mode="development", level="warning", stream=out)
    log = get_logger("x")
    log.info("hidden")
    log.error("shown", secret="abc")
    text = out.getvalue()
    assert "hidden" not in text
    assert "shown" in text
    assert "abc" not in text
    assert not text.lstrip().startswith("{")
