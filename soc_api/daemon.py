"""The running platform: the one composition root of `datasoc run`, `collect`, `stream` and `demo`.

`Daemon.open(settings, roles=...)` opens the embedded parts (`Platform.open`), assembles the governance
services (the catalog and grants every parser enriches from and the engines trace against; the
governance files of `[governance]`, if any, are imported into the store first), and builds the
supervised steps the roles ask for; `start()`
starts the detection job and the steps; `serve(stop)` runs the network inputs until `stop`;
`close()` stops the steps within `platform.stop_timeout_seconds`, cancels the job (its checkpoints
stay) and closes the parts. Each command picks its roles; nothing else differs between them, so
what the demo shows is what a deployment does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from audit.entry import EntryDraft
from collectors.enrichment import EnrichmentSource
from collectors.health import HealthTracker
from collectors.inputs.delivery import SharedHealth
from collectors.security import SecurityEvents
from collectors.sink import TransportSink
from datasoc.logging import get_logger
from datasoc.settings import Settings
from soc_api import catchup
from soc_api.catchup import JOB_WAIT as JOB_WAIT
from soc_api.catchup import CatchUpTimeoutError as CatchUpTimeoutError
from soc_api.detector import DetectReport
from soc_api.governance import Governance
from soc_api.governance.enrichment import GovernanceFileImports, StoreEnrichment
from soc_api.governance.proposals import ProposalConsumer
from soc_api.governance.usage import LedgerFigures, StoreGrants
from soc_api.identity.audit import LedgerAudit
from soc_api.indexer import Indexer
from soc_api.platform import Platform, collect_config, file_tails, inputs_enabled, source_configs
from soc_api.steps import (
    CallStep,
    CheckpointStep,
    ClusterDetectionStep,
    GapPolicy,
    IndexStep,
    InProcessDetectionStep,
    RetentionStep,
    StreamDetectionStep,
    TailStep,
    TrailStep,
)
from soc_api.supervisor import Readiness, Step, Supervisor
from soc_api.trail import Trail

if TYPE_CHECKING:
    from soc_api.alerting.runtime import AlertingSteps

log = get_logger("daemon")


@dataclass(frozen=True)
class Roles:
    """Which parts a command runs; `run` and `demo` run all of them."""

    inputs: bool = True
    consumers: bool = True
    detection: bool = True
    #: The API for people and machines on `api.port` (`datasoc run`; not the demo or a collector).
    api: bool = True

    @classmethod
    def collector(cls, *, index: bool) -> Roles:
        """`datasoc collect`: the inputs, and with `--index` the consumers but not detection."""
        return cls(inputs=True, consumers=index, detection=False, api=False)

    @classmethod
    def stream(cls) -> Roles:
        """`datasoc stream`: detection only."""
        return cls(inputs=False, consumers=False, detection=True, api=False)


class Daemon:
    """See the module docstring."""

    def __init__(
        self,
        platform: Platform,
        *,
        roles: Roles,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
    ) -> None:
        settings = platform.settings
        self.platform = platform
        self.roles = roles
        self.clock = clock
        self.new_id = new_id
        # Validated before anything runs: a bad [collect] table stops start-up with its key named.
        self.inputs = (
            collect_config(settings, platform.state)
            if roles.inputs and inputs_enabled(settings.collect)
            else None
        )
        window = self.inputs[0].security_window if self.inputs is not None else timedelta(seconds=60)
        # One security queue the listeners push into and a step drains into the ledger, and one
        # health tracker for every source (network inputs, file tails, evtx folders).
        self.security = SecurityEvents(window=window)
        self.health = SharedHealth(HealthTracker(source_configs(settings)))
        self._gap = GapPolicy(platform.ledger)
        self.governance = open_governance(platform, clock)
        self.governance_files = governance_files(settings, self.governance)
        self.governance_files.refresh(clock())  # a missing or bad file refuses the start, naming it
        self.store_enrichment = StoreEnrichment(self.governance.catalog, self.governance.grants)
        self.enrichment: EnrichmentSource = self.store_enrichment
        self._detect_lock = threading.Lock()
        self.alerting: AlertingSteps | None = None
        self.steps = self._steps(settings)
        self.supervisor = Supervisor(list(self.steps.values()), clock=clock)
        self._detection_started = False

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        roles: Roles = Roles(),
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
    ) -> Daemon:
        """Open the parts and build the steps (nothing runs yet); closes what it opened on failure."""
        platform = Platform.open(settings, now=clock())
        try:
            return cls(platform, roles=roles, clock=clock, new_id=new_id)
        except BaseException:
            platform.close()
            raise

    # -- assembly ---------------------------------------------------------------------------------

    def _steps(self, settings: Settings) -> dict[str, Step]:
        platform = self.platform
        p = settings.platform
        bound, interval = p.lag_bound, p.step_interval_seconds
        steps: dict[str, Step] = {}
        if self.roles.inputs and (settings.collect.tail or settings.collect.evtx):
            sink = TransportSink(platform.spool)
            tails = file_tails(settings, sink, health=self.health, enrichment=self.enrichment)
            steps["tail"] = TailStep(tails, self.new_id, interval=max(interval, 0.5))
        if self.roles.consumers:
            indexer = Indexer(platform.spool, platform.store, on_gap=self._gap)
            steps["indexer"] = IndexStep(indexer, interval=interval, lag_bound=bound)
            assert platform.state is not None
            trail = Trail(
                platform.spool,
                platform.ledger,
                platform.keys.sealing_key,
                on_gap=self._gap,
                grants=StoreGrants(platform.state),
            )
            steps["trail"] = TrailStep(trail, interval=interval, lag_bound=bound)
            proposals = ProposalConsumer(platform.spool, self.governance.catalog, on_gap=self._gap)
            steps["proposals"] = CallStep(
                "proposals", lambda now: proposals.run(now=now, max_batches=20).read
            )
        if self.roles.detection:
            if platform.cluster_job is not None:
                steps["detection"] = ClusterDetectionStep(
                    platform.cluster_job, platform.spool, interval=max(interval, 1.0), lag_bound=bound
                )
            elif platform.stream is not None:
                steps["detection"] = _Locked(
                    StreamDetectionStep(platform, interval=interval, lag_bound=bound), self._detect_lock
                )
            elif platform.detector is not None:
                step = InProcessDetectionStep(
                    platform.detector, platform.spool, self._gap, interval=interval, lag_bound=bound
                )
                steps["detection"] = _Locked(step, self._detect_lock)
        if self.roles.consumers and settings.alerting.enabled and platform.state is not None:
            from soc_api.alerting.runtime import alerting_steps

            # Alert store, notifier, SLA timers and bulletins; each wakes the notifier when it
            # wrote notifications into the outbox.
            self.alerting = alerting_steps(
                platform,
                clock=self.clock,
                on_gap=self._gap,
                wake=self._wake,
                interval=interval,
                lag_bound=bound,
            )
            steps.update(self.alerting.steps)
        if self.roles.consumers or self.roles.inputs:
            steps["security"] = CallStep("security", self._ledger_security_events, interval=1.0)
            # CLI commands audit into the state store's outbox while this process holds the ledger.
            steps["audit_outbox"] = CallStep("audit_outbox", self._drain_audit_outbox, interval=1.0)
            steps["checkpoint"] = CheckpointStep(platform.ledger)
        if self.roles.inputs:
            steps["silence"] = CallStep("silence", self._silence, interval=5.0)
        if self.roles.consumers:
            every = timedelta(seconds=p.retention_every_seconds)
            idle = min(60.0, every.total_seconds())
            steps["retention"] = RetentionStep(platform, every=every, interval=idle)
        if self.roles.consumers or self.roles.inputs:
            steps["governance"] = CallStep("governance", self._governance_round, interval=1.0)
        return steps

    def _wake(self, name: str) -> None:
        if name in self.steps:
            self.supervisor.wake(name)

    def _ledger_security_events(self, now: datetime, *, final: bool = False) -> int:
        """Ledger the security summaries due at `now` (every open one when `final`): one entry per
        peer, kind and window ("N denials from peer P between T1 and T2"), never one per request."""
        drafts = [
            EntryDraft.create(now=now, kind=s.kind, actor=s.actor, subject=s.subject, payload=s.payload())
            for s in self.security.drain(now, final=final)
        ]
        if drafts:
            self.platform.ledger.append_many(drafts, now=now)
        return len(drafts)

    def _drain_audit_outbox(self, now: datetime) -> int:
        from soc_api.identity.audit import drain_outbox

        assert self.platform.state is not None
        return drain_outbox(self.platform.state, self.platform.ledger, now=now)

    def _silence(self, now: datetime) -> int:
        from soc_api.api.server import raise_silence_alerts

        return raise_silence_alerts(self.platform.spool, self.health, now)

    def _governance_round(self, now: datetime) -> int:
        """Import changed governance files, expire grants whose window is over, and hand the parsers the
        current catalog and grants."""
        done = self.governance_files.refresh(now)
        if self.roles.consumers:
            expired = self.governance.grants.expire_due(now)
            if expired:
                log.info("grants_expired", grants=expired)
            done += len(expired)
        if self.store_enrichment.refresh():
            log.info("governance_reloaded", reloads=self.store_enrichment.reloads)
            done += 1
        return done

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the detection job (resumed from its last checkpoint), then every step's thread."""
        self.start_detection()
        self.supervisor.start()
        log.info("platform_started", steps=list(self.steps))

    def start_detection(self) -> None:
        """Start the Flink job if that is the engine (a no-op otherwise, or when already started)."""
        cluster = self.platform.cluster_job
        if cluster is not None and self.roles.detection and not self._detection_started:
            job_id = cluster.start(now=self.clock())  # None: not started yet, the step retries
            self._detection_started = True
            log.info("detection_job_started", job_id=job_id, submitted=cluster.submitted_here)
            return
        stream = self.platform.stream
        if stream is None or not self.roles.detection or self._detection_started:
            return
        with self._detect_lock:
            started = stream.start(resume=True)
        self._detection_started = True
        if stream.skipped_checkpoint is not None:
            log.warning(
                "detection_state_layout_changed",
                skipped_checkpoint=str(stream.skipped_checkpoint),
                detail="the job starts without state and evaluates every retained event again",
            )
        log.info(
            "detection_job_started",
            restored_from=started.restore_from,
            jobmanager=started.jobmanager or "embedded",
            parallelism=started.parallelism,
            execution_mode=started.execution_mode,
        )

    def readiness(self) -> Readiness:
        """The steps' readiness (served at `/readyz`)."""
        return self.supervisor.readiness()

    async def serve(self, stop: asyncio.Event, *, on_ready: Callable[[dict[str, Any]], None]) -> None:
        """Run the API (`api.port`, role `api`) and the network inputs of `[collect]` until `stop` is set
        (SIGINT/SIGTERM set it); one ready call with every bound address."""
        from soc_api.api.server import run_collector
        from soc_api.webapi.server import start_api

        settings = self.platform.settings
        addresses: dict[str, Any] = {}
        api = None
        if self.roles.api and settings.api.port is not None:
            api = await start_api(self.platform, stop=stop, clock=self.clock, new_id=self.new_id)
            addresses["api"] = api.address
        try:
            if self.inputs is None:
                on_ready(addresses)
                await stop.wait()
                return
            inputs, ssl_context = self.inputs
            await run_collector(
                self.platform.spool,
                inputs,
                stop=stop,
                clock=self.clock,
                new_id=self.new_id,
                on_ready=lambda found: on_ready({**addresses, **found}),
                security=self.security,
                health=self.health,
                ssl_context=ssl_context,
                enrichment=self.enrichment,
                readiness=self.readiness,
                check_silence=False,
                expose=api.expose if api is not None else None,
            )
        finally:
            if api is not None:
                stop.set()
                await api.stopped()

    def close(self) -> None:
        """Stop the steps (bounded), cancel the job (checkpoints stay), close the parts."""
        late = self.supervisor.stop(self.platform.settings.platform.stop_timeout_seconds)
        if self.alerting is not None:
            self.alerting.close()
        if "security" in self.steps and "security" not in late:
            try:
                self._ledger_security_events(self.clock(), final=True)  # what the last window held
            except Exception as exc:  # the ledger failing now: logged, the process is ending
                log.error("security_events_not_ledgered", error=str(exc)[:300])
        try:
            cluster = self.platform.cluster_job
            if cluster is not None and self._detection_started:
                try:
                    cluster.stop()  # cancels only a job this process submitted
                except Exception as exc:  # the cluster gone: its job is its own now
                    log.error(
                        "detection_job_stop_failed", error=str(exc)[:500], error_type=type(exc).__name__
                    )
            stream = self.platform.stream
            if stream is not None and self._detection_started:
                try:
                    stream.stop()
                except Exception as exc:  # PyFlink raises plain exceptions (a failed job refuses cancel)
                    log.error(
                        "detection_job_stop_failed", error=str(exc)[:500], error_type=type(exc).__name__
                    )
                log.info("detection_job_stopped", progress=stream.progress)
        finally:
            if late:
                # A step still inside its round holds the store or ledger: closing under it could
                # tear a write. Its round is abandoned with the process; the next start resumes.
                log.error("platform_closed_with_steps_running", steps=late)
            else:
                self._sign_tail()
                self.platform.close()

    def _sign_tail(self) -> None:
        """A clean stop leaves every ledger entry under a signed checkpoint (nothing `UNPROVEN`)."""
        from audit.errors import AuditError

        try:
            self.platform.ledger.checkpoint_tail(now=self.clock())
        except AuditError as exc:  # e.g. a checkpoint signed at this very instant, or the disk failing
            log.warning("ledger_tail_not_signed_at_stop", error=str(exc)[:300])

    # -- waiting (demo, `run --once`; see `soc_api.catchup`) ---------------------------------------

    def wait_caught_up(
        self, clock: Callable[[], datetime], sleep: Callable[[float], None], *, timeout: timedelta = JOB_WAIT
    ) -> None:
        """Wait until every consumer has processed every event now in the spool: indexed, traced,
        and evaluated by detection with its alerts committed. Raises `CatchUpTimeoutError`."""
        catchup.wait_caught_up(
            self.supervisor, self.steps, self.platform.spool, clock, sleep, timeout=timeout
        )

    def settle_alerts(
        self, clock: Callable[[], datetime], sleep: Callable[[float], None], *, timeout: timedelta = JOB_WAIT
    ) -> bool:
        """Wait until the alert store has taken in every committed alert and the outbox has nothing
        pending (demo, tests); False when `timeout` passed first (a receiver down: retries go on)."""
        if self.alerting is None:
            return True
        assert self.platform.state is not None  # alerting runs only over a state store
        spool, state = self.platform.spool, self.platform.state
        return catchup.settle_alerts(
            self.supervisor, self.alerting, spool, state, clock, sleep, timeout=timeout
        )

    def drain(
        self, clock: Callable[[], datetime], sleep: Callable[[float], None], *, timeout: timedelta = JOB_WAIT
    ) -> DetectReport:
        """End of input (demo): close every open correlation window and wait until the alerts that
        raised are committed. The job's event time is at its end afterwards."""
        return catchup.drain(self.platform, self._detect_lock, clock, sleep, timeout=timeout)


