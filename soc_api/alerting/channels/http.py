"""HTTP channels: generic webhook (HMAC-SHA256), DingTalk robot (signed per request), WeCom robot,
and the SM2-signed JSON push of the upward cascade.

All use one `httpx.Client` per channel (keep-alive, `timeout_seconds` for connect and the whole
exchange, TLS verified against the system roots or `ca_file`), carry the idempotency key in
`Idempotency-Key`, and treat 2xx as delivered, 408/429/5xx and transport errors as retryable,
other 4xx as final (`retry=False`). A 2xx answer `{"ack": ["<alert id>", ...]}` is a receipt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from crypto.recipes import SigningKey, sm3_hex
from soc_api.alerting.channels.base import Delivery, Sender, SendResult, tls_context
from soc_api.alerting.errors import DeliveryError
from soc_api.alerting.notices import WECOM_LIMIT, digest_markdown, markdown, title, truncate_utf8

#: Body bytes of a receiver's answer read at most (a hostile receiver cannot make us buffer more).
MAX_ANSWER = 64 * 1024
# httpx logs every request's URL at INFO, and robots' URLs carry their access tokens.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)


def webhook_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>." + body)>` (the `X-Datasoc-Signature` header)."""
    mac = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64 of HMAC-SHA256(secret, "<timestamp ms>\\n<secret>")."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(
        hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    ).decode()


def sm2_push_message(timestamp: int, body: bytes) -> bytes:
    """What the SM2 push signs: `"<unix>\\n"` + body (SM2 hashes it with SM3 and the signer's Z)."""
    return str(timestamp).encode("ascii") + b"\n" + body


class _HttpSender(Sender):
    def __init__(self, settings: Any, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(settings)
        self._clock = clock
        verify: Any = tls_context(settings.ca_file) if settings.url.startswith("https") else True
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            verify=verify,
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            follow_redirects=False,
            headers={"User-Agent": "datasoc-notifier/1"},
        )

    def _robot_post(self, url: str, body: bytes, key: str) -> SendResult:
        data = self._exchange(url, body, {}, key)
        robot_answer(self.name, data)
        return SendResult()

    def _post(self, url: str, body: bytes, headers: dict[str, str], key: str) -> SendResult:
        return SendResult(acks=_acks(self._exchange(url, body, headers, key)))

    def _exchange(self, url: str, body: bytes, headers: dict[str, str], key: str) -> bytes:
        try:
            with self._client.stream(
                "POST",
                url,
                content=body,
                headers={"Content-Type": "application/json", "Idempotency-Key": key, **headers},
            ) as answer:
                data = b""
                for chunk in answer.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER:
                        break
        except httpx.HTTPError as exc:
            # The type only: a message may quote the URL, and robots' URLs hold their tokens.
            raise DeliveryError(f"{self.name}: {type(exc).__name__}") from None
        if answer.status_code // 100 != 2:
            retry = answer.status_code in (408, 425, 429) or answer.status_code >= 500
            raise DeliveryError(f"{self.name}: receiver answered {answer.status_code}", retry=retry)
        return data

    def close(self) -> None:
        self._client.close()


def robot_answer(name: str, data: bytes) -> None:
    """DingTalk and WeCom answer HTTP 200 with `errcode`; non-zero is a failure (130101 and 45009 are
    rate limits and -1 is "busy": retried; anything else is final)."""
    try:
        answer = json.loads(data)
    except ValueError:
        raise DeliveryError(f"{name}: the robot's answer is not JSON") from None
    code = answer.get("errcode") if isinstance(answer, dict) else None
    if code == 0:
        return
    raise DeliveryError(f"{name}: robot errcode {code}", retry=code in (-1, 130101, 45009))


def _acks(data: bytes) -> tuple[str, ...]:
    try:
        answer = json.loads(data[:MAX_ANSWER])
    except ValueError:
        return ()
    acks = answer.get("ack") if isinstance(answer, dict) else None
    if isinstance(acks, list):
        return tuple(a for a in acks if isinstance(a, str) and len(a) <= 128)[:1000]
    return ()


