"""Dead-letter records: what a stage could not accept, kept with its reason and raw bytes.

One JSON record per rejected input record on the `deadletter` topic:
`{"stage": "parse"|"validate"|"index"|"alerts"|..., "source": str, "position": int|null, "reason": str,
  "received_at": RFC 3339, "raw_b64": base64 of the raw bytes, "raw_text": str|null, "raw_truncated": bool}`
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from datasoc.event import format_timestamp

MAX_RAW_KEPT = 1024 * 1024


def dead_letter(
    *,
    stage: str,
    source: str,
    position: int | None,
    reason: str,
    raw: bytes,
    received_at: datetime,
    max_raw: int = MAX_RAW_KEPT,
) -> bytes:
    """Spool payload of a rejected record (see module docstring).

    The record holds the kept raw bytes twice (base64 and, when valid UTF-8, text); text full of
    control characters would grow six-fold once JSON-escaped, so it is left out (`raw_text` null)
    whenever the record would pass three times the kept bytes. The record then stays below
    about 3 x `max_raw` + 4 KiB; callers bound `max_raw` to fit the spool's record limit
    (network inputs keep 256 KiB).
    """
    kept = raw[:max_raw]
    try:
        text: str | None = kept.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    record: dict[str, Any] = {
        "stage": stage,
        "source": source,
        "position": position,
        "reason": reason,
        "received_at": format_timestamp(received_at),
        "raw_b64": base64.b64encode(kept).decode("ascii"),
        "raw_text": text,
        "raw_truncated": len(raw) > len(kept),
    }
    encoded = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if text is not None and len(encoded) > 3 * len(kept) + 4096:
        record["raw_text"] = None
        encoded = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return encoded
