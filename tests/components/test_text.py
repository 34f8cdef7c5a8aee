"""Text entity: the charger's nickname."""

from __future__ import annotations

from homeassistant.components.text.const import (
    ATTR_MAX,
    ATTR_MIN,
    ATTR_PATTERN,
    ATTR_VALUE,
    DOMAIN as TEXT_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import ATTR_ENTITY_ID, ATTR_MODE, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.evse_master.const import DOMAIN
from custom_components.evse_master.protocol.enums import Command
from tests.helpers import wait_for_value
from tests.simulator import SimulatedCharger

NICKNAME = "text.besen_bs20_nickname"


@pytest.fixture
def platforms() -> list[Platform]:
    """Load only the text platform."""
    return [Platform.TEXT]


def state_of(hass: HomeAssistant) -> State:
    """Current state of the nickname entity."""
    state = hass.states.get(NICKNAME)
    assert state is not None
    return state


async def set_nickname(hass: HomeAssistant, value: str) -> None:
    """Call text.set_value on the nickname."""
    await hass.services.async_call(
        TEXT_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: NICKNAME, ATTR_VALUE: value},
        blocking=True,
    )


def renames(simulator: SimulatedCharger) -> int:
    """How many nickname SET requests reached the charger."""
    return sum(
        datagram.command == Command.NICKNAME and datagram.payload[:1] == b"\x01"
        for datagram in simulator.received
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_snapshot(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The nickname of an unnamed charger."""
    await snapshot_platform(hass, entity_registry, snapshot, loaded.entry_id)


async def test_reads_the_charger(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The state is the name the charger reports, with its limits."""
    simulator.nickname = "Carport"  # named in the phone app
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    state = await wait_for_value(hass, NICKNAME, "Carport")
    assert state.attributes[ATTR_MIN] == 0
    assert state.attributes[ATTR_MAX] == 11
    assert state.attributes[ATTR_MODE] == "text"
    assert state.attributes[ATTR_PATTERN] == "^([!-~]([ -~]*[!-~])?)?$"
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_rename(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A new name is stored on the charger; its echo sets the state."""
    assert state_of(hass).state == ""  # an unnamed charger: an empty field
    await set_nickname(hass, "Garage 11 A")
    assert simulator.nickname == "Garage 11 A"
    await wait_for_value(hass, NICKNAME, "Garage 11 A")
    await set_nickname(hass, "X")
    assert simulator.nickname == "X"
    await wait_for_value(hass, NICKNAME, "X")


async def test_too_long_rejected_by_home_assistant(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Twelve characters are one too many: nothing is sent."""
    with pytest.raises(ValueError, match="too long"):
        await set_nickname(hass, "Twelve chars")
    assert renames(simulator) == 0
    assert simulator.nickname == ""
    assert state_of(hass).state == ""


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Garäge", "match pattern"),
        (" Garage", "match pattern"),
        ("Garage ", "match pattern"),
        ("Gar\tage", "match pattern"),
    ],
    ids=["not_ascii", "leading_space", "trailing_space", "control"],
)
async def test_invalid_name_rejected(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    value: str,
    reason: str,
) -> None:
    """Names the charger cannot keep are refused before anything is sent."""
    with pytest.raises(ValueError, match=reason):
        await set_nickname(hass, value)
    assert renames(simulator) == 0
    await set_nickname(hass, "Garage")
    await wait_for_value(hass, NICKNAME, "Garage")


async def test_empty_name_refused(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """An unnamed charger shows an empty field, but nobody can empty a name."""
    await set_nickname(hass, "Garage")
    await wait_for_value(hass, NICKNAME, "Garage")
    with pytest.raises(ServiceValidationError) as err:
        await set_nickname(hass, "")
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "nickname_invalid"
    assert renames(simulator) == 1
    assert simulator.nickname == "Garage"
    assert state_of(hass).state == "Garage"


async def test_refused_by_charger(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A charger that keeps its name is reported; a retry works."""
    simulator.refuse_next = {Command.NICKNAME: 1}
    with pytest.raises(HomeAssistantError) as err:
        await set_nickname(hass, "Garage")
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "setting_refused"
    assert err.value.translation_placeholders == {"kept": "", "wanted": "Garage"}
    assert simulator.nickname == ""
    await set_nickname(hass, "Garage")
    assert simulator.nickname == "Garage"
    await wait_for_value(hass, NICKNAME, "Garage")
