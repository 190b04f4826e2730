"""Errors of alerting and response: one root, typed leaves; each says how the API answers it.

Messages are safe to show: they never carry a channel secret or a receiver's answer body.
"""

from __future__ import annotations

from soc_api.errors import PlatformError


class AlertingError(PlatformError):
    """Root of alerting errors. `status` and `problem` say how the API answers it."""

    status = 400
    problem = "alerting-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidAlertingRequest(AlertingError):
    """A value is not acceptable (an unknown field, an expiry in the past, a missing note)."""

    status = 422
    problem = "invalid-request"


class AlertNotFound(AlertingError):
    """No such alert, case, task, suppression, route or notification."""

    status = 404
    problem = "not-found"


class TransitionRefused(AlertingError):
    """The lifecycle does not allow this step from the current status (or the record changed)."""

    status = 409
    problem = "transition-refused"


class AlreadyExists(AlertingError):
    """A create-only request (`If-None-Match: *`) named a record that exists (RFC 9110 §13.1.2)."""

    status = 412
    problem = "already-exists"


class DeliveryError(AlertingError):
    """One delivery attempt failed (retried with back-off; dead-lettered after the last attempt).

    `retry` is False when trying again cannot help (the receiver refused the request as malformed)."""

    status = 502
    problem = "delivery-failed"

    def __init__(self, detail: str, *, retry: bool = True) -> None:
        super().__init__(detail)
        self.retry = retry
