"""The alert lifecycle (pure): 预警 new → 通报 notified → 处置 in progress → 闭环 closed.

Who moves it: the system (`notify`, when a notification was delivered or the upper platform
acknowledged it), people (`start`, `close`, `reopen`). Closing needs a resolution (resolved, false
positive, accepted risk) and a disposition note; reopening needs a note and keeps the history
(the alert's change log is append-only). Each transition is a ledger entry (the service writes it).
"""

from __future__ import annotations

from typing import Literal

from soc_api.alerting.errors import InvalidAlertingRequest, TransitionRefused

Status = Literal["new", "notified", "in_progress", "closed"]
Resolution = Literal["resolved", "false_positive", "accepted_risk"]
Action = Literal["notify", "start", "close", "reopen"]
STATUSES: tuple[Status, ...] = ("new", "notified", "in_progress", "closed")
RESOLUTIONS: tuple[Resolution, ...] = ("resolved", "false_positive", "accepted_risk")
STATUS_NAMES = {
    "new": "预警 new",
    "notified": "通报 notified",
    "in_progress": "处置 in progress",
    "closed": "闭环 closed",
}
RESOLUTION_NAMES = {
    "resolved": "已处置 resolved",
    "false_positive": "误报 false positive",
    "accepted_risk": "接受风险 accepted risk",
}
MAX_NOTE = 4000

#: (from, action) -> to. `notify` on an alert already past 通报 changes nothing (it is recorded).
_TABLE: dict[tuple[str, str], Status] = {
    ("new", "notify"): "notified",
    ("notified", "notify"): "notified",
    ("in_progress", "notify"): "in_progress",
    ("closed", "notify"): "closed",
    ("new", "start"): "in_progress",
    ("notified", "start"): "in_progress",
    ("new", "close"): "closed",
    ("notified", "close"): "closed",
    ("in_progress", "close"): "closed",
    ("closed", "reopen"): "in_progress",
}


def next_status(current: str, action: Action) -> Status:
    """The status after `action` from `current`; `TransitionRefused` names why not."""
    found = _TABLE.get((current, action))
    if found is None:
        allowed = sorted(a for (s, a) in _TABLE if s == current and a != "notify")
        raise TransitionRefused(
            f"状态 {STATUS_NAMES.get(current, current)} 不允许该操作 / cannot {action} an alert that is "
            f"{current}; allowed: {allowed or 'none'}"
        )
    return found


def check_note(note: str | None, *, required: bool) -> str | None:
    """A disposition note: stripped, at most `MAX_NOTE` characters; required when closing or reopening."""
    text = (note or "").strip()
    if required and not text:
        raise InvalidAlertingRequest("处置说明必填 / a disposition note is required")
    if len(text) > MAX_NOTE:
        raise InvalidAlertingRequest(f"note: at most {MAX_NOTE} characters")
    return text or None


def check_resolution(resolution: str | None) -> Resolution:
    """One of `RESOLUTIONS`."""
    for known in RESOLUTIONS:
        if resolution == known:
            return known
    raise InvalidAlertingRequest(f"resolution: one of {list(RESOLUTIONS)} is required")
