"""The one shared UDP listener of this Home Assistant instance.

Stored in ``hass.data`` under a typed key (the only thing there). It is open
while a charger entry is loaded or waiting to retry its setup, or a config
flow uses it, and closed on Home Assistant stop. It also turns chargers heard
on the network into discovery flows, within limits a flood cannot exceed.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from ipaddress import IPv4Network
import time
from typing import Any, Final

from homeassistant.components import network
from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigEntry,
    ConfigEntryChange,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_BRAND,
    CONF_MODEL,
    CONF_PORT,
    CONF_SERIAL,
    CONF_STATIC_HOST,
    DOMAIN,
)
from .protocol import const as protocol_const
from .protocol.charger import Charger
from .protocol.listener import (
    Address,
    ChargerListener,
    DiscoveredCharger,
    SharedListener,
)

DATA_HUB: HassKey[EvseMasterHub] = HassKey(DOMAIN)

NEW_SERIALS_PER_MINUTE: Final = 5
"""Discovery flows for serials not offered before, per minute."""
MAX_PENDING_DISCOVERIES: Final = 5
"""Discovery cards shown at once; more wait until one is handled."""
REMEMBERED_SERIALS: Final = 64
"""Unconfigured serials kept in memory (least recently heard forgotten first)."""
REOFFER_AFTER: Final = 600.0
"""Seconds before a charger that was offered (and ignored or dismissed) is again."""
RETRY_NUDGE_AFTER: Final = 5.0
"""Seconds between two early retries of an entry waiting for its charger."""
_WAITING_STATES: Final = (
    ConfigEntryState.SETUP_RETRY,
    ConfigEntryState.SETUP_IN_PROGRESS,
)


class EvseMasterHub:
    """Owner of the shared listener and the discovery of chargers."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Prepare; the socket opens with the first :meth:`async_acquire`."""
        self.hass = hass
        self.shared = SharedListener()
        self._retry_holds: set[str] = set()
        self._offered: OrderedDict[str, float] = OrderedDict()
        self._new_offers: deque[float] = deque()
        self._nudged: dict[str, float] = {}
        self.last_stops: dict[str, float] = {}
        """Serial -> the last stop of an unloaded entry's client (loop time)."""
        self.shared.listener.subscribe_discovery(self._on_discovered)
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._on_stop)
        async_dispatcher_connect(
            hass, SIGNAL_CONFIG_ENTRY_CHANGED, self._on_entry_changed
        )

    @property
    def remembered_serials(self) -> int:
        """Unconfigured serials the discovery limits keep track of."""
        return len(self._offered)

    def remember_last_stop(self, charger: Charger) -> None:
        """Keep the charger's last stop for the client of its next setup."""
        if charger.last_stop is not None:
            self.last_stops[charger.serial] = charger.last_stop

    async def async_acquire(self) -> ChargerListener:
        """The open listener for one more user (raises PortInUseError)."""
        return await self.shared.acquire()

    @callback
    def hold_while_retrying(self, entry: ConfigEntry) -> None:
        """Keep listening while ``entry`` waits to retry, to hear its charger."""
        if entry.entry_id not in self._retry_holds and self.shared.listener.is_open:
            self._retry_holds.add(entry.entry_id)
            self.shared.hold()

    @callback
    def _on_entry_changed(self, change: ConfigEntryChange, entry: ConfigEntry) -> None:
        if entry.entry_id not in self._retry_holds:
            return
        if change is ConfigEntryChange.REMOVED or entry.state not in _WAITING_STATES:
            self._retry_holds.discard(entry.entry_id)
            self.shared.release()

    async def async_probe(self) -> None:
        """Ask every charger on the LAN to answer (zero-serial probe)."""
        targets = await async_get_probe_targets(self.hass)
        self.shared.listener.send_probe(targets)

    @callback
    def _on_discovered(self, found: DiscoveredCharger) -> None:
        serial = found.serial
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, serial
        )
        if entry is not None:
            # Configured (or ignored): only an entry waiting for this very
            # charger cares, and a discovery flow makes it retry at once.
            if entry.state is ConfigEntryState.SETUP_RETRY and self._may_nudge(serial):
                self._create_flow(found)
            return
        if not self._may_offer(serial):
            return
        self._create_flow(found)

    def _may_nudge(self, serial: str) -> bool:
        now = time.monotonic()
        if now - self._nudged.get(serial, -RETRY_NUDGE_AFTER) < RETRY_NUDGE_AFTER:
            return False
        self._nudged[serial] = now
        return True

    def _may_offer(self, serial: str) -> bool:
        """The limits on discovery flows for chargers nobody configured."""
        now = time.monotonic()
        offered = self._offered.get(serial)
        if offered is not None:
            self._offered.move_to_end(serial)
            if now - offered < REOFFER_AFTER:
                return False
        else:
            while self._new_offers and now - self._new_offers[0] >= 60.0:
                self._new_offers.popleft()
            if len(self._new_offers) >= NEW_SERIALS_PER_MINUTE:
                return False
        pending = self.hass.config_entries.flow.async_progress_by_handler(
            DOMAIN,
            include_uninitialized=True,
            match_context={"source": SOURCE_INTEGRATION_DISCOVERY},
        )
        if len(pending) >= MAX_PENDING_DISCOVERIES:
            return False
        if offered is None:
            self._new_offers.append(now)
        self._offered[serial] = now
        self._offered.move_to_end(serial)
        while len(self._offered) > REMEMBERED_SERIALS:
            self._offered.popitem(last=False)
        return True

    @callback
    def _create_flow(self, found: DiscoveredCharger) -> None:
        discovery_flow.async_create_flow(
            self.hass,
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data=discovery_data(found),
        )

    @callback
    def _on_stop(self, _event: Event) -> None:
        self._retry_holds.clear()
        self.shared.close()


