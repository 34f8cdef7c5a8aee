"""The EVSE Master integration: EV chargers of the EVSE Master app over UDP."""

from __future__ import annotations

from datetime import datetime

from homeassistant.const import CONF_PASSWORD, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from . import const
from .const import (
    CONF_SERIAL,
    DOMAIN,
    SETTINGS_REFRESH_INTERVAL,
)
from .coordinator import (
    EvseMasterConfigEntry,
    EvseMasterCoordinator,
    EvseMasterRuntimeData,
)
from .hub import async_get_hub, entry_address
from .protocol.charger import Charger
from .protocol.errors import PortInUseError

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TEXT,
]

PORT_IN_USE_ISSUE = "port_in_use"


async def async_setup_entry(hass: HomeAssistant, entry: EvseMasterConfigEntry) -> bool:
    """Join the shared listener and start the charger session in the background."""
    hub = async_get_hub(hass)
    try:
        listener = await hub.shared.acquire()
    except PortInUseError as err:
        ir.async_create_issue(
            hass,
            DOMAIN,
            PORT_IN_USE_ISSUE,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=PORT_IN_USE_ISSUE,
            translation_placeholders={"port": str(err.port)},
        )
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key=PORT_IN_USE_ISSUE,
            translation_placeholders={"port": str(err.port)},
        ) from err
    ir.async_delete_issue(hass, DOMAIN, PORT_IN_USE_ISSUE)
    entry.async_on_unload(hub.shared.release)

    charger = Charger(
        listener,
        entry.data[CONF_SERIAL],
        entry.data[CONF_PASSWORD],
        address=entry_address(entry.data),
        time_zone=dt_util.get_default_time_zone(),
        timings=const.CHARGER_TIMINGS,
    )
    entry.async_on_unload(charger.close)

    @callback
    def shutdown(_event: Event) -> None:
        charger.shutdown()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, shutdown)
    )
    coordinator = EvseMasterCoordinator(hass, entry, charger)
    coordinator.async_start()
    entry.runtime_data = EvseMasterRuntimeData(charger=charger, coordinator=coordinator)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)

    @callback
    def refresh_settings(_now: datetime) -> None:
        # Catches changes made in the phone app; replies update the state.
        if charger.state.logged_in:
            charger.refresh()

    entry.async_on_unload(
        async_track_time_interval(hass, refresh_settings, SETTINGS_REFRESH_INTERVAL)
    )
    # Log in after the entities exist so the first data lands in them at once.
    await charger.start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: EvseMasterConfigEntry) -> bool:
    """Unload platforms; the charger and listener are released by on-unload hooks."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
