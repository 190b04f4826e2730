"""Prometheus metrics of the network inputs: UDP drops, TCP pauses, throttled and denied requests,
connections open and refused per listener, requests cut off by a deadline, security events."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collectors.inputs.backpressure import LagMonitor
from collectors.inputs.guard import ConnectionGuard
from collectors.inputs.http import HttpIngest
from collectors.inputs.syslog import SyslogInput
from collectors.security import SecurityEvents


class InputMetrics(Collector):
    """A custom collector over the live inputs (register it in a `CollectorRegistry`)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        http: HttpIngest | None = None,
        syslog: SyslogInput | None = None,
        lag: LagMonitor | None = None,
        guards: Callable[[], Mapping[str, ConnectionGuard]] | None = None,
        protocol: Any = None,
        security: SecurityEvents | None = None,
    ) -> None:
        self._clock = clock
        self._http = http
        self._syslog = syslog
        self._lag = lag
        self._guards = guards
        self._protocol = protocol
        self._security = security

    def collect(self) -> Iterator[Metric]:
        """Yield the current counters."""
        if self._syslog is not None:
            stats = self._syslog.stats
            udp = CounterMetricFamily("datasoc_syslog_udp_datagrams", "UDP syslog datagrams received.")
            udp.add_metric([], stats.udp_datagrams)
            yield udp
            drops = CounterMetricFamily(
                "datasoc_syslog_udp_dropped", "UDP syslog datagrams dropped, by cause.", labels=["cause"]
            )
            drops.add_metric(["overload"], stats.udp_overload_drops)
            kernel = self._syslog.kernel_drops()
            if kernel is not None:
                drops.add_metric(["kernel"], kernel)
            yield drops
            pauses = CounterMetricFamily(
                "datasoc_syslog_tcp_read_pauses", "Times a TCP/TLS connection stopped reading for lag."
            )
            pauses.add_metric([], stats.tcp_read_pauses)
            yield pauses
            rejected = CounterMetricFamily("datasoc_syslog_frames_rejected", "Syslog frames dead-lettered.")
            rejected.add_metric([], stats.frames_rejected)
            yield rejected
            timeouts = CounterMetricFamily(
                "datasoc_syslog_timeouts", "Syslog connections closed by a deadline.", labels=["cause"]
            )
            timeouts.add_metric(["frame"], stats.frame_timeouts)
            timeouts.add_metric(["idle"], stats.idle_timeouts)
            yield timeouts
            retries = CounterMetricFamily(
                "datasoc_syslog_storage_retries",
                "Syslog deliveries retried because the spool refused writes.",
            )
            retries.add_metric([], stats.storage_retries)
            yield retries
        if self._http is not None:
            denied = CounterMetricFamily("datasoc_ingest_auth_denied", "HTTP ingest requests refused (401).")
            denied.add_metric([], self._http.denied)
            yield denied
            busy = CounterMetricFamily("datasoc_ingest_busy", "HTTP ingest requests answered 503: no slot.")
            busy.add_metric([], self._http.busy)
            yield busy
            failures = CounterMetricFamily(
                "datasoc_ingest_storage_failures", "Deliveries the spool refused (disk full, failed fsync)."
            )
            failures.add_metric([], self._http.delivery.failures)
            yield failures
            if self._http.throttle is not None:
                throttled = CounterMetricFamily(
                    "datasoc_ingest_auth_throttled", "HTTP ingest requests answered 429 for failed logins."
                )
                throttled.add_metric([], self._http.throttle.throttled)
                yield throttled
        if self._lag is not None:
            throttled = CounterMetricFamily(
                "datasoc_ingest_throttled", "HTTP ingest requests answered 429 for transport lag."
            )
            throttled.add_metric([], self._lag.rejections)
            yield throttled
            lag = GaugeMetricFamily("datasoc_transport_lag", "Events the slowest configured consumer lags.")
            lag.add_metric([], self._lag.lag(self._clock()))
            yield lag
        yield from self._listener_metrics()

    def _listener_metrics(self) -> Iterator[Metric]:
        if self._guards is not None:
            guards = self._guards()
            open_ = GaugeMetricFamily(
                "datasoc_listener_connections", "Connections open per listener.", labels=["listener"]
            )
            refused = CounterMetricFamily(
                "datasoc_listener_refused",
                "Connections refused at accept, by cap.",
                labels=["listener", "cap"],
            )
            for name, guard in sorted(guards.items()):
                open_.add_metric([name], guard.open)
                refused.add_metric([name, "listener"], guard.stats.refused_listener_full)
                refused.add_metric([name, "peer"], guard.stats.refused_peer_full)
            yield open_
            yield refused
        if self._protocol is not None:
            cut = CounterMetricFamily(
                "datasoc_http_requests_cut",
                "HTTP requests ended by a deadline or h11 error.",
                labels=["cause"],
            )
            cut.add_metric(["header_timeout"], self._protocol.header_timeouts)
            cut.add_metric(["body_timeout"], self._protocol.body_timeouts)
            cut.add_metric(["protocol_error"], self._protocol.protocol_errors)
            yield cut
        if self._security is not None:
            pushed = CounterMetricFamily(
                "datasoc_security_events", "Security events pushed by the listeners."
            )
            pushed.add_metric([], self._security.pushed)
            yield pushed
            overflow = CounterMetricFamily(
                "datasoc_security_events_overflowed", "Security events counted only in the overflow summary."
            )
            overflow.add_metric([], self._security.overflowed)
            yield overflow
