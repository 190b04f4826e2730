"""`datasoc bench detect --peer`: `datasoc detect` against Zircolite, side by side, end to end.

Zircolite (the Python tool analysts use for this job: it drops events of channels and event ids no
rule wants, loads the rest into SQLite and runs each rule's SQL) is run from
`<repo>/../shared/peers/zircolite/` in its own virtual environment, built from its
`requirements.txt` on first use and kept (`peer_venv`). It is never imported: both tools run as
processes of their own on the same event file, alternately, `repeat` times each:

- wall time from the start of the process to its exit, after its last match is written to a file
  (Zircolite: `-o FILE`; datasoc: stdout to a file);
- peak memory: the largest sum of the resident set sizes of the process and all its descendants,
  sampled every 10 ms from `/proc` (datasoc's worker processes count), and `ru_maxrss` of the
  largest single process (`getrusage`) as a lower bound that sampling cannot miss.

Each tool uses its own prepared rules, as a user would run it: Zircolite its pre-converted generic
Windows rule set (`rules/rules_windows_generic.json`), datasoc the SigmaHQ rule files with its
compiled-rule cache filled by one untimed run first (the cold run is reported too).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ZIRCOLITE_RULES = "rules/rules_windows_generic.json"


@dataclass(frozen=True)
class Run:
    """One timed process."""

    seconds: float
    peak_tree_mib: float
    peak_tree_pss_mib: float
    max_single_mib: float
    returncode: int


@dataclass(frozen=True)
class Side:
    """One tool on one input: its runs and what it found."""

    tool: str
    runs: tuple[Run, ...]
    matches: int
    rules: int

    @property
    def median_seconds(self) -> float:
        """Median wall time."""
        return statistics.median(r.seconds for r in self.runs)

    @property
    def peak_mib(self) -> float:
        """Largest peak RSS over the runs (summed over the process tree)."""
        return max(max(r.peak_tree_mib, r.max_single_mib) for r in self.runs)

    @property
    def peak_pss_mib(self) -> float:
        """Largest peak PSS over the runs (summed over the process tree)."""
        return max(r.peak_tree_pss_mib for r in self.runs)

    def spread(self) -> str:
        """`min–max` of the wall times."""
        times = [r.seconds for r in self.runs]
        return f"{min(times):.2f}–{max(times):.2f}"


@dataclass(frozen=True)
class Comparison:
    """Both tools on one input."""

    label: str
    events: int
    peer: Side
    ours: Side

    @property
    def ratio(self) -> float:
        """Zircolite's median wall time over datasoc's (how many times faster datasoc is)."""
        return self.peer.median_seconds / self.ours.median_seconds if self.ours.median_seconds else 0.0

    def lines(self) -> list[str]:
        """The report rows."""
        rows = []
        for side in (self.peer, self.ours):
            rows.append(
                f"  {side.tool:<10} {side.rules:>5} rules  median {side.median_seconds:6.2f} s "
                f"(runs {side.spread()} s)  peak RSS {side.peak_mib:4.0f} MiB (PSS {side.peak_pss_mib:4.0f}) "
                f"{side.matches} matches"
            )
        return [f"{self.label}: {self.events:,} events", *rows, f"  ratio: datasoc {self.ratio:.2f}x faster"]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                found.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return found


def _field_kib(path: str, name: str) -> int:
    try:
        with open(path, encoding="ascii") as handle:
            for line in handle:
                if line.startswith(name):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_memory_mib(pid: int) -> tuple[float, float]:
    """`(RSS, PSS)` summed over `pid` and its descendants, in MiB (0 off Linux). The RSS sum counts
    pages forked workers share with their parent once per process; PSS divides them among them."""
    rss = pss = 0
    stack, seen = [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        rss += _field_kib(f"/proc/{current}/status", "VmRSS:")
        pss += _field_kib(f"/proc/{current}/smaps_rollup", "Pss:")
        stack.extend(_children(current))
    return rss / 1024, pss / 1024


def timed(command: Sequence[str], *, cwd: Path, stdout: Path) -> Run:
    """Run `command` to completion; its wall time and peak memory (see module docstring)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak = peak_pss = 0.0
    with stdout.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL)  # noqa: S603
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, peak_pss
            while not done.is_set():
                rss, pss = tree_memory_mib(process.pid)
                peak, peak_pss = max(peak, rss), max(peak_pss, pss)
                done.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        returncode = process.wait()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any waited-for child so far: meaningful when it grew.
    single = after / 1024 if after > before else 0.0
    return Run(seconds, peak, peak_pss, single, returncode)