def _canonical(value: Any) -> bytes:
    """Compact UTF-8 JSON with sorted keys (orjson: a batch of 100 notifications per request)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


class WebhookSender(_HttpSender):
    """Generic webhook: one notification (or a list of up to `max_batch`) as JSON."""

    type = "webhook"

    @property
    def max_batch(self) -> int:
        return int(self.settings.max_batch)

    def send(self, delivery: Delivery) -> SendResult:
        notices = delivery.payloads  # as recorded: sent without being decoded and re-encoded
        body = _canonical(
            notices[0]
            if len(notices) == 1 and self.max_batch == 1
            else {"batch": delivery.key, "notifications": notices}
        )
        stamp = int(self._clock())
        signature = webhook_signature(self.settings.secret.get_secret_value().encode("utf-8"), stamp, body)
        return self._post(self.settings.url, body, {"X-Datasoc-Signature": signature}, delivery.key)


class DingTalkSender(_HttpSender):
    """DingTalk robot: markdown; a burst becomes one digest (at most `per_minute` sends a minute)."""

    type = "dingtalk"

    @property
    def digest(self) -> bool:
        return True

    @property
    def per_minute(self) -> int | None:
        return int(self.settings.per_minute)

    def send(self, delivery: Delivery) -> SendResult:
        notices = delivery.notices
        text = markdown(notices[0]) if len(notices) == 1 else digest_markdown(notices, limit_bytes=18_000)
        heading = title(notices[0]) if len(notices) == 1 else f"{len(notices)} 条通知 notifications"
        body = _canonical(
            {
                "msgtype": "markdown",
                "markdown": {"title": heading[:64], "text": text},
                # Not shown by the robot: the keys, so a receiver can deduplicate each notification.
                "datasoc": {"idempotency_key": delivery.key, "keys": [n.key for n in notices]},
            }
        )
        stamp = int(self._clock() * 1000)
        secret = self.settings.secret.get_secret_value()
        query = urllib.parse.urlencode({"timestamp": stamp, "sign": dingtalk_sign(secret, stamp)})
        url = self.settings.url + ("&" if "?" in self.settings.url else "?") + query
        return self._robot_post(url, body, delivery.key)


class WeComSender(_HttpSender):
    """WeCom robot: markdown content within 4,096 bytes; a burst becomes one digest."""

    type = "wecom"

    @property
    def digest(self) -> bool:
        return True

    @property
    def per_minute(self) -> int | None:
        return int(self.settings.per_minute)

    def send(self, delivery: Delivery) -> SendResult:
        notices = delivery.notices
        if len(notices) == 1:
            content = truncate_utf8(markdown(notices[0]), WECOM_LIMIT)
        else:
            content = digest_markdown(notices, limit_bytes=WECOM_LIMIT)
        body = _canonical(
            {
                "msgtype": "markdown",
                "markdown": {"content": content},
                "datasoc": {"idempotency_key": delivery.key, "keys": [n.key for n in notices]},
            }
        )
        return self._robot_post(self.settings.url, body, delivery.key)


class Sm2PushSender(_HttpSender):
    """HTTPS JSON push signed with SM2 over its SM3 digest (national cryptography receivers).

    Headers: `X-Datasoc-Timestamp` (unix seconds), `X-Datasoc-Content-SM3` (`sm3:<hex>` of the body),
    `X-Datasoc-Key-Id` (`sm2:<16 hex>`), `X-Datasoc-SM2-Signature` (base64 DER of the SM2 signature,
    user id 1234567812345678, over `"<timestamp>\\n" + body`).
    """

    type = "sm2_push"

    def __init__(self, settings: Any, *, signer: SigningKey, clock: Callable[[], float] = time.time) -> None:
        super().__init__(settings, clock=clock)
        self._signer = signer

    def send(self, delivery: Delivery) -> SendResult:
        body = _canonical({"idempotency_key": delivery.key, "notifications": list(delivery.payloads)})
        stamp = int(self._clock())
        signature = self._signer.sign(sm2_push_message(stamp, body))
        headers = {
            "X-Datasoc-Timestamp": str(stamp),
            "X-Datasoc-Content-SM3": sm3_hex(body),
            "X-Datasoc-Key-Id": self._signer.key_id,
            "X-Datasoc-SM2-Signature": base64.b64encode(signature).decode("ascii"),
        }
        return self._post(self.settings.url, body, headers, delivery.key)
