"""What every launcher shares: where homes live, building them once, and one process group per server.

Layout under `services_dir()` (default `/var/tmp/datasoc-services-<uid>`, outside `/root`
because the servers run as `nobody` when started by root and must read their jars):

    dist/<name>-<version>-<recipe digest>/   the assembled, read-only home (jars, modules, shims),
                                             built once from ~/.m2 under a file lock
    run/<instance>/                          one running server: config/, data/, logs/, tmp/,
                                             owner.json (whose it is, to clean up after a crash)

A server runs in its own process group (`start_new_session`), as `nobody` through `setpriv` when
we are root (OpenSearch and Elasticsearch refuse root), with `--pdeathsig TERM` so it stops when
the process that started it dies, and listens on 127.0.0.1 only. `stop()` sends SIGTERM to the
group, waits, then SIGKILL.
"""

from __future__ import annotations

import fcntl
import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, ClassVar, Self

from services.errors import FetchError, ServiceError, StartError
from services.java import Java

SERVICES_DIR_ENV = "SERVICES_DIR"
#: Readiness waits: a loaded 2-core machine was measured at 42 s (notes), and here at 152 s for
#: Elasticsearch while five test suites ran beside it. `SERVICES_READY_TIMEOUT` overrides it.
READY_TIMEOUT_S = float(os.environ.get("SERVICES_READY_TIMEOUT", "240"))
STOP_TIMEOUT_S = 30.0
RUN_AS = "nobody"


def services_dir() -> Path:
    """Root of the assembled homes and the running instances."""
    configured = os.environ.get(SERVICES_DIR_ENV)
    if configured:
        return Path(configured)
    # /var/tmp survives reboots (the assembled homes are worth keeping); the name is per user.
    var_tmp = Path("/var/tmp")  # noqa: S108 - a per-uid folder, created 0755 by us, never shared
    base = var_tmp if var_tmp.is_dir() else Path(tempfile.gettempdir())
    return base / f"datasoc-services-{os.getuid()}"


def ensure_services_dir() -> Path:
    """Create `services_dir()` (mode 0755) or check that the existing one is ours and no symlink:
    it is in a world-writable place, and what is in it is run."""
    root = services_dir()
    root.mkdir(parents=True, exist_ok=True)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ServiceError(
            f"{root} is not a folder owned by uid {os.getuid()}",
            hint=f"remove it, or set {SERVICES_DIR_ENV} to a folder of your own",
        )
    root.chmod(0o755)
    return root


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def instance_dir(label: str, *, temporary: bool) -> Path:
    """A folder for one server instance under `services_dir()/run`, every level readable by `nobody`.

    Temporary ones get a unique name (removed by `Server.close`); others are `local-<label>`, kept
    across runs (`make services` keeps its data).
    """
    run = ensure_services_dir() / "run"
    run.mkdir(exist_ok=True)
    run.chmod(0o755)
    if temporary:
        return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=run))
    folder = run / f"local-{label}"
    folder.mkdir(exist_ok=True)
    return folder


def run_as_prefix(*, drop_root: bool = True) -> list[str]:
    """`setpriv` words that drop root to `nobody` (unless not `drop_root`) and stop the server when
    its starter dies."""
    words = ["setpriv", "--pdeathsig", "TERM"]
    if os.geteuid() == 0 and drop_root:
        user = pwd.getpwnam(RUN_AS)
        group = grp.getgrgid(user.pw_gid).gr_name
        words[1:1] = [f"--reuid={RUN_AS}", f"--regid={group}", "--clear-groups"]
    return words if shutil.which("setpriv") else []