def peer_venv(peer_dir: Path, cache_root: Path) -> Path:
    """Zircolite's virtual environment, built from its `requirements.txt` on first use and kept
    under `cache_root` (named by a digest of the requirements, so a change rebuilds it)."""
    requirements = peer_dir / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    venv = cache_root / f"zircolite-{digest}"
    python = venv / "bin" / "python"
    if (venv / ".complete").is_file() and python.is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv") or _repo_uv()
    if uv is not None:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)  # noqa: S603
        env = {**os.environ, "VIRTUAL_ENV": str(venv)}
        subprocess.run([uv, "pip", "install", "--quiet", "-r", str(requirements)], check=True, env=env)  # noqa: S603
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        pip = [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)]
        subprocess.run(pip, check=True)  # noqa: S603
    (venv / ".complete").write_text("ok\n", encoding="ascii")
    return python


def _repo_uv() -> str | None:
    candidate = Path(__file__).resolve().parents[1] / ".tools" / "bin" / "uv"
    return str(candidate) if candidate.is_file() else None


def replicate_file(source: Path, copies: int, target: Path) -> int:
    """`source` (JSON lines) repeated `copies` times into `target`; the number of events written."""
    lines = [line for line in source.read_bytes().splitlines() if line.strip()]
    with target.open("wb") as out:
        for _ in range(copies):
            out.write(b"\n".join(lines) + b"\n")
    return len(lines) * copies


def zircolite_matches(output: Path) -> int:
    """Events matched, summed over rules, in a Zircolite JSON result file."""
    try:
        results = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return -1
    return sum(int(r.get("count", 0)) for r in results if isinstance(r, dict))


def zircolite_rule_count(peer_dir: Path) -> int:
    """Rules in Zircolite's generic Windows rule set."""
    return len(json.loads((peer_dir / ZIRCOLITE_RULES).read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Setup:
    """What both sides need: the peer, its interpreter, datasoc's command line and a scratch dir."""

    peer_dir: Path
    peer_python: Path
    datasoc: tuple[str, ...]
    rule_dirs: tuple[Path, ...]
    rules: int
    cache_dir: Path
    scratch: Path


def _zircolite(setup: Setup, events: Path, out: Path) -> list[str]:
    peer = setup.peer_dir
    return [
        str(setup.peer_python),
        str(peer / "zircolite.py"),
        "--events",
        str(events),
        "--jsononly",
        "--ruleset",
        str(peer / ZIRCOLITE_RULES),
        "--config",
        str(peer / "config" / "config.yaml"),
        "--outfile",
        str(out),
        "--logfile",
        str(setup.scratch / "zircolite.log"),
        "--quiet",
    ]


def _datasoc(setup: Setup, events: Path) -> list[str]:
    rules = [str(d) for d in setup.rule_dirs]
    return [
        *setup.datasoc,
        "detect",
        "--rules",
        *rules,
        "--events",
        str(events),
        "--cache-dir",
        str(setup.cache_dir),
    ]


def cold_start(setup: Setup, events: Path) -> Run:
    """One datasoc run with an empty compiled-rule cache (fills it)."""
    shutil.rmtree(setup.cache_dir, ignore_errors=True)
    return timed(_datasoc(setup, events), cwd=setup.scratch, stdout=setup.scratch / "datasoc-cold.jsonl")


def compare(setup: Setup, label: str, events: Path, count: int, *, repeat: int) -> Comparison:
    """Alternate Zircolite and datasoc `repeat` times each on `events`."""
    peer_runs: list[Run] = []
    our_runs: list[Run] = []
    peer_out, our_out = setup.scratch / "zircolite.json", setup.scratch / "datasoc.jsonl"
    for _ in range(repeat):
        peer_out.unlink(missing_ok=True)
        peer_runs.append(
            timed(_zircolite(setup, events, peer_out), cwd=setup.scratch, stdout=setup.scratch / "z.out")
        )
        our_runs.append(timed(_datasoc(setup, events), cwd=setup.scratch, stdout=our_out))
    peer = Side(
        "zircolite", tuple(peer_runs), zircolite_matches(peer_out), zircolite_rule_count(setup.peer_dir)
    )
    with our_out.open("rb") as handle:
        ours_found = sum(1 for _ in handle)
    ours = Side("datasoc", tuple(our_runs), ours_found, setup.rules)
    return Comparison(label, count, peer, ours)
