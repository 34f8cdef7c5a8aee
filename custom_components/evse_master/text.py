"""Text entity: the charger's nickname."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.text import TextEntity, TextEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .changes import reads
from .coordinator import EvseMasterConfigEntry
from .entity import EvseMasterEntity, EvseMasterEntityDescription
from .helpers import translated_errors
from .protocol import const as protocol_const


@dataclass(frozen=True, kw_only=True)
class EvseMasterTextDescription(TextEntityDescription, EvseMasterEntityDescription):
    """A text setting of the charger."""


PARALLEL_UPDATES = 1

NICKNAME = EvseMasterTextDescription(
    key="nickname",
    translation_key="nickname",
    entity_category=EntityCategory.CONFIG,
    # An unnamed charger shows an empty field, not "unknown"; renaming it to
    # nothing is refused (the charger would lose its name).
    native_min=0,
    native_max=protocol_const.NICKNAME_MAX_LENGTH,
    # Printable ASCII, no space at either end (the charger pads with spaces).
    pattern=r"^([!-~]([ -~]*[!-~])?)?$",
    reads=reads("settings.nickname"),
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

    entity_description: EvseMasterTextDescription

    @property
    def native_value(self) -> str | None:
        """The name the charger reported, when it is one this entity can show.

        Home Assistant enforces the entity's length and pattern on the state
        too; a longer name set on a model that allows it is unknown here (the
        diagnostics download shows it).
        """
        name = self.coordinator.data.settings.nickname
        if name is None or not self.pattern_cmp or not self.pattern_cmp.match(name):
            return None
        return name if len(name) <= self.max else None

    async def async_set_value(self, value: str) -> None:
        """Rename the charger."""
        async with translated_errors():
            await self.coordinator.charger.set_nickname(value)
