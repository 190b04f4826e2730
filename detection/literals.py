"""The literal text every match of a regular expression must contain (read with the stdlib parser).

Both the candidate index (`detection.index.regex_literal`: lowered, long enough to narrow) and the
`|re` matchers (`detection.matchers`: a substring test before the search, so a pattern that
backtracks badly, such as SigmaHQ's `\\w+`(?:\\w+|-|.)`[\\w+|\\s]`, runs only on values that can
match) read it from here. Only runs of literals in the pattern's top-level sequence count: each
match consists of those items in order, so it contains the run as written.
"""

from __future__ import annotations

import re
import warnings
from typing import cast

with warnings.catch_warnings():
    # The stdlib regex parser is the only exact way to read a pattern's literals; it is deprecated
    # as a public module name in 3.11 but still shipped.
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants
    import sre_parse


def required_literal(pattern: str, flags: int) -> tuple[str, bool] | None:
    """`(run, ignores_case)`: the longest literal run every match contains (as written), and whether
    the pattern matches it case-insensitively; None when there is none or the pattern does not parse."""
    try:
        parsed = sre_parse.parse(pattern, flags)
    except (re.error, OverflowError, RecursionError):
        return None
    best, run = "", []
    literal = sre_constants.LITERAL
    for op, arg in parsed.data:
        if op is literal:
            run.append(chr(cast(int, arg)))
        else:
            best = max(best, "".join(run), key=len)
            run = []
    best = max(best, "".join(run), key=len)
    if not best:
        return None
    return best, bool(parsed.state.flags & re.IGNORECASE)
