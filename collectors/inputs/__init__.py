"""Network inputs of the collectors: HTTP bulk ingest and syslog (UDP, TCP, TLS).

Pure parts: `records` (body decoding, record splitting, per-record validation), `framing`
(RFC 6587), `tokens` (hashed per-source tokens), `backpressure.transport_lag`. Edges: `delivery`
(durable append), `http` (framework-independent ingest service), `syslog` (asyncio listeners).
"""

from __future__ import annotations

from collectors.inputs.backpressure import BackPressureConfig, LagMonitor, transport_lag
from collectors.inputs.delivery import Delivery, SharedHealth
from collectors.inputs.errors import (
    AuthError,
    BodyError,
    IngestError,
    InputConfigError,
    OverloadedError,
    PayloadTooLargeError,
    UnsupportedEncodingError,
)
from collectors.inputs.framing import Frame, FrameDecoder
from collectors.inputs.http import HttpIngest, HttpIngestConfig, IngestAnswer
from collectors.inputs.syslog import SyslogConfig, SyslogInput, server_tls_context
from collectors.inputs.tokens import TokenGrant, TokenStore, hash_token, new_token

__all__ = [
    "AuthError",
    "BackPressureConfig",
    "BodyError",
    "Delivery",
    "Frame",
    "FrameDecoder",
    "HttpIngest",
    "HttpIngestConfig",
    "IngestAnswer",
    "IngestError",
    "InputConfigError",
    "LagMonitor",
    "OverloadedError",
    "PayloadTooLargeError",
    "SharedHealth",
    "SyslogConfig",
    "SyslogInput",
    "TokenGrant",
    "TokenStore",
    "UnsupportedEncodingError",
    "hash_token",
    "new_token",
    "server_tls_context",
    "transport_lag",
]
