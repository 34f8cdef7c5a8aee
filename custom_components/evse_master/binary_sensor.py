"""Binary sensors of an EVSE Master charger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined,unused-ignore]
    # Since 2026.x the device class lives in binary_sensor.const and the package
    # re-exports it implicitly; 2026.2 has no const module. Both import it here.
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .changes import CHARGING, FAULTS, PLUGGED_IN, reads
from .coordinator import EvseMasterConfigEntry
from .entity import EvseMasterEntity, EvseMasterEntityDescription
from .protocol.charger import ChargerState

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class EvseMasterBinarySensorDescription(
    BinarySensorEntityDescription, EvseMasterEntityDescription
):
    """A binary sensor and how to read it from the charger state."""

    is_on_fn: Callable[[ChargerState], bool | None]


BINARY_SENSORS: tuple[EvseMasterBinarySensorDescription, ...] = (
    EvseMasterBinarySensorDescription(
        key="plugged_in",
        translation_key="plugged_in",
        device_class=BinarySensorDeviceClass.PLUG,
        reads=PLUGGED_IN,
        is_on_fn=lambda state: state.plugged_in,
    ),
    EvseMasterBinarySensorDescription(
        key="charging",
        translation_key="charging",
        device_class=BinarySensorDeviceClass.BATTERY_CHARGING,
        reads=CHARGING,
        is_on_fn=lambda state: state.charging,
    ),
    EvseMasterBinarySensorDescription(
        key="problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        reads=FAULTS,
        is_on_fn=lambda state: bool(state.faults) if state.status else None,
    ),
    EvseMasterBinarySensorDescription(
        key="emergency_stop",
        translation_key="emergency_stop",
        device_class=BinarySensorDeviceClass.SAFETY,
        reads=reads("status.emergency_button"),
        is_on_fn=lambda state: state.status.emergency_stop if state.status else None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvseMasterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the charger's binary sensors."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        EvseMasterBinarySensor(coordinator, description)
        for description in BINARY_SENSORS
    )


class EvseMasterBinarySensor(EvseMasterEntity, BinarySensorEntity):
    """An on/off fact about the charger."""

    entity_description: EvseMasterBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """The fact from the latest charger state."""
        return self.entity_description.is_on_fn(self.coordinator.data)
