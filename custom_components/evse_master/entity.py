"""Base entity of every EVSE Master platform."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_BRAND, CONF_MODEL, DOMAIN
from .coordinator import EvseMasterCoordinator


class EvseMasterEntity(CoordinatorEntity[EvseMasterCoordinator]):
    """An entity of one charger, named through its translation key."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: EvseMasterCoordinator, description: EntityDescription
    ) -> None:
        """Bind to the charger's coordinator and device."""
        super().__init__(coordinator)
        self.entity_description = description
        serial = coordinator.charger.serial
        self._attr_unique_id = f"{serial}_{description.key}"
        state = coordinator.data
        entry_data = coordinator.config_entry.data
        brand = state.info.brand if state.info else entry_data.get(CONF_BRAND)
        model = state.info.model if state.info else entry_data.get(CONF_MODEL)
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, serial)},
            manufacturer=brand,
            model=model,
            name=f"{brand} {model}" if brand and model else f"EVSE {serial}",
            serial_number=serial,
            hw_version=state.info.hardware_version if state.info else None,
            sw_version=state.version.software_version if state.version else None,
        )