@dataclass
class _Locked:
    """A step whose rounds hold a lock (so `drain` can flush the engine between two rounds)."""

    step: Step
    lock: threading.Lock

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def interval(self) -> float:
        return self.step.interval

    @property
    def lag_bound(self) -> int | None:
        return self.step.lag_bound

    def run(self, now: datetime) -> Any:
        with self.lock:
            return self.step.run(now)


def open_governance(platform: Platform, clock: Callable[[], datetime]) -> Governance:
    """The governance services over the platform's state store, audited into its ledger."""
    assert platform.state is not None
    audit = LedgerAudit(platform.ledger, platform.state, clock)
    return Governance.build(platform.state, audit, trail=LedgerFigures(platform.ledger))


def governance_files(settings: Settings, governance: Governance) -> GovernanceFileImports:
    """The `[governance]` files (none, one or both), imported into the store on change."""
    g = settings.governance
    return GovernanceFileImports(
        governance.catalog,
        governance.grants,
        settings.resolve(g.catalog) if g.catalog else None,
        settings.resolve(g.approvals) if g.approvals else None,
    )


class ServingThread:
    """`Daemon.serve` on an event loop of its own thread (the demo feeds it from the main thread)."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="serve", daemon=True)
        self.addresses: dict[str, Any] = {}
        self.error: BaseException | None = None

    def start(self, timeout: float = 60.0) -> dict[str, Any]:
        """Start serving; return the bound addresses once the inputs listen."""
        self._thread.start()
        if not self._ready.wait(timeout) or self.error is not None:
            raise RuntimeError(f"the inputs did not start: {self.error!r}")
        return self.addresses

    def _main(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(addresses: dict[str, Any]) -> None:
                self.addresses = addresses
                self._ready.set()

            await self._daemon.serve(self._stop, on_ready=ready)

        try:
            asyncio.run(serve())
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving and wait for the loop to end."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():  # never started when what came before it failed
            self._thread.join(timeout)
