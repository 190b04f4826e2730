"""Local HTTPS receivers that check what real ones check: the generic webhook's HMAC signature, the
DingTalk robot's signed URL and rate limit, the WeCom robot's key and 4,096-byte limit, and the SM2
signature of the national-cryptography push; each deduplicates by idempotency key (`Inbox`).

Paths: `/webhook`, `/dingtalk/robot/send?access_token=…&timestamp=…&sign=…`,
`/wecom/webhook/send?key=…`, `/sm2/push`. Bodies are capped at 1 MiB; sockets time out after 10 s.
DingTalk and WeCom answer as those services do: HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`, or a
non-zero `errcode` (130101: more than 20 messages a minute; 310000: bad signature).
`fail_next[path]` makes the next N requests to a path answer 503 (tests of retries).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crypto.recipes import VerifyingKey, sm3_hex
from soc_api.alerting.receivers.inbox import Inbox, Received

MAX_BODY = 1024 * 1024
WECOM_LIMIT = 4096


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout) mid-answer is no error of the receiver's.
        return


@dataclass
class WebSecrets:
    """What the receivers check against: the webhook secret, DingTalk token and secret, WeCom key,
    the SM2 push public key (PEM)."""

    webhook_secret: str
    dingtalk_token: str
    dingtalk_secret: str
    wecom_key: str
    sm2_public_pem: bytes | None = None


@dataclass
class WebReceiver:
    """The HTTPS receivers on one port (see module docstring)."""

    inbox: Inbox
    secrets: WebSecrets
    clock: Callable[[], float] = time.time
    fail_next: dict[str, int] = field(default_factory=dict)
    #: Seconds a request to a path waits before answering (a slow receiver).
    delay: dict[str, float] = field(default_factory=dict)
    _dingtalk_sends: deque[float] = field(default_factory=deque)
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None) -> str:
        """Serve in a thread; returns the base URL."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers offer

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                receiver._handle(self)

        server = _Server((host, port), Handler)
        server.daemon_threads = True
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, name="receiver-web", daemon=True).start()
        scheme = "https" if tls is not None else "http"
        return f"{scheme}://{host}:{server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- requests ---------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(request, 413, {"error": "too large"})
            return
        body = request.rfile.read(length)
        with self._lock:
            self.requests[url.path] += 1
            failing = self.fail_next.get(url.path, 0)
            if failing:
                self.fail_next[url.path] = failing - 1
        if url.path in self.delay:
            time.sleep(self.delay[url.path])
        if failing:
            self._answer(request, 503, {"error": "told to fail"})
            return
        handlers = {
            "/webhook": self._webhook,
            "/dingtalk/robot/send": self._dingtalk,
            "/wecom/webhook/send": self._wecom,
            "/sm2/push": self._sm2,
        }
        handler = handlers.get(url.path)
        if handler is None:
            self._answer(request, 404, {"error": "no such path"})
            return
        try:
            data = json.loads(body)
        except ValueError:
            self.inbox.refuse(url.path, "body is not JSON")
            self._answer(request, 400, {"error": "not JSON"})
            return
        status, answer = handler(request, query, body, data)
        self._answer(request, status, answer)

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _take_notices(self, channel: str, notices: list[dict[str, Any]]) -> list[str]:
        acks = []
        for notice in notices:
            alert = notice.get("alert") or {}
            item = Received(
                channel,
                str(notice["key"]),
                alert.get("id"),
                str(notice["kind"]),
                {"title": alert.get("rule_title")},
            )
            self.inbox.take(item)
            if alert.get("id"):
                acks.append(str(alert["id"]))
        return acks

    def _webhook(
        self, request: Any, query: dict[str, str], body: bytes, data: Any
    ) -> tuple[int, dict[str, Any]]:
        signature = request.headers.get("X-Datasoc-Signature", "")
        parts = dict(p.split("=", 1) for p in signature.split(",") if "=" in p)
        try:
            stamp = int(parts["t"])
        except (KeyError, ValueError):
            self.inbox.refuse("webhook", "no signature")
            return 401, {"error": "unsigned"}
        expected = hmac.new(
            self.secrets.webhook_secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        if abs(self.clock() - stamp) > 300 or not hmac.compare_digest(expected, parts.get("v1", "")):
            self.inbox.refuse("webhook", "bad signature")
            return 401, {"error": "bad signature"}
        notices = data.get("notifications", [data])
        key = request.headers.get("Idempotency-Key")
        if key != (data.get("batch") if "notifications" in data else data.get("key")):
            self.inbox.refuse("webhook", "idempotency key does not match the body")
            return 400, {"error": "idempotency key"}
        self._take_notices("webhook", notices)
        return 200, {"ok": True}

    def _dingtalk(
        self, request: Any, query: dict[str, str], body: bytes, data: Any
    ) -> tuple[int, dict[str, Any]]:
        # https://open.dingtalk.com/document/robots/customize-robot-security-settings (加签)
        secret = self.secrets.dingtalk_secret
        try:
            stamp = int(query["timestamp"])
        except (KeyError, ValueError):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
        if (
            query.get("access_token") != self.secrets.dingtalk_token
            or abs(self.clock() * 1000 - stamp) > 3_600_000
            or not hmac.compare_digest(base64.b64encode(digest).decode(), query.get("sign", ""))
        ):
            self.inbox.refuse("dingtalk", "bad signature")
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        with self._lock:
            now = self.clock()
            while self._dingtalk_sends and now - self._dingtalk_sends[0] >= 60:
                self._dingtalk_sends.popleft()
            if len(self._dingtalk_sends) >= 20:
                self.inbox.refuse("dingtalk", "more than 20 messages a minute")
                return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
            self._dingtalk_sends.append(now)
        markdown = data.get("markdown") or {}
        if data.get("msgtype") != "markdown" or not markdown.get("title") or not markdown.get("text"):
            self.inbox.refuse("dingtalk", "not a markdown message")
            return 200, {"errcode": 40035, "errmsg": "invalid parameter"}
        self._robot("dingtalk", data, markdown["text"])
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _wecom(
        self, request: Any, query: dict[str, str], body: bytes, data: Any
    ) -> tuple[int, dict[str, Any]]:
        # https://developer.work.weixin.qq.com/document/path/91770 (群机器人)
        if query.get("key") != self.secrets.wecom_key:
            self.inbox.refuse("wecom", "bad key")
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        content = (data.get("markdown") or {}).get("content")
        if data.get("msgtype") != "markdown" or not isinstance(content, str) or not content:
            self.inbox.refuse("wecom", "not a markdown message")
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if len(content.encode("utf-8")) > WECOM_LIMIT:
            self.inbox.refuse("wecom", "content over 4096 bytes")
            return 200, {"errcode": 40058, "errmsg": "content exceed max length 4096"}
        self._robot("wecom", data, content)
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _robot(self, channel: str, data: dict[str, Any], text: str) -> None:
        meta = data.get("datasoc") or {}
        for key in meta.get("keys") or [meta.get("idempotency_key")]:
            self.inbox.take(Received(channel, str(key), None, "markdown", {"text": text[:200]}))

    def _sm2(self, request: Any, query: dict[str, str], body: bytes, data: Any) -> tuple[int, dict[str, Any]]:
        pem = self.secrets.sm2_public_pem
        headers = request.headers
        try:
            stamp = int(headers["X-Datasoc-Timestamp"])
            signature = base64.b64decode(headers["X-Datasoc-SM2-Signature"], validate=True)
        except (KeyError, ValueError, TypeError):
            self.inbox.refuse("sm2", "unsigned")
            return 401, {"error": "unsigned"}
        if pem is None or headers.get("X-Datasoc-Content-SM3") != sm3_hex(body):
            self.inbox.refuse("sm2", "content digest differs")
            return 401, {"error": "digest"}
        key = VerifyingKey.from_pem(pem)
        if headers.get("X-Datasoc-Key-Id") != key.key_id or abs(self.clock() - stamp) > 300:
            self.inbox.refuse("sm2", "unknown key or stale")
            return 401, {"error": "key or time"}
        if not key.verify(str(stamp).encode() + b"\n" + body, signature):
            self.inbox.refuse("sm2", "bad SM2 signature")
            return 401, {"error": "bad signature"}
        if headers.get("Idempotency-Key") != data.get("idempotency_key"):
            self.inbox.refuse("sm2", "idempotency key does not match the body")
            return 400, {"error": "idempotency key"}
        acks = self._take_notices("sm2", list(data.get("notifications") or []))
        return 200, {"ack": acks}
