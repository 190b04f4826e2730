"""The composition root: settings in, the embedded platform's parts out, chosen once here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.checkpoint import CheckpointPolicy
from audit.entry import EntryDraft
from audit.ledger import Ledger
from crypto.keystore import KeyStore
from crypto.selftest import run_self_test
from datasoc.logging import get_logger
from datasoc.settings import Settings
from datasoc.state import StateStore
from datasoc.store import EventStore, PurgeReport, RetentionJob, SQLiteEventStore
from datasoc.transport import RetentionPolicy, RetentionReport, Spool, SpoolConfig, Transport
from soc_api.detector import Detector

# The collectors' inputs' wiring is a module of its own; its names stay importable from the root.
from soc_api.platform_inputs import collect_config as collect_config
from soc_api.platform_inputs import file_tails as file_tails
from soc_api.platform_inputs import inputs_enabled as inputs_enabled
from soc_api.platform_inputs import source_configs as source_configs

if TYPE_CHECKING:
    from soc_api.identity import IdentityConfig
    from soc_api.stream.cluster_job import ClusterJob
    from soc_api.stream.runner import StreamRunner
    from soc_api.webapi import ApiServices, CollectorView
    from soc_api.webapi.rulesview import EngineHealth

log = get_logger("platform")
#: The project's own rule pack, used when `detection.rules` is empty: inside an installed wheel
#: (`soc_api/bundled_rules`), else the checkout's `rules/`.
_WHEEL_RULES = Path(__file__).resolve().parent / "bundled_rules"
BUNDLED_RULES = _WHEEL_RULES if _WHEEL_RULES.is_dir() else Path(__file__).resolve().parents[1] / "rules"


@dataclass
class Platform:
    """The opened parts: transport (`spool`: the on-disk spool or Kafka, by `transport.backend`), event
    store, key store and audit ledger, and
    the detection engine chosen by `detection.engine`: exactly one of `stream` (the Flink job's
    runner, not yet started: `datasoc run` and `datasoc demo` start it) and `detector` is set."""

    settings: Settings
    #: The transport (named `spool` from when the spool was the only one).
    spool: Transport
    store: EventStore
    keys: KeyStore
    ledger: Ledger
    detector: Detector | None = None
    stream: StreamRunner | None = None
    #: The platform's own state (accounts, sessions, tokens): `data_dir/state.sqlite3`.
    state: StateStore | None = None
    #: The Kafka detection job on the cluster at `detection.jobmanager` (transport Kafka); then
    #: `stream` and `detector` are None.
    cluster_job: ClusterJob | None = None

    @classmethod
    def open(cls, settings: Settings, *, now: datetime) -> Platform:
        """Self-test the cryptography, then open spool, store, keys and ledger under `data_dir`.

        A failed self-test raises `CryptoSelfTestError` and nothing starts. The key store is
        created on first start (encrypted under `ledger.key_passphrase`).
        """
        run_self_test()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        keys = _open_keys(settings, now)
        spool = open_transport(settings)
        try:
            store = open_store(settings)
        except BaseException:
            spool.close()
            raise
        try:
            policy = checkpoint_policy(settings)
            ledger = Ledger.open(
                settings.resolve(settings.ledger.path),
                keys.signing_key,
                origin=settings.ledger.origin,
                policy=policy,
            )
        except BaseException:
            store.close()
            spool.close()
            raise
        _ledger_recovery(ledger, spool, now)
        try:
            state = open_state(settings, now)
        except BaseException:
            ledger.close()
            store.close()
            spool.close()
            raise
        # The one place the detection engine is chosen; both trace accesses against the store's grants.
        from soc_api.governance.usage import StoreGrants, UsageFile

        detector = (
            load_detector(
                settings, grants=StoreGrants(state), usage_file=UsageFile(grant_usage_path(settings))
            )
            if settings.detection.engine == "inprocess"
            else None
        )
        on_cluster = kafka_job_on_cluster(settings)
        stream = (
            load_stream(settings, spool, grants=StoreGrants(state))
            if settings.detection.engine == "flink" and not on_cluster
            else None
        )
        log.info(
            "platform_open",
            data_dir=str(settings.data_dir),
            transport=settings.transport.backend,
            store=settings.store.backend,
            detection=settings.detection.engine,
        )
        return cls(
            settings=settings,
            spool=spool,
            store=store,
            keys=keys,
            ledger=ledger,
            detector=detector,
            stream=stream,
            state=state,
            cluster_job=load_cluster_job(settings) if on_cluster else None,
        )

    def retention(self, now: datetime) -> tuple[PurgeReport, RetentionReport]:
        """Run both retention jobs: the store's (184-day floor outside development) and the spool's."""

        def ledger_purge(report: PurgeReport) -> None:
            # Every purge is itself audited (GB/T 22239-2019: audit records protected from deletion
            # without trace); an empty run is ledgered too, proving the job ran.
            draft = EntryDraft.create(
                now=now, kind="purge", actor="system:retention", subject="events", payload=report.to_dict()
            )
            self.ledger.append(draft, now=now)
            log.info("store_purged", **report.to_dict())

        job = RetentionJob(
            self.store,
            self.settings.store.retention_days,
            on_purge=ledger_purge,
            allow_short_retention=self.settings.mode == "development",
        )
        # Kafka's brokers delete by the topics' `retention.ms` themselves.
        spooled = self.spool.apply_retention(now) if isinstance(self.spool, Spool) else RetentionReport(())
        return job.run(now), spooled

    def close(self) -> None:
        """Close ledger, store, spool and the state store."""
        if self.state is not None:
            self.state.close()
        try:
            self.ledger.close()
        finally:
            try:
                self.store.close()
            finally:
                self.spool.close()


def open_transport(settings: Settings) -> Transport:
    """The one place the transport is chosen (`transport.backend`): the spool under `data_dir`, or
    Kafka (topics created when missing; `TransportUnavailableError` when no broker answers)."""
    t = settings.transport
    if t.backend == "kafka":
        from datasoc.transport import KafkaConfig, KafkaTransport

        config = KafkaConfig(
            bootstrap=t.bootstrap,
            topic_prefix=t.topic_prefix,
            group_prefix=t.group_prefix,
            replication=t.replication,
            retention_hours=t.retention_hours,
            delivery_timeout_s=t.delivery_timeout_seconds,
            request_timeout_s=t.request_timeout_seconds,
            security_protocol=t.security_protocol,
            sasl_mechanism=t.sasl_mechanism,
            username=t.username,
            password=t.password,
            ca_file=str(settings.resolve(t.ca_file)) if t.ca_file is not None else None,
        )
        return KafkaTransport(config)
    spool_config = SpoolConfig(
        segment_bytes=settings.spool.segment_bytes,
        retention=RetentionPolicy(
            max_age=timedelta(hours=settings.spool.retention_hours),
            max_bytes=settings.spool.retention_bytes,
        ),
    )
    return Spool.open(settings.data_dir / "spool", config=spool_config)


def open_store(settings: Settings) -> EventStore:
    """The one place the event store backend is chosen (`store.backend`)."""
    conf = settings.store
    if conf.backend == "sqlite":
        return SQLiteEventStore(settings.resolve(conf.path))
    from datasoc.store.search import (
        Connection,
        ElasticsearchEventStore,
        OpenSearchEventStore,
        SearchStoreConfig,
    )

    connection = Connection(
        urls=conf.urls,
        username=conf.username,
        password=conf.password,
        api_key=conf.api_key,
        verify_tls=conf.verify_tls,
        ca_file=settings.resolve(conf.ca_file) if conf.ca_file else None,
        timeout_s=conf.timeout_seconds,
    )
    config = SearchStoreConfig(
        connection=connection,
        index_prefix=conf.index_prefix,
        shards=conf.shards,
        replicas=conf.replicas,
        max_indices=conf.max_indices,
    )
    if conf.backend == "opensearch":
        return OpenSearchEventStore(config)
    return ElasticsearchEventStore(config)


def rule_roots(settings: Settings) -> list[Path]:
    """The configured rule files and directories (relative to the working directory, like --rules),
    or the bundled pack when none are configured."""
    return list(settings.detection.rules) or [BUNDLED_RULES]


def grant_usage_path(settings: Settings) -> Path:
    """Where the in-process detector keeps its cumulative records per grant."""
    return settings.data_dir / "detector" / "grant-usage.json"


def rule_cache_dir(settings: Settings) -> Path:
    """Where compiled rules are kept between starts (`detection.cache`): `data_dir/cache/rules`."""
    return settings.data_dir / "cache" / "rules"


def _rule_cache(settings: Settings) -> Any:
    """The compiled-rule cache under `data_dir` (None, logged, when it cannot be used safely)."""
    from detection.cache import CacheError, RuleCache

    try:
        return RuleCache(rule_cache_dir(settings), report=lambda line: log.warning("rule_cache", detail=line))
    except CacheError as exc:
        log.warning("rule_cache_unusable", error=str(exc))
        return None


def load_detector(settings: Settings, *, grants: Any = None, usage_file: Any = None) -> Detector:
    """Compile the configured rules once (through the compiled-rule cache); each rule that fails to
    load is logged, the rest run. With `grants` (a `soc_api.detector.GrantSource`) accesses are
    traced against them."""
    from detection.engine import RuleSet

    loaded = RuleSet.load(
        rule_roots(settings), pipeline=settings.detection.pipeline, cache=_rule_cache(settings)
    )
    if loaded.cache is not None:
        log.info("rule_cache", detail=loaded.cache.line())
    for error in loaded.errors:
        log.error("rule_rejected", error=str(error))
    log.info(
        "rules_loaded",
        rules=len(loaded.rules),
        correlations=len(loaded.correlations),
        rejected=len(loaded.errors),
    )
    return Detector(
        loaded,
        allowed_lateness=timedelta(seconds=settings.detection.allowed_lateness_seconds),
        grants=grants,
        usage_file=usage_file,
    )


def stream_dir(settings: Settings) -> Path:
    """Where the Flink job's state lives: input, rules, alerts, health, checkpoints and `log`."""
    return settings.data_dir / "stream"


