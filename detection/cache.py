"""The compiled-rule cache: what `RuleSet.load` learnt from a rule file, kept for the next start.

Compiling all of SigmaHQ (pySigma parse, pipeline, IR) takes tens of seconds; reading it back takes
a fraction of one. One entry per rule file, named by a SHA-256 over everything the compiled result
depends on (`entry_key`): the cache format, the engine (`engine_fingerprint`: the source of the
`detection` package and the versions of pySigma and its pipelines), the pipeline, the placeholder
configuration, the file's path and its content. Change any of them and the key changes: a stale
entry is never found, so it is never used.

Nothing read from the cache can run code: an entry is JSON (`detection.codec` for the conditions)
behind an HMAC-SHA256 under a 32-byte key created beside the entries (`key`, 0600, in a 0700
directory the user owns). An entry whose header, HMAC or JSON does not check out is reported, deleted
and rebuilt from the rule file; a directory or key file others could write to is refused, and rules
are then compiled without a cache (`CacheError`, reported by the caller).

Layout: `<dir>/key`, `<dir>/<2 hex>/<64 hex>` entries. Entry bytes: `datasoc-rule-cache <FORMAT>\n`,
the hex HMAC over the key name and the body, `\n`, the body (`detection.loader`): a JSON metadata
line, then one line per rule holding its encoded condition, then one per rule holding its necessary
clauses (each decoded only when the rule is first needed: the clauses when an index holds the rule,
the condition when it is first a candidate).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from detection.errors import DetectionError

FORMAT = 1
#: Environment variable naming the cache directory of processes that start without a command line
#: option for it (the stream job's workers inherit it from `datasoc run`).
ENVIRONMENT = "DATASOC_RULE_CACHE"
_HEADER = f"datasoc-rule-cache {FORMAT}\n".encode()
_KEY_FILE = "key"
_KEY_BYTES = 32
_DISTRIBUTIONS = ("pysigma", "pysigma-pipeline-sysmon", "pysigma-pipeline-windows")
#: Entries above this size are refused on read (all of SigmaHQ compiles to about 20 MiB).
MAX_ENTRY_BYTES = 256 << 20
#: Bundles kept (each a whole load: see `detection.cached`); older ones are deleted.
KEEP_BUNDLES = 4
_BUNDLES = "bundles"
_BUNDLE_PREFIX = "bundle/"


class CacheError(DetectionError):
    """The cache directory cannot be used safely (ownership, permissions) or at all."""


@dataclass
class CacheReport:
    """What one load did with the cache: entries used, rebuilt, written, and each rejection."""

    directory: Path
    hits: int = 0
    misses: int = 0
    written: int = 0
    rejected: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for an operator."""
        text = f"rule cache {self.directory}: {self.hits} files from cache, {self.misses} compiled"
        if self.rejected:
            text += f", {len(self.rejected)} entries rejected and rebuilt"
        return text


