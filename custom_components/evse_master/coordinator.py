"""Push-fed coordinator: one per charger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .changes import ALL_FIELDS, FAULTS, changed_parts
from .const import CONF_PORT, DOMAIN, LOGGER, SETTINGS_REFRESH_INTERVAL
from .entity import device_info
from .faults import async_clear_faults, async_report_faults
from .protocol.charger import Charger, ChargerState

if TYPE_CHECKING:
    from .current import CurrentWatch


@dataclass(kw_only=True, slots=True)
class EvseMasterRuntimeData:
    """What a loaded entry holds."""

    charger: Charger
    coordinator: EvseMasterCoordinator
    current_watch: CurrentWatch


type EvseMasterConfigEntry = ConfigEntry[EvseMasterRuntimeData]

_KNOWN_CHANGES: Final = 64
"""Combinations of changed parts whose listeners are remembered."""


class EvseMasterCoordinator(DataUpdateCoordinator[ChargerState]):
    """Publishes the charger's pushed snapshots to its entities.

    There is no polling interval: the charger client watches the session
    itself (headings, status requests when pushes stop, re-login), so a
    coordinator timer would only be re-armed on every push. Entities are
    available while the session is up; a charger that goes away is logged
    once as a warning, its return once as info.

    A listener's context, when it is a set of snapshot parts (what an entity
    ``reads``), limits the pushed updates it gets to those that change one of
    them; availability changes and refreshes reach every listener.
    """

    config_entry: EvseMasterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: EvseMasterConfigEntry,
        charger: Charger,
        device_id: str,
    ) -> None:
        """Start with the charger's current snapshot."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"EVSE Master {charger.serial}",
            update_interval=None,
            always_update=False,
        )
        self.charger = charger
        self.device_id = device_id
        self.data = charger.state
        self.last_update_success = charger.state.logged_in
        self.changed: frozenset[str] = ALL_FIELDS
        """Snapshot parts that differ in the update being dispatched."""
        self._reads: dict[object, tuple[CALLBACK_TYPE, frozenset[str] | None]] = {}
        self._targets: dict[frozenset[str], tuple[CALLBACK_TYPE, ...]] = {}
        """Listeners by what changed: pushes change the same parts again and again."""

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Listen for updates; a ``frozenset`` context is the parts read."""
        remove = super().async_add_listener(update_callback, context)
        key = object()
        reads = context if isinstance(context, frozenset) else None
        self._reads[key] = (update_callback, reads)
        self._targets.clear()

        @callback
        def remove_listener() -> None:
            del self._reads[key]
            self._targets.clear()
            remove()

        return remove_listener

    @callback
    def async_update_listeners(self) -> None:
        """Update the listeners that read what changed (all of them on a refresh)."""
        changed = self.changed
        if changed is ALL_FIELDS:
            super().async_update_listeners()
            return
        targets = self._targets.get(changed)
        if targets is None:
            if len(self._targets) >= _KNOWN_CHANGES:
                self._targets.clear()
            targets = self._targets[changed] = tuple(
                update_callback
                for update_callback, reads in self._reads.values()
                if reads is None or not reads.isdisjoint(changed)
            )
        for update_callback in targets:
            update_callback()

    @callback
    def async_start(self) -> None:
        """Follow the charger until the entry unloads; re-read settings periodically."""
        entry = self.config_entry
        entry.async_on_unload(self.charger.add_listener(self._on_charger_state))
        entry.async_on_unload(
            async_track_time_interval(
                self.hass, self._refresh_settings, SETTINGS_REFRESH_INTERVAL
            )
        )
        entry.async_on_unload(self._clear_issues)

    @callback
    def _refresh_settings(self, _now: datetime) -> None:
        # Catches changes made in the phone app; replies update the state.
        if self.charger.state.logged_in:
            self.charger.refresh()
        self.charger.forget_quiet_impostor()

    @callback
    def _clear_issues(self) -> None:
        serial = self.charger.serial
        ir.async_delete_issue(self.hass, DOMAIN, f"impostor_{serial}")
        async_clear_faults(self.hass, serial)

    @callback
    def _report_impostor(self, state: ChargerState) -> None:
        issue = f"impostor_{state.serial}"
        if state.impostor is None:
            ir.async_delete_issue(self.hass, DOMAIN, issue)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="impostor",
            translation_placeholders={
                "name": self.config_entry.title,
                "source": state.impostor,
            },
        )

    @callback
    def _on_charger_state(self, state: ChargerState) -> None:
        previous = self.data
        changed = changed_parts(previous, state)
        if state.logged_in and (
            state.address != previous.address or not previous.logged_in
        ):
            self._remember_address(state)
        if state.info != previous.info or state.version != previous.version:
            self._update_device(state)
        if state.impostor != previous.impostor:
            self._report_impostor(state)
        if not FAULTS.isdisjoint(changed):
            async_report_faults(self.hass, self.config_entry.title, state, previous)
        available = state.logged_in
        if available != self.last_update_success:
            self.changed = ALL_FIELDS
            if available:
                LOGGER.info("Charger %s is back", state.serial)
                self.last_exception = None
            else:
                LOGGER.warning(
                    "Charger %s went away (%s); its entities are unavailable until"
                    " it returns",
                    state.serial,
                    state.connection,
                )
                self.last_exception = self._lost_error(state)
            self.last_update_success = available
        else:
            self.changed = changed
        self.data = state
        self.async_update_listeners()
        self.changed = ALL_FIELDS
        if state.last_record is not previous.last_record:
            self._report_record_without_event(state)
        if state.auth_failed and not previous.auth_failed:
            # One path to reauth: setup raises ConfigEntryAuthFailed on retry.
            # After the update, so the connection sensor shows why first.
            self.hass.config_entries.async_schedule_reload(self.config_entry.entry_id)

    def _report_record_without_event(self, state: ChargerState) -> None:
        # The session event entity reports records (and so lets them be
        # acknowledged); with that entity disabled nothing would, and the
        # charger would replay its oldest record for ever.
        registry = er.async_get(self.hass)
        entity_id = registry.async_get_entity_id(
            Platform.EVENT, DOMAIN, f"{state.serial}_session"
        )
        entity = registry.async_get(entity_id) if entity_id else None
        if entity is not None and entity.disabled and state.last_record is not None:
            self.charger.record_reported(state.last_record)

    def _lost_error(self, state: ChargerState) -> UpdateFailed:
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="charger_unavailable",
            translation_placeholders={"serial": state.serial},
        )

    async def _async_update_data(self) -> ChargerState:
        """``homeassistant.update_entity``: ask for status now."""
        state = self.charger.state
        if not state.logged_in:
            raise self._lost_error(state)
        self.charger.refresh_status()
        return state

    @callback
    def _remember_address(self, state: ChargerState) -> None:
        """Store where a session was established, for the next start."""
        assert state.address is not None
        host, port = state.address
        entry = self.config_entry
        if (entry.data.get(CONF_HOST), entry.data.get(CONF_PORT)) != (host, port):
            self.hass.config_entries.async_update_entry(
                entry, data={**entry.data, CONF_HOST: host, CONF_PORT: port}
            )

    @callback
    def _update_device(self, state: ChargerState) -> None:
        info = device_info(state)
        dr.async_get(self.hass).async_update_device(
            self.device_id,
            manufacturer=info.get("manufacturer"),
            model=info.get("model"),
            hw_version=info.get("hw_version"),
            sw_version=info.get("sw_version"),
        )
