"""The composition root: settings in, the embedded platform's parts out, chosen once here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crypto.selftest import run_self_test
from datasoc.logging import get_logger
from datasoc.settings import Settings
from datasoc.store import EventStore, PurgeReport, RetentionJob, SQLiteEventStore
from datasoc.transport import RetentionPolicy, RetentionReport, Spool, SpoolConfig

log = get_logger("platform")


@dataclass
class Platform:
    """The opened embedded parts: spool (transport) and event store."""

    settings: Settings
    spool: Spool
    store: EventStore

    @classmethod
    def open(cls, settings: Settings) -> Platform:
        """Self-test the cryptography, then open spool and store under `data_dir`.

        A failed self-test raises `CryptoSelfTestError` and nothing starts.
        """
        run_self_test()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        config = SpoolConfig(
            segment_bytes=settings.spool.segment_bytes,
            retention=RetentionPolicy(
                max_age=timedelta(hours=settings.spool.retention_hours),
                max_bytes=settings.spool.retention_bytes,
            ),
        )
        spool = Spool.open(settings.data_dir / "spool", config=config)
        try:
            # The one place the store backend is chosen; OpenSearch/Elasticsearch join here later.
            store: EventStore = SQLiteEventStore(settings.resolve(settings.store.path))
        except BaseException:
            spool.close()
            raise
        for repair in spool.repairs:
            log.warning("spool_tail_cut", topic=repair.topic, position=repair.position, reason=repair.reason)
        log.info("platform_open", data_dir=str(settings.data_dir), store=settings.store.backend)
        return cls(settings=settings, spool=spool, store=store)

    def retention(self, now: datetime) -> tuple[PurgeReport, RetentionReport]:
        """Run both retention jobs: the store's (184-day floor outside development) and the spool's."""
        job = RetentionJob(
            self.store,
            self.settings.store.retention_days,
            on_purge=lambda report: log.info("store_purged", **report.to_dict()),
            allow_short_retention=self.settings.mode == "development",
        )
        return job.run(now), self.spool.apply_retention(now)

    def close(self) -> None:
        """Close store and spool (store first: it holds no spool state)."""
        try:
            self.store.close()
        finally:
            self.spool.close()
