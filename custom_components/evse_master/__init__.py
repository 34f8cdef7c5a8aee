"""The EVSE Master integration: EV chargers of the EVSE Master app over UDP."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from homeassistant.const import CONF_PASSWORD, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    issue_registry as ir,
)
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from . import const
from .const import (
    CONF_ACK_RECORDS,
    CONF_CURRENT_POLICY,
    CONF_RELAY_PROTECTION,
    CONF_SERIAL,
    CONF_STATIC_HOST,
    DOMAIN,
    LOGGER,
    POLICY_WAIT,
)
from .coordinator import (
    EvseMasterConfigEntry,
    EvseMasterCoordinator,
    EvseMasterRuntimeData,
)
from .current import CurrentWatch
from .entity import device_info
from .hub import async_get_hub, entry_address
from .protocol.charger import Charger, ChargerTimings
from .protocol.errors import (
    ChargerNotReachableError,
    CommandRejectedError,
    InvalidPasswordError,
    PortInUseError,
)
from .protocol.frame import normalize_serial
from .services import async_setup_services

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TEXT,
]

PORT_IN_USE_ISSUE = "port_in_use"
_OBSOLETE_DATA = ("brand", "model", "phases", "max_current")
"""Entry data of version 1.1, now read from the charger at every setup."""

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, which target chargers by device."""
    async_setup_services(hass)
    return True


def charger_timings(entry: EvseMasterConfigEntry) -> ChargerTimings:
    """The session timings, with the entry's relay protection if it sets one."""
    relay_protection = entry.options.get(CONF_RELAY_PROTECTION)
    if relay_protection is None:
        return const.CHARGER_TIMINGS
    return replace(const.CHARGER_TIMINGS, min_restart_interval=float(relay_protection))


async def async_setup_entry(hass: HomeAssistant, entry: EvseMasterConfigEntry) -> bool:
    """Log in to the charger (bounded), then create its device and entities."""
    hub = async_get_hub(hass)
    try:
        listener = await hub.async_acquire()
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
        pinned=bool(entry.data.get(CONF_STATIC_HOST)),
        time_zone=dt_util.get_default_time_zone(),
        timings=charger_timings(entry),
        ack_records=bool(entry.options.get(CONF_ACK_RECORDS, False)),
        last_stop=hub.last_stops.get(normalize_serial(entry.data[CONF_SERIAL])),
    )
    entry.async_on_unload(charger.shutdown)
    entry.async_on_unload(partial(hub.remember_last_stop, charger))
    try:
        await charger.connect(const.SETUP_TIMEOUT)
    except InvalidPasswordError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="authentication_failed",
            translation_placeholders={"serial": charger.serial},
        ) from err
    except (ChargerNotReachableError, CommandRejectedError) as err:
        # Keep listening: its next announcement retries the setup at once.
        hub.hold_while_retrying(entry)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="no_answer",
            translation_placeholders={"serial": charger.serial},
        ) from err

    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **device_info(charger.state, entry.title)
    )
    coordinator = EvseMasterCoordinator(hass, entry, charger, device.id)
    coordinator.async_start()
    current_watch = CurrentWatch(
        hass, coordinator, entry.options.get(CONF_CURRENT_POLICY, POLICY_WAIT)
    )
    entry.async_on_unload(current_watch.close)
    entry.runtime_data = EvseMasterRuntimeData(
        charger=charger, coordinator=coordinator, current_watch=current_watch
    )

    @callback
    def shutdown(_event: Event) -> None:
        charger.shutdown()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, shutdown)
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: EvseMasterConfigEntry) -> bool:
    """Unload platforms; the charger and listener are released by on-unload hooks."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_migrate_entry(
    hass: HomeAssistant, entry: EvseMasterConfigEntry
) -> bool:
    """1.1 -> 1.2: drop what setup now reads from the charger itself."""
    if entry.version > 1:
        return False
    if entry.minor_version < 2:
        data = {
            key: value for key, value in entry.data.items() if key not in _OBSOLETE_DATA
        }
        hass.config_entries.async_update_entry(entry, data=data, minor_version=2)
        LOGGER.debug("Migrated entry %s to version 1.2", entry.entry_id)
    return True
