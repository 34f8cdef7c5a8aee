"""Select entities: display language, temperature unit and start mode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .changes import reads
from .coordinator import EvseMasterConfigEntry, EvseMasterCoordinator
from .entity import EvseMasterEntity, EvseMasterEntityDescription
from .helpers import translated_errors
from .protocol.charger import Charger, ChargerSettings
from .protocol.enums import Language, StartMode, TemperatureUnit, TolerantIntEnum

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class EvseMasterSelectDescription[EnumT: IntEnum](
    SelectEntityDescription, EvseMasterEntityDescription
):
    """An enum setting: which enum, how to read it and how to write it."""

    enum: type[EnumT]
    value_fn: Callable[[ChargerSettings], EnumT | None]
    set_fn: Callable[[Charger, EnumT], Awaitable[None]]
    settable: tuple[EnumT, ...] | None = None
    """Options a user may pick; default: every known member."""


def _option(member: IntEnum) -> str:
    return member.name.lower()


def _documented(member: IntEnum) -> bool:
    # The protocol keeps unknown values as pseudo members that are not "known".
    return not isinstance(member, TolerantIntEnum) or member.known


SELECTS: tuple[EvseMasterSelectDescription[IntEnum], ...] = (
    EvseMasterSelectDescription(
        key="language",
        translation_key="language",
        entity_category=EntityCategory.CONFIG,
        enum=Language,
        reads=reads("settings.language"),
        value_fn=lambda settings: settings.language,
        set_fn=lambda charger, value: charger.set_language(Language(value)),
    ),
    EvseMasterSelectDescription(
        key="temperature_unit",
        translation_key="temperature_unit",
        entity_category=EntityCategory.CONFIG,
        enum=TemperatureUnit,
        reads=reads("settings.temperature_unit"),
        value_fn=lambda settings: settings.temperature_unit,
        set_fn=lambda charger, value: charger.set_temperature_unit(
            TemperatureUnit(value)
        ),
    ),
    EvseMasterSelectDescription(
        key="start_mode",
        translation_key="start_mode",
        entity_category=EntityCategory.CONFIG,
        enum=StartMode,
        reads=reads("settings.start_mode"),
        value_fn=lambda settings: settings.start_mode,
        set_fn=lambda charger, value: charger.set_start_mode(StartMode(value)),
        settable=(StartMode.OFFLINE_ALLOWED, StartMode.APP_REQUIRED),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EvseMasterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the select entities."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        EvseMasterSelect(coordinator, description) for description in SELECTS
    )


class EvseMasterSelect(EvseMasterEntity, SelectEntity):
    """An enum setting, shown as the charger reports it."""

    entity_description: EvseMasterSelectDescription[IntEnum]

    def __init__(
        self,
        coordinator: EvseMasterCoordinator,
        description: EvseMasterSelectDescription[IntEnum],
    ) -> None:
        """Build the option list once; it only grows by an odd reported value."""
        super().__init__(coordinator, description)
        self._choices = [
            _option(member) for member in description.settable or description.enum
        ]

    @property
    def options(self) -> list[str]:
        """Values a user may pick, plus the reported one if documented."""
        current = self.current_option
        if current is None or current in self._choices:
            return self._choices
        return [*self._choices, current]

    @property
    def current_option(self) -> str | None:
        """The value the charger reported, if the protocol documents it."""
        value = self.entity_description.value_fn(self.coordinator.data.settings)
        return _option(value) if value is not None and _documented(value) else None

    async def async_select_option(self, option: str) -> None:
        """Write the setting; the charger's echo updates the state."""
        async with translated_errors():
            description = self.entity_description
            await description.set_fn(
                self.coordinator.charger, description.enum[option.upper()]
            )
