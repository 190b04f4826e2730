"""Which log an event comes from, in Sigma's terms (`logsource`: product, service, category). Pure.

A Sigma rule names the logs it applies to (Sigma specification, "Log Source"); the engine evaluates a
rule only on events of that logsource (`detection.logsource`). This module is the one place both
sides read what an event's logsource is, so the parsers (which set it) and detection (which routes
on it) agree:

- Normalized events carry it in three fields set by their parser: `datasoc.logsource.product`
  (`datasoc`), `datasoc.logsource.service` (the parser's source: `apigw`, `database`, `host`,
  `provider`, `windows`) and `datasoc.logsource.category` (from the event's action:
  `authentication`, `data_access`, `audit_config`, `iam`, `process_creation`).
- Windows events (a `Channel` and an `EventID`, flat as `datasoc.winevent.flatten` makes them, or
  kept native beside the normalized fields) are also product `windows`, with the services and
  categories that pySigma's Windows logsource, Sysmon and Windows audit pipelines map to their
  channel and event id: the tables below are that mapping (`tests/detection/test_logsource.py`
  derives it again from the installed pipelines and must find the same).

Names are lower case; channels are compared lower-cased (the pipelines' conditions are
case-insensitive Sigma strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

PRODUCT_FIELD: Final = "datasoc.logsource.product"
SERVICE_FIELD: Final = "datasoc.logsource.service"
CATEGORY_FIELD: Final = "datasoc.logsource.category"
#: The fields a Windows event is recognised by: an event id and a channel (or, for ETW trace
#: records whose channel is null, a provider).
CHANNEL_FIELD: Final = "Channel"
EVENT_ID_FIELD: Final = "EventID"
PROVIDER_FIELD: Final = "Provider_Name"

#: The product of every normalized event a datasoc parser writes.
DATASOC_PRODUCT: Final = "datasoc"
#: Services of product `datasoc`: one per kind of source a parser reads.
DATASOC_SERVICES: Final[frozenset[str]] = frozenset({"apigw", "database", "host", "provider", "windows"})
#: Categories of product `datasoc` (from the event's action, `collectors.parsers.logsource`).
DATASOC_CATEGORIES: Final[frozenset[str]] = frozenset(
    {"authentication", "data_access", "audit_config", "iam", "process_creation"}
)

WINDOWS_PRODUCT: Final = "windows"
_SYSMON: Final = "microsoft-windows-sysmon/operational"
_POWERSHELL: Final = ("microsoft-windows-powershell/operational", "powershellcore/operational")

#: Windows service -> the channels it names (pySigma `windows_logsource_pipeline`, lower-cased).
WINDOWS_SERVICE_CHANNELS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "security": ("security",),
        "application": ("application",),
        "system": ("system",),
        "sysmon": (_SYSMON,),
        "powershell": _POWERSHELL,
        "powershell-classic": ("windows powershell",),
        "taskscheduler": ("microsoft-windows-taskscheduler/operational",),
        "wmi": ("microsoft-windows-wmi-activity/operational",),
        "dns-server": ("dns server",),
        "dns-server-audit": ("microsoft-windows-dns-server/audit",),
        "dns-server-analytic": ("microsoft-windows-dns-server/analytical",),
        "driver-framework": ("microsoft-windows-driverframeworks-usermode/operational",),
        "ntlm": ("microsoft-windows-ntlm/operational",),
        "dhcp": ("microsoft-windows-dhcp-server/operational",),
        "msexchange-management": ("msexchange management",),
        "applocker": (
            "microsoft-windows-applocker/msi and script",
            "microsoft-windows-applocker/exe and dll",
            "microsoft-windows-applocker/packaged app-deployment",
            "microsoft-windows-applocker/packaged app-execution",
        ),
        "printservice-admin": ("microsoft-windows-printservice/admin",),
        "printservice-operational": ("microsoft-windows-printservice/operational",),
        "codeintegrity-operational": ("microsoft-windows-codeintegrity/operational",),
        "smbclient-security": ("microsoft-windows-smbclient/security",),
        "firewall-as": ("microsoft-windows-windows firewall with advanced security/firewall",),
        "bits-client": ("microsoft-windows-bits-client/operational",),
        "windefend": ("microsoft-windows-windows defender/operational",),
        "terminalservices-localsessionmanager": (
            "microsoft-windows-terminalservices-localsessionmanager/operational",
        ),
        "microsoft-servicebus-client": ("microsoft-servicebus-client",),
        "ldap_debug": ("microsoft-windows-ldap-client/debug",),
        "security-mitigations": (
            "microsoft-windows-security-mitigations/kernel mode",
            "microsoft-windows-security-mitigations/user mode",
        ),
        "diagnosis-scripted": ("microsoft-windows-diagnosis-scripted/operational",),
        "shell-core": ("microsoft-windows-shell-core/operational",),
        "openssh": ("openssh/operational",),
        "bitlocker": ("microsoft-windows-bitlocker/bitlocker management",),
        "vhdmp": ("microsoft-windows-vhdmp/operational",),
        "appxdeployment-server": ("microsoft-windows-appxdeploymentserver/operational",),
        "lsa-server": ("microsoft-windows-lsa/operational",),
        "appxpackaging-om": ("microsoft-windows-appxpackaging/operational",),
        "dns-client": ("microsoft-windows-dns client events/operational",),
        "appmodel-runtime": ("microsoft-windows-appmodel-runtime/admin",),
        "capi2": ("microsoft-windows-capi2/operational",),
        "certificateservicesclient-lifecycle-system": (
            "microsoft-windows-certificateservicesclient-lifecycle-system/operational",
        ),
    }
)

_SYSMON_IDS: Final[dict[str, tuple[int, ...]]] = {
    "process_creation": (1,),
    "file_change": (2,),
    "network_connection": (3,),
    "sysmon_status": (4, 16),
    "process_termination": (5,),
    "driver_load": (6,),
    "image_load": (7,),
    "create_remote_thread": (8,),
    "raw_access_thread": (9,),
    "process_access": (10,),
    "file_event": (11,),
    "registry_add": (12,),
    "registry_delete": (12,),
    "registry_set": (13,),
    "registry_rename": (14,),
    "registry_event": (12, 13, 14),
    "create_stream_hash": (15,),
    "pipe_created": (17, 18),
    "wmi_event": (19, 20, 21),
    "dns_query": (22,),
    "file_delete": (23,),
    "clipboard_capture": (24,),
    "process_tampering": (25,),
    "file_delete_detected": (26,),
    "file_block_executable": (27,),
    "file_block_shredding": (28,),
    "file_executable_detected": (29,),
    "sysmon_error": (255,),
}


def _category_table() -> dict[tuple[str, int], frozenset[str]]:
    table: dict[tuple[str, int], set[str]] = {}

    def add(channels: tuple[str, ...], ids: tuple[int, ...], category: str) -> None:
        for channel in channels:
            for event_id in ids:
                table.setdefault((channel, event_id), set()).add(category)

    for category, ids in _SYSMON_IDS.items():  # pySigma sysmon_pipeline
        add((_SYSMON,), ids, category)
    # pySigma windows_logsource_pipeline: PowerShell categories.
    add(_POWERSHELL, (4103,), "ps_module")
    add(_POWERSHELL, (4104,), "ps_script")
    add(("windows powershell",), (400,), "ps_classic_start")
    add(("windows powershell",), (600,), "ps_classic_provider_start")
    add(("windows powershell",), (800,), "ps_classic_script")
    # pySigma windows_audit_pipeline: Security auditing for generic categories.
    add(("security",), (4688,), "process_creation")
    for category in ("registry_event", "registry_set", "registry_add"):
        add(("security",), (4657,), category)
    return {key: frozenset(value) for key, value in table.items()}


#: (lower-cased channel, event id) -> the Windows categories that event is.
WINDOWS_CATEGORIES: Final[Mapping[tuple[str, int], frozenset[str]]] = MappingProxyType(_category_table())

#: channel -> the Windows services that name it.
WINDOWS_CHANNEL_SERVICES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        channel: frozenset(s for s, chs in WINDOWS_SERVICE_CHANNELS.items() if channel in chs)
        for channel in {c for chs in WINDOWS_SERVICE_CHANNELS.values() for c in chs}
    }
)

#: Per product, the services and categories its events can have. A rule of such a product naming a
#: value outside these lists cannot be routed more narrowly than by product (see detection.logsource).
TAXONOMIES: Final[Mapping[str, tuple[frozenset[str], frozenset[str]]]] = MappingProxyType(
    {
        DATASOC_PRODUCT: (DATASOC_SERVICES, DATASOC_CATEGORIES),
        WINDOWS_PRODUCT: (
            frozenset(WINDOWS_SERVICE_CHANNELS),
            frozenset().union(*WINDOWS_CATEGORIES.values()),
        ),
    }
)


def windows_services(channel: str) -> frozenset[str]:
    """The Windows services of a (lower-cased) channel; empty for a channel no service names."""
    return WINDOWS_CHANNEL_SERVICES.get(channel, frozenset())


def windows_categories(channel: str, event_id: int) -> frozenset[str]:
    """The Windows categories of an event of this (lower-cased) channel and event id."""
    return WINDOWS_CATEGORIES.get((channel, event_id), frozenset())
