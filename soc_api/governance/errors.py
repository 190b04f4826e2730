"""Errors of data governance: one root, typed leaves, each with the HTTP status and problem type it
answers with (the API's error contract is the identity package's, so these answer like every other
API error). Messages are safe to show and say what to do, Chinese first."""

from __future__ import annotations

from soc_api.identity.errors import IdentityError


class GovernanceError(IdentityError):
    """Root of governance errors."""

    status = 400
    problem = "governance-error"


class NotFoundError(GovernanceError):
    """No such asset, request, grant, proposal or policy version."""

    status = 404
    problem = "not-found"


class ConflictError(GovernanceError):
    """The change conflicts with the current state (a decided request, a revoked grant, a duplicate id)."""

    status = 409
    problem = "conflict"


class InvalidError(GovernanceError):
    """A value is not acceptable (an unknown asset or field, a window the wrong way round, a bad policy)."""

    status = 422
    problem = "invalid-request"


class ForbiddenError(GovernanceError):
    """The actor may not do this here (another department's asset, a token deciding for a person)."""

    status = 403
    problem = "permission-denied"


class SeparationOfDutiesError(GovernanceError):
    """A person would approve their own request, or count twice toward one decision."""

    status = 409
    problem = "separation-of-duties"
