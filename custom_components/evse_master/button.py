"""Button: take the charger's session back on purpose."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .changes import reads
from .coordinator import EvseMasterConfigEntry
from .entity import EvseMasterEntity, EvseMasterEntityDescription

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class EvseMasterButtonDescription(ButtonEntityDescription, EvseMasterEntityDescription):
    """A button of the charger."""


CONNECT_NOW = EvseMasterButtonDescription(
    key="connect_now",
    translation_key="connect_now",
    entity_category=EntityCategory.DIAGNOSTIC,
    reads=reads("address"),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvseMasterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the connect button."""
    async_add_entities(
        [EvseMasterConnectButton(entry.runtime_data.coordinator, CONNECT_NOW)]
    )


class EvseMasterConnectButton(EvseMasterEntity, ButtonEntity):
    """Log in now, also when the phone app holds the session (it loses it).

    Nothing reclaims the session from another client automatically: that
    would fight the app every few seconds. This is the deliberate way back.
    """

    entity_description: EvseMasterButtonDescription

    @property
    def available(self) -> bool:
        """Pressable whenever the charger's address is known."""
        return self.coordinator.charger.address is not None

    async def async_press(self) -> None:
        """Log in to the charger."""
        self.coordinator.charger.connect_now()
