"""Charging switch of an EVSE Master charger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .changes import SESSION_ACTIVE
from .coordinator import EvseMasterConfigEntry
from .entity import EvseMasterEntity, EvseMasterEntityDescription
from .helpers import translated_errors

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class EvseMasterSwitchDescription(SwitchEntityDescription, EvseMasterEntityDescription):
    """A switch of the charger."""


CHARGING_SWITCH = EvseMasterSwitchDescription(
    key="charging", translation_key="charging", reads=SESSION_ACTIVE
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvseMasterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the charging switch."""
    async_add_entities(
        [EvseMasterChargingSwitch(entry.runtime_data.coordinator, CHARGING_SWITCH)]
    )


class EvseMasterChargingSwitch(EvseMasterEntity, SwitchEntity):
    """On starts a session at the charger's configured current; off stops it.

    The state is the session the charger reports, never the one requested.
    After a finished session the charger wants a stop before the next start;
    the charger client sends it.
    """

    entity_description: EvseMasterSwitchDescription

    @property
    def is_on(self) -> bool | None:
        """Whether the charger reports a running session."""
        return self.coordinator.data.session_active

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start charging with the configured maximum current."""
        async with translated_errors():
            await self.coordinator.charger.start_charging()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop charging."""
        async with translated_errors():
            await self.coordinator.charger.stop_charging()
