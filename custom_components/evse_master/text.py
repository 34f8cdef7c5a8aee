"""Text entity: the charger's nickname."""

from __future__ import annotations

from homeassistant.components.text import TextEntity, TextEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import EvseMasterConfigEntry
from .entity import EvseMasterEntity
from .helpers import translated_errors
from .protocol import const as protocol_const

PARALLEL_UPDATES = 1

NICKNAME = TextEntityDescription(
    key="nickname",
    translation_key="nickname",
    entity_category=EntityCategory.CONFIG,
    native_min=0,
    native_max=protocol_const.NICKNAME_MAX_LENGTH,
    pattern=r"[ -~]*",
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvseMasterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the nickname entity."""
    async_add_entities([EvseMasterNickname(entry.runtime_data.coordinator, NICKNAME)])


class EvseMasterNickname(EvseMasterEntity, TextEntity):
    """The name the charger shows and advertises over Bluetooth."""

    @property
    def native_value(self) -> str | None:
        """The name the charger reported."""
        return self.coordinator.data.settings.nickname

    async def async_set_value(self, value: str) -> None:
        """Rename the charger."""
        async with translated_errors(self):
            await self.coordinator.charger.set_nickname(value)
