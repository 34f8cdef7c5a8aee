"""Base entity of every EVSE Master platform, and the charger's device info."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .protocol.charger import ChargerState

if TYPE_CHECKING:
    from .coordinator import EvseMasterCoordinator


def device_info(state: ChargerState, name: str | None = None) -> DeviceInfo:
    """The charger as a device: identity, model and versions it reported."""
    info = DeviceInfo(
        identifiers={(DOMAIN, state.serial)},
        serial_number=state.serial,
    )
    if name is not None:
        info["name"] = name
    if state.info is not None:
        info["manufacturer"] = state.info.brand or None
        info["model"] = state.info.model or None
        info["hw_version"] = state.info.hardware_version or None
    if state.version is not None:
        info["sw_version"] = state.version.software_version or None
    return info


@dataclass(frozen=True, kw_only=True)
class EvseMasterEntityDescription(EntityDescription):
    """What every entity of a charger declares besides Home Assistant's fields."""

    reads: frozenset[str] | None = None
    """Parts of the snapshot the entity shows (:func:`changes.reads`);
    ``None`` = every update."""


class EvseMasterEntity(CoordinatorEntity["EvseMasterCoordinator"]):
    """An entity of one charger, named through its translation key.

    It writes its state only when what it shows changed: the coordinator hands
    an update only to the entities whose ``reads`` it changed, and those
    compare what they would show with what they wrote last. Availability
    changes reach every entity.
    """

    _attr_has_entity_name = True
    entity_description: EvseMasterEntityDescription

    def __init__(
        self,
        coordinator: EvseMasterCoordinator,
        description: EvseMasterEntityDescription,
    ) -> None:
        """Bind to the charger's coordinator and device."""
        # The context is what the coordinator dispatches on.
        super().__init__(coordinator, description.reads)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.charger.serial}_{description.key}"
        self._attr_device_info = device_info(coordinator.data)
        self._shown: tuple[Any, ...] | None = None

    @callback
    def _handle_coordinator_update(self) -> None:
        shown = self._what_is_shown()
        if shown != self._shown:
            self._shown = shown
            self.async_write_ha_state()

    def _what_is_shown(self) -> tuple[Any, ...]:
        """Everything a state write would publish."""
        return (
            self.available,
            self.state,
            self.extra_state_attributes,
            self.capability_attributes,
        )

    async def async_added_to_hass(self) -> None:
        """Remember what the first write showed."""
        await super().async_added_to_hass()
        self._shown = self._what_is_shown()
