"""Errors of identity and access: one root, typed leaves; each maps to one HTTP status and problem type.

Messages are safe to show: they never carry a password, a token, a TOTP secret or a hash.
"""

from __future__ import annotations


class IdentityError(Exception):
    """Root of identity errors. `status` and `problem` say how the API answers it."""

    status = 400
    problem = "identity-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class AuthenticationError(IdentityError):
    """Sign-in or credential failure (deliberately vague: no oracle for user names or locks)."""

    status = 401
    problem = "unauthenticated"


class SecondFactorRequiredError(AuthenticationError):
    """The session has passed the password step only; a TOTP or recovery code is needed next."""

    problem = "second-factor-required"


class EnrolmentRequiredError(IdentityError):
    """The account's roles require a second factor that is not enrolled yet."""

    status = 403
    problem = "second-factor-enrolment-required"


class PermissionDeniedError(IdentityError):
    """The actor lacks the permission an action needs."""

    status = 403
    problem = "permission-denied"


class CsrfError(IdentityError):
    """A state-changing request of a browser session without the session's CSRF token."""

    status = 403
    problem = "csrf-token-invalid"


class SeparationOfDutiesError(IdentityError):
    """An account would hold two of the three administrator roles (三员分立, GB/T 22239-2019)."""

    status = 409
    problem = "separation-of-duties"


class PasswordPolicyError(IdentityError):
    """A new password breaks the password policy; `problems` names every rule it breaks."""

    status = 422
    problem = "password-policy"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class NotFoundError(IdentityError):
    """No such account or token."""

    status = 404
    problem = "not-found"


class ConflictError(IdentityError):
    """The change conflicts with what exists (a user name taken, a role already held)."""

    status = 409
    problem = "conflict"


class InvalidRequestError(IdentityError):
    """A request value is not acceptable (unknown role or scope, expiry in the past)."""

    status = 422
    problem = "invalid-request"


class AuditUnavailableError(IdentityError):
    """The platform's audit record cannot be written: the action is refused (fail closed)."""

    status = 503
    problem = "audit-unavailable"


class TooManyStreamsError(IdentityError):
    """A session holds as many live streams as it may (server-sent events are bounded per session)."""

    status = 429
    problem = "too-many-streams"


class PayloadTooLargeError(IdentityError):
    """An upload is larger than its cap (the bundle verifier reads at most `verify_max_bytes`)."""

    status = 413
    problem = "payload-too-large"