def load_stream(settings: Settings, spool: Transport, *, grants: Any = None) -> StreamRunner:
    """The Flink job's runner over `spool`, configured from `[detection]` (the job is not started).

    Rule files are sent to the job as rule changes when it starts and on every tick; the job
    validates each rule and reports rejections in its health records (`StreamRunner.health`). With
    `grants`, grant changes reach the job the same way and it traces accesses against them. The
    job's processes compile rules through the compiled-rule cache under `data_dir`: they inherit its
    location from this process's environment (`DATASOC_RULE_CACHE`, read by `RuleSet.load`).
    """
    from detection.cache import ENVIRONMENT

    os.environ[ENVIRONMENT] = str(rule_cache_dir(settings))
    from detection.stream.config import StreamConfig
    from soc_api.stream.runner import StreamRunner

    d = settings.detection
    config = StreamConfig.under(
        stream_dir(settings),
        parallelism=d.parallelism,
        execution_mode=d.execution_mode,
        jobmanager=d.jobmanager,
        checkpoint_interval_ms=d.checkpoint_interval_ms,
        allowed_lateness_ms=round(d.allowed_lateness_seconds * 1000),
        pipeline=d.pipeline,
        trace_grants=grants is not None,
    )
    return StreamRunner(spool, config, [root.resolve() for root in rule_roots(settings)], grants=grants)