def give_to_runner(*paths: Path) -> None:
    """Make `paths` (recursively) owned by the user the servers run as, when we are root."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(RUN_AS)
    for top in paths:
        for path in [top, *top.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)


def make_readable(root: Path) -> None:
    """Let every user read `root` (a dist home built by root under umask 077 would not be)."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode | (0o755 if path.is_dir() else 0o644))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(root: Path | None = None) -> list[str]:
    """Stop servers whose starter died without stopping them; remove their folders if temporary.

    Only process groups recorded in an `owner.json` are touched, and only when the process still
    runs with its instance folder on its command line (a reused pid is left alone).
    """
    run = (root or services_dir()) / "run"
    reaped: list[str] = []
    if not run.is_dir():
        return reaped
    for owner_file in sorted(run.glob("*/owner.json")):
        instance = owner_file.parent
        try:
            owner = json.loads(owner_file.read_text(encoding="utf-8"))
            owner_pid, server_pid, temporary = int(owner["owner"]), int(owner["server"]), bool(owner["temp"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(owner_pid):
            continue
        if server_pid > 0 and _alive(server_pid):
            try:
                cmdline = Path(f"/proc/{server_pid}/cmdline").read_bytes()
            except OSError:
                cmdline = b""
            if str(instance).encode() in cmdline:
                with suppress(ProcessLookupError):
                    os.killpg(server_pid, signal.SIGKILL)
        if temporary:
            shutil.rmtree(instance, ignore_errors=True)
        else:
            owner_file.unlink(missing_ok=True)
        reaped.append(instance.name)
    return reaped


class Server(ABC):
    """One server: fetched into a shared home, configured and run in its own instance folder.

    Subclasses give the recipe: `_recipe` (what the home is built from), `_assemble` (build it),
    `_configure` (write the instance's config), `_argv` (the command), `_probe` (ready?).
    """

    name: ClassVar[str]
    #: The exact version the project tests against.
    VERSION: ClassVar[str]
    #: Bumped when an assembly recipe changes, so old homes are rebuilt.
    RECIPE: ClassVar[int] = 1
    #: Default JVM heap.
    HEAP_MB: ClassVar[int] = 512
    #: Run as `nobody` when started by root (OpenSearch and Elasticsearch refuse root).
    DROP_ROOT: ClassVar[bool] = True

    def __init__(
        self,
        version: str,
        java: Java,
        instance: Path,
        *,
        ports: Mapping[str, int] | None = None,
        temporary: bool = True,
        heap_mb: int | None = None,
    ) -> None:
        self.version = version
        self.heap_mb = heap_mb or self.HEAP_MB
        self.java = java
        self.instance = instance
        self.temporary = temporary
        self.ports: dict[str, int] = dict(ports) if ports else {p: free_port() for p in self.port_names()}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._configured = False
        self.started_at = 0.0

    # -- the recipe ---------------------------------------------------------------------------

    @classmethod
    @abstractmethod
    def java_versions(cls, version: str) -> range:
        """The Java feature versions `version` of this server runs on."""

    @classmethod
    @abstractmethod
    def port_names(cls) -> tuple[str, ...]:
        """The ports this server listens on (`http`, `transport`, ...), all on 127.0.0.1."""

    @abstractmethod
    def _recipe(self) -> str:
        """Everything the home depends on, as text (hashed into the home's folder name)."""

    @abstractmethod
    def _assemble(self, home: Path, work: Path) -> None:
        """Build the home into `home` (an empty folder), using `work` for scratch files."""

    @abstractmethod
    def _configure(self) -> None:
        """Write the instance's configuration (first start only; restarts keep data and config)."""

    @abstractmethod
    def _argv(self) -> list[str]:
        """The server's command line (without the `setpriv` prefix)."""

    @abstractmethod
    def _probe(self) -> bool:
        """True once the server answers a real request; never raises for a server still starting."""

    @property
    @abstractmethod
    def address(self) -> str:
        """What a client connects to: an URL or Kafka's `host:port` bootstrap."""

    def _stdin(self) -> bytes | None:
        """Bytes to write to the server's stdin and keep open (Elasticsearch reads its args there)."""
        return None

    def _environment(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(self.tmp)}

    # -- folders ------------------------------------------------------------------------------

    @property
    def home(self) -> Path:
        """The shared, read-only home this version and recipe are assembled into."""
        digest = hashlib.sha256(f"{self.RECIPE}\n{self._recipe()}".encode()).hexdigest()[:10]
        return services_dir() / "dist" / f"{self.name}-{self.version}-{digest}"

    @property
    def config(self) -> Path:
        return self.instance / "config"

    @property
    def data(self) -> Path:
        return self.instance / "data"

    @property
    def logs(self) -> Path:
        return self.instance / "logs"

    @property
    def tmp(self) -> Path:
        return self.instance / "tmp"

    @property
    def log_file(self) -> Path:
        """The server's console output (appended across restarts)."""
        return self.logs / "console.log"

    def fetch(self) -> Path:
        """Assemble the home once (under a lock, into a temporary folder renamed when complete)."""
        ensure_services_dir()
        home = self.home
        marker = home / ".complete"
        if marker.exists():
            return home
        with _locked(home.with_name(home.name + ".lock")):
            if marker.exists():
                return home
            building = home.with_name(f"{home.name}.building-{os.getpid()}")
            shutil.rmtree(building, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)
            work = Path(tempfile.mkdtemp(prefix=f"{self.name}-fetch-"))
            try:
                building.mkdir(parents=True)
                self._assemble(building, work)
                make_readable(building)
                (building / ".complete").write_text(self._recipe() + "\n", encoding="utf-8")
                building.rename(home)
            except FetchError:
                shutil.rmtree(building, ignore_errors=True)
                raise
            except (OSError, subprocess.SubprocessError) as exc:
                shutil.rmtree(building, ignore_errors=True)
                raise FetchError(self.name, "assembling the home", str(exc)) from exc
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return home

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """The server process exists and has not exited."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's pid, which is also its process group id."""
        return self._process.pid if self._process is not None else None

    def start(self) -> Self:
        """Fetch if needed, configure on the first start, and launch; returns before it is ready."""
        if self.running:
            return self
        self.fetch()
        if not self._configured:
            reap_orphans()
            self._write_owner(0)  # before anything else: a crash from here on is reaped next time
            for folder in (self.config, self.data, self.logs, self.tmp):
                folder.mkdir(parents=True, exist_ok=True)
            self.instance.chmod(0o755)  # `nobody` walks through to config/, data/...
            self._configure()
            give_to_runner(self.config, self.data, self.logs, self.tmp)
            self._configured = True
        if self._log is None:
            self._log = self.log_file.open("ab")
        stdin = self._stdin()
        self._process = subprocess.Popen(  # noqa: S603 - argv from the recipe, no shell
            [*run_as_prefix(drop_root=self.DROP_ROOT), *self._argv()],
            cwd=self.instance,
            env=self._environment(),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if stdin is not None and self._process.stdin is not None:
            # Left open: Elasticsearch shuts down when its stdin closes.
            self._process.stdin.write(stdin)
            self._process.stdin.flush()
        self.started_at = time.monotonic()
        self._write_owner(self._process.pid)
        return self

    def _write_owner(self, server_pid: int) -> None:
        (self.instance / "owner.json").write_text(
            json.dumps({"owner": os.getpid(), "server": server_pid, "temp": self.temporary}), encoding="utf-8"
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Block until `_probe` succeeds; return seconds since start.

        Raises `StartError` (with the log's tail) if the server exits or is not ready in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = self._process.returncode if self._process else None
                raise StartError(self.name, f"exited with code {code} before it was ready", self.log_tail())
            if self._probe():
                return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                raise StartError(self.name, f"not ready after {timeout:.0f} s", self.log_tail())
            time.sleep(0.25)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the process group, wait up to `timeout`, then SIGKILL it. Data and config stay."""
        self._signal_group(signal.SIGTERM)
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._process.wait(10)
        self._close_pipes()

    def kill(self) -> None:
        """SIGKILL the process group at once (crash tests); `start()` restarts on the same data."""
        self._signal_group(signal.SIGKILL)
        if self._process is not None:
            self._process.wait(10)
        self._close_pipes()

    def close(self) -> None:
        """Stop, and remove the instance folder when it is temporary."""
        try:
            self.stop()
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            if self.temporary:
                shutil.rmtree(self.instance, ignore_errors=True)
            else:
                (self.instance / "owner.json").unlink(missing_ok=True)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)

    def _close_pipes(self) -> None:
        if self._process is not None and self._process.stdin is not None:
            with suppress(OSError):
                self._process.stdin.close()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the console log, for error messages."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def jvm_common_flags(heap_mb: int, tmp: Path) -> list[str]:
    """Flags every server JVM gets: fixed heap, G1, UTF-8, headless, its own tmp."""
    return [
        f"-Xms{heap_mb}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        f"-Djava.io.tmpdir={tmp}",
    ]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when `url` answers 200 (any error or other status is "not yet")."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own loopback URL
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def classpath(*folders: Path) -> str:
    """A Java class path of every jar in `folders`."""
    return os.pathsep.join(f"{folder}/*" for folder in folders)


def listing(folder: Path, suffix: str = ".jar") -> Sequence[Path]:
    """Files of `folder` with `suffix`, sorted."""
    return sorted(p for p in folder.iterdir() if p.name.endswith(suffix))
