"""The application's error root, and the floors' roots joined in one place.

Each floor keeps its own root (`datasoc` and `collectors`: `DatasocError`; `audit`: `AuditError`;
`crypto`: `CryptoError`; `detection`: `DetectionError`), since a lower floor may not import a
sibling's. The application catches `FLOOR_ERRORS` where it turns any of them into an operator's
message (the CLI) or a step's failure (the supervisor records every exception, known or not).
"""

from __future__ import annotations

from audit.errors import AuditError
from crypto.errors import CryptoError
from datasoc.errors import DatasocError
from detection.errors import DetectionError


class PlatformError(DatasocError):
    """Root of the errors the application (`soc_api`) raises itself."""


#: Every error a floor raises on purpose, for `except FLOOR_ERRORS`.
FLOOR_ERRORS: tuple[type[Exception], ...] = (DatasocError, AuditError, CryptoError, DetectionError)
