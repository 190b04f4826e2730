"""Prometheus metrics of the network inputs: UDP drops, TCP pauses, throttled and denied requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collectors.inputs.backpressure import LagMonitor
from collectors.inputs.http import HttpIngest
from collectors.inputs.syslog import SyslogInput


class InputMetrics(Collector):
    """A custom collector over the live inputs (register it in a `CollectorRegistry`)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        http: HttpIngest | None = None,
        syslog: SyslogInput | None = None,
        lag: LagMonitor | None = None,
    ) -> None:
        self._clock = clock
        self._http = http
        self._syslog = syslog
        self._lag = lag

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
        if self._http is not None:
            denied = CounterMetricFamily("datasoc_ingest_auth_denied", "HTTP ingest requests refused (401).")
            denied.add_metric([], self._http.denied)
            yield denied
        if self._lag is not None:
            throttled = CounterMetricFamily(
                "datasoc_ingest_throttled", "HTTP ingest requests answered 429 for transport lag."
            )
            throttled.add_metric([], self._lag.rejections)
            yield throttled
            lag = GaugeMetricFamily("datasoc_transport_lag", "Events the slowest configured consumer lags.")
            lag.add_metric([], self._lag.lag(self._clock()))
            yield lag