def kafka_job_on_cluster(settings: Settings) -> bool:
    """Whether detection is the Kafka job on a standalone cluster: the Flink engine with
    `detection.jobmanager` set, on the Kafka transport (nothing shared with the cluster but Kafka)."""
    d = settings.detection
    return d.engine == "flink" and d.jobmanager is not None and settings.transport.backend == "kafka"


def load_cluster_job(settings: Settings) -> ClusterJob:
    """The Kafka job's supervisor over the configured rules (not started; see
    `soc_api.stream.cluster_job.for_settings`)."""
    from soc_api.stream.cluster_job import for_settings

    return for_settings(settings, [root.resolve() for root in rule_roots(settings)], stream_dir(settings))


def _ledger_recovery(ledger: Ledger, transport: Transport, now: datetime) -> None:
    """Log and ledger what crash recovery cut on open (never silent): torn tails of both logs."""
    report = ledger.store.report
    repairs = transport.repairs if isinstance(transport, Spool) else ()
    cut = {
        "ledger_entries_bytes": report.torn_tail_bytes,
        "ledger_checkpoint_bytes": report.torn_checkpoint_bytes,
        "spool": [
            {"topic": r.topic, "path": str(r.path), "position": r.position, "cut_bytes": r.cut_bytes}
            for r in repairs
        ],
    }
    if report.torn_tail_bytes or report.torn_checkpoint_bytes or repairs:
        log.warning("torn_tail_cut", **cut)
        draft = EntryDraft.create(
            now=now, kind="ledger.torn_tail", actor="system", subject="recovery", payload=cut
        )
        ledger.append(draft, now=now)


def checkpoint_policy(settings: Settings) -> CheckpointPolicy:
    """When the ledger signs its checkpoints (`[ledger]`)."""
    ledger = settings.ledger
    return CheckpointPolicy(ledger.checkpoint_every, ledger.checkpoint_seconds, ledger.checkpoint_min_seconds)


def open_state(settings: Settings, now: datetime) -> StateStore:
    """The state store under `data_dir`, migrated to this code's schemas."""
    from soc_api.alerting import MIGRATIONS as ALERTING_MIGRATIONS
    from soc_api.governance import GOVERNANCE_MIGRATIONS
    from soc_api.identity import MIGRATIONS

    state = StateStore.open(settings.data_dir / "state.sqlite3", cache_mib=settings.platform.state_cache_mib)
    try:
        state.migrate((*MIGRATIONS, *GOVERNANCE_MIGRATIONS, *ALERTING_MIGRATIONS), now=lambda: now)
    except BaseException:
        state.close()
        raise
    return state


