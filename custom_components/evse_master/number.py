"""Number entities: maximum current and display brightness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfElectricCurrent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .changes import reads
from .coordinator import EvseMasterConfigEntry
from .entity import EvseMasterEntity, EvseMasterEntityDescription
from .helpers import translated_errors
from .protocol import const as protocol_const
from .protocol.charger import Charger, ChargerState

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class EvseMasterNumberDescription(NumberEntityDescription, EvseMasterEntityDescription):
    """A number setting, how to read it and how to write it."""

    value_fn: Callable[[ChargerState], int | None]
    set_fn: Callable[[Charger, float], Awaitable[object]]
    max_fn: Callable[[ChargerState], int] | None = None


NUMBERS: tuple[EvseMasterNumberDescription, ...] = (
    # The charger stores this as its default; a session takes its limit at
    # start, and some models (Telestar EC311S) ignore changes until the next one.
    EvseMasterNumberDescription(
        key="max_current",
        translation_key="max_current",
        device_class=NumberDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_min_value=protocol_const.MIN_CURRENT,
        native_step=1,
        # A slider shows the charger's range and cannot leave it.
        mode=NumberMode.SLIDER,
        entity_category=EntityCategory.CONFIG,
        reads=reads("settings.max_current", "info"),
        value_fn=lambda state: state.settings.max_current,
        set_fn=lambda charger, value: charger.set_max_current(value),
        max_fn=lambda state: state.max_current,
    ),
    EvseMasterNumberDescription(
        key="lcd_brightness",
        translation_key="lcd_brightness",
        native_unit_of_measurement=PERCENTAGE,
        native_min_value=0,
        native_max_value=100,
        native_step=1,
        entity_category=EntityCategory.CONFIG,
        entity_registry_enabled_default=False,
        reads=reads("settings.lcd_brightness"),
        value_fn=lambda state: state.settings.lcd_brightness,
        set_fn=lambda charger, value: charger.set_lcd_brightness(value),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvseMasterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the number entities."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        EvseMasterNumber(coordinator, description) for description in NUMBERS
    )


class EvseMasterNumber(EvseMasterEntity, NumberEntity):
    """A numeric charger setting, shown as the charger reports it."""

    entity_description: EvseMasterNumberDescription

    @property
    def native_value(self) -> int | None:
        """The value the charger reported."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def native_max_value(self) -> float:
        """The charger's own limit where it has one."""
        if self.entity_description.max_fn is not None:
            return self.entity_description.max_fn(self.coordinator.data)
        return super().native_max_value

    async def async_set_native_value(self, value: float) -> None:
        """Write the setting; the charger's reply updates the state."""
        async with translated_errors():
            await self.entity_description.set_fn(self.coordinator.charger, value)