def discovery_data(found: DiscoveredCharger) -> dict[str, Any]:
    """A heard charger as discovery data: serial, address, brand and model."""
    data: dict[str, Any] = {
        CONF_SERIAL: found.serial,
        CONF_HOST: found.address[0],
        CONF_PORT: found.address[1],
    }
    if found.info is not None:
        data[CONF_BRAND] = found.info.brand
        data[CONF_MODEL] = found.info.model
    return data


@callback
def async_get_hub(hass: HomeAssistant) -> EvseMasterHub:
    """Return the instance's hub, creating it on first use."""
    if (hub := hass.data.get(DATA_HUB)) is None:
        hub = hass.data[DATA_HUB] = EvseMasterHub(hass)
    return hub


async def async_get_probe_targets(hass: HomeAssistant) -> list[Address]:
    """Subnet broadcast address of each enabled IPv4 adapter, on the charger port.

    The limited broadcast 255.255.255.255 is left out on purpose: it leaves
    through the default route only, and it would ignore the user's choice of
    network adapters in Home Assistant.
    """
    port = protocol_const.CHARGER_FALLBACK_PORT
    targets: set[str] = set()
    for adapter in await network.async_get_adapters(hass):
        if not adapter["enabled"]:
            continue
        for ipv4 in adapter["ipv4"]:
            subnet = IPv4Network(
                f"{ipv4['address']}/{ipv4['network_prefix']}", strict=False
            )
            if subnet.prefixlen < 32:
                targets.add(str(subnet.broadcast_address))
    return [(address, port) for address in sorted(targets)]


def entry_address(data: Mapping[str, Any]) -> Address | None:
    """Where to reach the charger first: the pinned IP, else the last one seen."""
    port = data.get(CONF_PORT)
    host = data.get(CONF_HOST)
    if static_host := data.get(CONF_STATIC_HOST):
        if host == static_host and isinstance(port, int):
            return static_host, port
        return static_host, protocol_const.CHARGER_FALLBACK_PORT
    if host and isinstance(port, int):
        return host, port
    return None