def _versions() -> dict[str, str]:
    """Installed versions of `_DISTRIBUTIONS`, from their `.dist-info` directory names on `sys.path`
    (what `importlib.metadata` reads too, at a tenth of its import time)."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                distribution, _, version = name[: -len(".dist-info")].partition("-")
                normalized = distribution.lower().replace("_", "-").replace(".", "-")
                if normalized in _DISTRIBUTIONS:
                    found.setdefault(normalized, version)
    return found


@lru_cache(maxsize=1)
def engine_fingerprint() -> str:
    """SHA-256 over the `detection` package's own source and the pySigma versions it compiles with."""
    digest = hashlib.sha256(f"python {sys.version_info[:2]}\n".encode())
    versions = _versions()
    for name in _DISTRIBUTIONS:
        digest.update(f"{name} {versions.get(name, '-')}\n".encode())
    package = Path(__file__).resolve().parent
    for source in sorted(package.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


def entry_key(context: str, path: Path | None, text: str) -> str:
    """The name of the entry for one rule file under a load context (see module docstring)."""
    digest = hashlib.sha256(context.encode())
    digest.update(b"\0" + str(path or "").encode("utf-8", "surrogatepass") + b"\0")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def load_context(pipeline: str, config: Mapping[str, str] | None) -> str:
    """The part of every key shared by one load: format, engine, pipeline and configuration."""
    settings = "\0".join(f"{k}={v}" for k, v in sorted((config or {}).items()))
    return f"{FORMAT}\0{engine_fingerprint()}\0{pipeline}\0{settings}"


def _check_private(path: Path, *, directory: bool) -> None:
    info = path.lstat()
    kind_ok = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    if not kind_ok:
        raise CacheError(f"{path}: not a {'directory' if directory else 'regular file'}")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise CacheError(f"{path}: owned by another user")
    if info.st_mode & 0o077:
        raise CacheError(f"{path}: accessible to group or others (mode {stat.S_IMODE(info.st_mode):o})")


class RuleCache:
    """A cache directory: read and write entries, each authenticated (see module docstring)."""

    def __init__(self, directory: Path, *, report: Callable[[str], None] | None = None) -> None:
        """Open (creating it, 0700) the cache under `directory`; `CacheError` when it is unsafe.

        `report` receives one line per entry rejected (the CLI prints it, `datasoc run` logs it).
        """
        self.directory = directory
        self._root = str(directory)
        self._report = report
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _check_private(directory, directory=True)
            self._key = self._load_key(directory / _KEY_FILE)
        except OSError as exc:
            raise CacheError(f"rule cache {directory}: {exc}") from exc

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, report: Callable[[str], None] | None = None
    ) -> RuleCache | None:
        """The cache `DATASOC_RULE_CACHE` names; None when unset or unusable (reported: compile)."""
        where = (os.environ if environ is None else environ).get(ENVIRONMENT)
        if not where:
            return None
        try:
            return cls(Path(where), report=report)
        except CacheError as exc:
            if report is not None:
                report(f"rule cache not used: {exc}")
            return None

    @staticmethod
    def _load_key(path: Path) -> bytes:
        if not path.exists():
            # Written whole under a temporary name, then linked: a concurrent reader sees no key
            # file or the whole key, never part of one.
            descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(secrets.token_bytes(_KEY_BYTES))
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process created it first: use theirs
            finally:
                Path(temporary).unlink(missing_ok=True)
        _check_private(path, directory=False)
        key = path.read_bytes()
        if len(key) != _KEY_BYTES:
            raise CacheError(f"{path}: not a {_KEY_BYTES}-byte key")
        return key

    def _mac(self, key: str, body: bytes) -> bytes:
        mac = hmac.new(self._key, key.encode() + b"\n", "sha256")
        mac.update(body)
        return mac.hexdigest().encode()

    def _path(self, key: str, *, bundle: bool = False) -> Path:
        return self.directory / (_BUNDLES if bundle else key[:2]) / key

    def has(self, key: str, *, bundle: bool = False) -> bool:
        """Whether an entry (or bundle) file exists for `key` (it is verified only when read)."""
        return os.path.exists(os.path.join(self._root, _BUNDLES if bundle else key[:2], key))

    def read(self, key: str, *, bundle: bool = False) -> list[bytes] | None:
        """The body lines of entry (or bundle) `key`, or None (absent, or rejected: reported and
        deleted)."""
        # Plain strings, not Paths: this runs once per rule file.
        name = os.path.join(self._root, _BUNDLES if bundle else key[:2], key)
        key = _BUNDLE_PREFIX + key if bundle else key
        try:
            with open(name, "rb") as handle:
                data = handle.read(MAX_ENTRY_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._reject(Path(name), f"cannot read: {exc}")
            return None
        problem = self._check(key, data)
        if problem is not None:
            self._reject(Path(name), problem)
            return None
        return data[len(_HEADER) + 65 :].split(b"\n")

    def _check(self, key: str, data: bytes) -> str | None:
        if len(data) > MAX_ENTRY_BYTES:
            return "too large"
        if not data.startswith(_HEADER):
            return "unknown header (another format or version)"
        mac, body = data[len(_HEADER) : len(_HEADER) + 64], data[len(_HEADER) + 65 :]
        if data[len(_HEADER) + 64 : len(_HEADER) + 65] != b"\n":
            return "truncated"
        if not hmac.compare_digest(mac, self._mac(key, body)):
            return "HMAC does not match (corrupt or written without the key)"
        return None

    def reject(self, key: str, reason: str, *, bundle: bool = False) -> None:
        """Report and delete an entry that authenticated but could not be used (bad JSON, ...)."""
        self._reject(self._path(key, bundle=bundle), reason)

    def _reject(self, path: Path, reason: str) -> None:
        if self._report is not None:
            self._report(f"rule cache entry {path.name[:16]}… rejected, rebuilt: {reason}")
        with contextlib.suppress(OSError):
            path.unlink()

    def write(self, key: str, lines: Sequence[bytes], *, bundle: bool = False) -> None:
        """Store an entry (or bundle) atomically: a reader sees the old one, none, or the whole new
        one. Writing a bundle deletes all but the `KEEP_BUNDLES` newest."""
        body = b"\n".join(lines)
        data = _HEADER + self._mac(_BUNDLE_PREFIX + key if bundle else key, body) + b"\n" + body
        path = self._path(key, bundle=bundle)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        if bundle:
            self._prune(path.parent)

    @staticmethod
    def _prune(bundles: Path) -> None:
        found = []
        for entry in os.scandir(bundles):
            with contextlib.suppress(OSError):
                if entry.is_file() and not entry.name.startswith("."):
                    found.append((entry.stat().st_mtime_ns, entry.path))
        for _, old in sorted(found, reverse=True)[KEEP_BUNDLES:]:
            with contextlib.suppress(OSError):
                os.unlink(old)

    def set_report(self, report: Callable[[str], None] | None) -> None:
        """Where rejections are reported from now on."""
        self._report = report
