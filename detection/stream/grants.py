"""Grant changes for the job's broadcast stream, beside the rule changes, and applying one. Pure.

A grant change is one JSON line written by the platform (`soc_api.stream.grants.GrantChangeWriter`):

    {"grants": 7, "put": {"<grant id>": "<grant JSON>", ...}, "remove": ["<grant id>", ...]}

`grants` is the change's version (1, 2, 3... in the order they apply), `put` adds or replaces grants
(`datasoc.grants.Grant` wire form, as text), `remove` drops them. The first key tells a grant change
from a rule change on the one broadcast stream (`is_grant_change`). A change whose grant does not
validate is rejected whole (grants come from the platform's own store: a bad one is a bug to report,
not a rule to skip). Batch pointers name the grants version current when they were exported (`gv`):
the rule operator evaluates a batch only once it has applied that version, so an access exported after
a grant change is always judged with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from datasoc.grants import Grant, GrantBook, GrantError
from detection.errors import DetectionError

_HEAD = '{"grants":'


class GrantChangeError(DetectionError, ValueError):
    """A grant-change line is not valid; the message says what is wrong."""


def is_grant_change(line: str) -> bool:
    """Whether a broadcast line is a grant change (else it is a rule change)."""
    return line.lstrip().startswith(_HEAD)


@dataclass(frozen=True)
class GrantChange:
    """One change of the grants the job traces against (see module docstring)."""

    version: int
    put: Mapping[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, line: str) -> GrantChange:
        """Parse and check one line; `GrantChangeError` names what is wrong."""
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise GrantChangeError(f"grant change: not JSON: {exc}") from None
        if not isinstance(data, dict) or set(data) - {"grants", "put", "remove"}:
            raise GrantChangeError("grant change: an object with grants, put and remove only")
        version = data.get("grants")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise GrantChangeError(f"grant change: version must be a positive integer, got {version!r}")
        put = data.get("put", {})
        if not isinstance(put, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in put.items()
        ):
            raise GrantChangeError("grant change: put must map grant ids to grant JSON texts")
        remove = data.get("remove", [])
        if not isinstance(remove, list) or not all(isinstance(k, str) for k in remove):
            raise GrantChangeError("grant change: remove must be a list of grant ids")
        for grant_id, text in put.items():
            try:
                grant = Grant.from_dict(json.loads(text))
            except (ValueError, GrantError) as exc:
                raise GrantChangeError(f"grant change {version}: grant {grant_id!r}: {exc}") from None
            if grant.id != grant_id:
                raise GrantChangeError(f"grant change {version}: {grant_id!r} holds grant {grant.id!r}")
        return cls(version, dict(put), tuple(remove))

    def to_json(self) -> str:
        """The one-line wire form."""
        body = {"grants": self.version, "put": dict(self.put), "remove": list(self.remove)}
        return json.dumps(body, ensure_ascii=False, sort_keys=False)


def book_of(texts: Mapping[str, str], version: int) -> GrantBook:
    """The book of grant texts by id (as kept in the job's broadcast state)."""
    return GrantBook.of((Grant.from_dict(json.loads(t)) for t in texts.values()), version)