def identity_config(settings: Settings) -> IdentityConfig:
    """Password, lockout and session policies from `[api]`."""
    from soc_api.identity import IdentityConfig
    from soc_api.identity.lockout import LockoutPolicy
    from soc_api.identity.passwords import PasswordPolicy
    from soc_api.identity.sessions import SessionPolicy

    a = settings.api
    return IdentityConfig(
        passwords=PasswordPolicy(
            min_length=a.password_min_length, min_classes=a.password_min_classes, history=a.password_history
        ),
        lockout=LockoutPolicy(
            threshold=a.lockout_threshold,
            base=timedelta(seconds=a.lockout_base_seconds),
            cap=timedelta(seconds=a.lockout_cap_seconds),
        ),
        sessions=SessionPolicy(
            idle=timedelta(minutes=a.session_idle_minutes), absolute=timedelta(hours=a.session_absolute_hours)
        ),
    )


def api_services(
    platform: Platform, *, clock: Any, new_id: Any, collector: CollectorView | None = None
) -> ApiServices:
    """The API's services over the open platform: identity audited into its ledger."""
    from collectors.inputs.tokens import hash_token
    from soc_api.governance import Governance
    from soc_api.governance.usage import LedgerFigures
    from soc_api.identity import Identity
    from soc_api.identity.audit import LedgerAudit
    from soc_api.webapi import ApiConfig, ApiServices

    assert platform.state is not None
    settings = platform.settings
    audit = LedgerAudit(platform.ledger, platform.state, clock)
    identity = Identity.build(platform.state, audit, platform.keys, identity_config(settings))
    scrape = settings.api.scrape_token
    config = ApiConfig(
        cookie_secure=settings.api.cookie_secure,
        trusted_proxies=frozenset(settings.api.trusted_proxies),
        scrape_token_digest=hash_token(scrape.get_secret_value()) if scrape is not None else None,
    )
    # Channels hold secrets and robots' URLs hold their tokens: listed by the notifications API only.
    view = settings.model_dump(
        mode="json",
        exclude={
            "api": {"secret_key", "scrape_token"},
            "ledger": {"key_passphrase"},
            "alerting": {"channel"},
        },
    )
    from soc_api.alerting.cases import Cases
    from soc_api.alerting.runtime import alerting_service, push_key

    public = push_key(settings).public_key_pem() if settings.alerting.channel else None
    alerting = alerting_service(settings, platform.state, identity.audit, new_id=new_id, public_key=public)
    from soc_api.webapi.console import STATIC_DIR
    from soc_api.webapi.rulesview import RulesView

    return ApiServices(
        identity=identity,
        config=config,
        events=platform.store,
        collector=collector,
        ledger=platform.ledger,
        signer=platform.keys.signing_key,
        alerting=alerting,
        cases=Cases(platform.state, identity.audit, new_id=new_id),
        settings_view=view,
        governance=Governance.build(platform.state, audit, trail=LedgerFigures(platform.ledger)),
        rules=RulesView(tuple(rule_roots(settings)), lambda: engine_health(platform)),
        console_dir=STATIC_DIR if (STATIC_DIR / "index.html").is_file() else None,
        clock=clock,
        new_id=new_id,
    )


def engine_health(platform: Platform) -> EngineHealth:
    """Per-rule figures and refused rule files of the engine `detection.engine` chose."""
    from soc_api.service import rules_not_running
    from soc_api.webapi.rulesview import EngineHealth, RuleFigures

    rejected = rules_not_running(platform)
    if platform.stream is not None:
        totals: dict[str, list[int]] = {}
        for lane in platform.stream.health.rules.values():  # per lane: rule -> [matches, ns, errors]
            for ref, (matches, nanos, errors) in lane.items():
                total = totals.setdefault(ref, [0, 0, 0])
                total[0], total[1], total[2] = total[0] + matches, total[1] + nanos, total[2] + errors
        figures = {r: RuleFigures(matches=m, nanos=n, errors=e) for r, (m, n, e) in totals.items()}
        return EngineHealth("flink", platform.stream.progress, figures, rejected)
    if platform.cluster_job is not None:  # its per-rule figures stay in the TaskManagers' log
        return EngineHealth("flink-cluster", None, {}, rejected)
    if platform.detector is None:
        return EngineHealth("none", None, {}, rejected)
    found = platform.detector.loop.figures
    figures = {r: RuleFigures(matches=f.matches, nanos=f.nanos, errors=f.errors) for r, f in found.items()}
    return EngineHealth("inprocess", None, figures, rejected)


def open_keys(settings: Settings, now: datetime) -> KeyStore:
    """The key store under `ledger.keys_path`, created on first use."""
    return _open_keys(settings, now)


def _open_keys(settings: Settings, now: datetime) -> KeyStore:
    path = settings.resolve(settings.ledger.keys_path)
    passphrase = settings.ledger.key_passphrase.get_secret_value().encode("utf-8")
    if path.exists() and any(path.iterdir()):
        return KeyStore.open(path, passphrase)
    log.info("keystore_created", path=str(path))
    return KeyStore.create(path, passphrase, now=now)
