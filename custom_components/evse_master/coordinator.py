"""Push-fed coordinator: one per charger."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import UNDEFINED
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    CONF_BRAND,
    CONF_MAX_CURRENT,
    CONF_MODEL,
    CONF_PHASES,
    CONF_PORT,
    CONF_STATIC_HOST,
    DOMAIN,
    LOGGER,
    WATCHDOG_INTERVAL,
)
from .protocol.charger import Charger, ChargerState


@dataclass(kw_only=True, slots=True)
class EvseMasterRuntimeData:
    """What a loaded entry holds."""

    charger: Charger
    coordinator: EvseMasterCoordinator


type EvseMasterConfigEntry = ConfigEntry[EvseMasterRuntimeData]


class EvseMasterCoordinator(DataUpdateCoordinator[ChargerState]):
    """Publishes the charger's pushed snapshots; the interval is a watchdog.

    Data is the latest :class:`ChargerState`. Entities are available while the
    charger session is up: the watchdog (and every push that reports the
    session lost) marks them unavailable, logged once; the next push after a
    re-login brings them back.
    """

    config_entry: EvseMasterConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: EvseMasterConfigEntry, charger: Charger
    ) -> None:
        """Start unavailable with the charger's current snapshot."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"EVSE Master {charger.serial}",
            update_interval=WATCHDOG_INTERVAL,
            always_update=False,
        )
        self.charger = charger
        self.data = charger.state
        self.last_update_success = charger.state.logged_in
        self._reauth_started = False

    @callback
    def async_start(self) -> None:
        """Follow the charger's snapshots until the entry unloads."""
        self.config_entry.async_on_unload(
            self.charger.add_listener(self._on_charger_state)
        )

    @callback
    def _on_charger_state(self, state: ChargerState) -> None:
        previous = self.data
        self._remember_charger(previous, state)
        if state.info != previous.info or state.version != previous.version:
            self._update_device(state)
        if state.auth_failed:
            self._start_reauth()
        if state.logged_in:
            if not self.last_update_success:
                LOGGER.info("Charger %s is connected", state.serial)
            self.async_set_updated_data(state)
        else:
            self.data = state
            self.async_set_update_error(self._lost_error(state))

    def _lost_error(self, state: ChargerState) -> UpdateFailed:
        key = "authentication_failed" if state.auth_failed else "charger_unavailable"
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={"serial": state.serial},
        )

    async def _async_update_data(self) -> ChargerState:
        state = self.charger.state
        if state.auth_failed:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="authentication_failed",
                translation_placeholders={"serial": state.serial},
            )
        if not state.logged_in:
            if self.config_entry.data.get(CONF_STATIC_HOST):
                # Announcements cannot cross routers: retry the pinned address.
                self.charger.login_if_allowed()
            raise self._lost_error(state)
        return state

    @callback
    def _start_reauth(self) -> None:
        if not self._reauth_started:
            self._reauth_started = True
            self.config_entry.async_start_reauth(self.hass)

    @callback
    def _remember_charger(self, previous: ChargerState, state: ChargerState) -> None:
        """Store what setup needs next time: the address and the model."""
        if state.address == previous.address and state.info == previous.info:
            return
        entry = self.config_entry
        data = dict(entry.data)
        if state.address is not None:
            data[CONF_HOST], data[CONF_PORT] = state.address
        if state.info is not None:
            data[CONF_BRAND] = state.info.brand
            data[CONF_MODEL] = state.info.model
            data[CONF_PHASES] = state.info.phases
            data[CONF_MAX_CURRENT] = state.max_current
        if data != entry.data:
            self.hass.config_entries.async_update_entry(entry, data=data)

    @callback
    def _update_device(self, state: ChargerState) -> None:
        registry = dr.async_get(self.hass)
        device = registry.async_get_device(identifiers={(DOMAIN, state.serial)})
        if device is None:
            return
        info, version = state.info, state.version
        registry.async_update_device(
            device.id,
            manufacturer=info.brand if info else UNDEFINED,
            model=info.model if info else UNDEFINED,
            hw_version=info.hardware_version if info else UNDEFINED,
            sw_version=version.software_version if version else UNDEFINED,
        )
