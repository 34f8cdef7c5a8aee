"""The one shared UDP listener of this Home Assistant instance.

Stored in ``hass.data`` under a typed key (the only thing there); opened by the
first user, closed by the last one and on Home Assistant stop. It also turns
chargers nobody has configured into discovery flows.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network
from typing import Any

from homeassistant.components import network
from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.const import CONF_HOST, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import discovery_flow
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
from .protocol.listener import Address, DiscoveredCharger, SharedListener

DATA_HUB: HassKey[EvseMasterHub] = HassKey(DOMAIN)


class EvseMasterHub:
    """Owner of the shared listener and the discovery of new chargers."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Prepare; the socket opens with the first :meth:`async_acquire`."""
        self.hass = hass
        self.shared = SharedListener()
        self._flows_started: set[str] = set()
        self.shared.listener.subscribe_discovery(self._on_discovered)
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._on_stop)

    async def async_probe(self) -> None:
        """Ask every charger on the LAN to answer (zero-serial probe)."""
        targets = await async_get_probe_targets(self.hass)
        self.shared.listener.send_probe(targets)

    @callback
    def _on_discovered(self, found: DiscoveredCharger) -> None:
        if found.serial in self._flows_started:
            return
        self._flows_started.add(found.serial)
        data: dict[str, Any] = {
            CONF_SERIAL: found.serial,
            CONF_HOST: found.address[0],
            CONF_PORT: found.address[1],
        }
        if found.info is not None:
            data[CONF_BRAND] = found.info.brand
            data[CONF_MODEL] = found.info.model
        discovery_flow.async_create_flow(
            self.hass,
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data=data,
        )

    @callback
    def _on_stop(self, _event: Event) -> None:
        self.shared.close()


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
