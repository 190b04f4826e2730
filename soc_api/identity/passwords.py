"""Password policy (pure) and argon2id hashing.

Hashing: argon2id (RFC 9106) through `argon2-cffi`, with OWASP's first recommended parameter set
(Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1). RFC 9106 §4's second recommended option
(64 MiB, t = 3, p = 4) measured 147 ms per hash on this project's 2-core machine, too slow for
20 concurrent sign-ins under 300 ms; the OWASP set measured 18 ms (`datasoc bench signin`).
"""

from __future__ import annotations

import os
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from soc_api.identity.errors import PasswordPolicyError


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost parameters; the defaults are OWASP's (m=19456 KiB, t=2, p=1)."""

    memory_kib: int = 19456
    time_cost: int = 2
    parallelism: int = 1

    def hasher(self) -> PasswordHasher:
        """An argon2id hasher with these parameters (16-byte salt, 32-byte tag)."""
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism
        )


class Passwords:
    """Hash and verify passwords with argon2id (CPU only: no I/O).

    At most `max_concurrent` (default: the CPU count) hashes run at once: each takes `memory_kib`
    of memory, so a flood of sign-ins must not multiply it, and more threads than cores only make
    every sign-in slower (they would all finish together at the end).
    """

    def __init__(self, params: Argon2Params | None = None, *, max_concurrent: int | None = None) -> None:
        self.params = params or Argon2Params()
        self._hasher = self.params.hasher()
        self._slots = threading.BoundedSemaphore(max_concurrent or os.cpu_count() or 2)
        # A fixed hash verified for unknown user names, so their sign-in costs the same time.
        self._dummy = self._hasher.hash("datasoc-dummy-password-for-timing")

    def hash(self, password: str) -> str:
        """The PHC string `$argon2id$v=19$m=...` of `password`."""
        with self._slots:
            return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; with `stored` None, spend the same time and say no."""
        try:
            with self._slots:
                return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """True when `stored` was made with other parameters (rehash on the next sign-in)."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Length, character classes, not the user name, not one of the last `history` passwords."""

    min_length: int = 12
    max_length: int = 256
    min_classes: int = 3
    history: int = 5

    def problems(
        self,
        password: str,
        *,
        username: str,
        previous: Sequence[str] = (),
        matches: Callable[[str, str], bool] | None = None,
    ) -> list[str]:
        """Every rule `password` breaks (empty: acceptable). `previous` are stored hashes, newest
        first; `matches(hash, password)` checks one (argon2 verify)."""
        found: list[str] = []
        text = unicodedata.normalize("NFKC", password)
        if len(text) < self.min_length:
            found.append(f"密码至少 {self.min_length} 个字符 / at least {self.min_length} characters")
        if len(text) > self.max_length:
            found.append(f"密码至多 {self.max_length} 个字符 / at most {self.max_length} characters")
        classes = sum(
            (
                any(c.islower() for c in text),
                any(c.isupper() for c in text),
                any(c.isdigit() for c in text),
                any(not c.isalnum() or not c.isascii() for c in text),
            )
        )
        if classes < self.min_classes:
            found.append(
                f"至少包含 {self.min_classes} 类字符（小写、大写、数字、其他）/ at least {self.min_classes} "
                "of lower case, upper case, digits, other characters"
            )
        name = unicodedata.normalize("NFKC", username).casefold()
        if name and name in text.casefold():
            found.append("密码不得包含用户名 / must not contain the user name")
        if matches is not None and any(matches(old, password) for old in previous[: self.history]):
            found.append(
                f"不得重复使用最近 {self.history} 个密码 / must differ from the last {self.history} passwords"
            )
        return found

    def check(self, password: str, **kwargs: object) -> None:
        """Raise `PasswordPolicyError` naming every broken rule."""
        found = self.problems(password, **kwargs)  # type: ignore[arg-type]
        if found:
            raise PasswordPolicyError(found)
