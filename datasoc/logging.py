"""Structured logging: JSON lines in production, readable console output in development.

Every record passes `redact` last before rendering: values under secret-looking keys, pydantic
`SecretStr`/`SecretBytes`, PEM blocks and SM4-sealed field objects never reach a log line.
Context is bound with `bind_context(component=..., source=..., request_id=...)`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from pydantic import SecretBytes, SecretStr

REDACTED = "[redacted]"
SEALED = "[sealed]"
_SECRET_KEY = re.compile(
    r"(secret|passw|passphrase|token|private|credential|api[_-]?key|authorization)", re.I
)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.S)
_MAX_DEPTH = 8


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, str):
        return _PEM.sub(REDACTED, value) if "-----BEGIN" in value else value
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if depth >= _MAX_DEPTH:
        return "<nested>"
    if isinstance(value, Mapping):
        if "sealed" in value and "ct" in value:  # an SM4-sealed field (crypto recipes' form)
            return SEALED
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) else _scrub(v, depth + 1)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, depth + 1) for item in value]
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: remove secrets and sealed values from a record."""
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure_logging(
    *, level: str = "info", fmt: str = "auto", mode: str = "development", stream: TextIO | None = None
) -> None:
    """Configure structlog (and route stdlib logging through the same level).

    `fmt` is `json`, `console` or `auto` (console in development, JSON in production).
    """
    renderer_json = fmt == "json" or (fmt == "auto" and mode == "production")
    out = stream if stream is not None else sys.stderr
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    if renderer_json:
        processors.append(structlog.processors.JSONRenderer(ensure_ascii=False))
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=out.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=level.upper(), stream=out, format="%(levelname)s %(name)s: %(message)s", force=True
    )


def get_logger(component: str, **context: Any) -> Any:
    """A logger bound to a component (and any further context).

    Lazy: safe to create at import time, it picks up the configuration in force when it logs.
    """
    return structlog.get_logger(component=component, **context)


@contextmanager
def bind_context(**context: Any) -> Iterator[None]:
    """Bind context (request id, source, ...) for the duration of a block, in this task/thread."""
    tokens = structlog.contextvars.bind_contextvars(**context)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
