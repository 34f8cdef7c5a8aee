"""Select entities: display language, temperature unit and start mode."""

from __future__ import annotations

from dataclasses import replace

from homeassistant.components.select import (
    ATTR_OPTION,
    ATTR_OPTIONS,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.evse_master.const import DOMAIN, SETTINGS_REFRESH_INTERVAL
from custom_components.evse_master.protocol.enums import Command
from tests.helpers import wait_for_state, wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import FAST_CHARGER, SERIAL

SHORT_TIMEOUT = replace(FAST_CHARGER, request_timeout=0.3)
LANGUAGES = [
    "english",
    "italian",
    "german",
    "french",
    "spanish",
    "hebrew",
    "polish",
    "turkish",
    "chinese",
]


@pytest.fixture
def platforms() -> list[Platform]:
    """Load only the select platform."""
    return [Platform.SELECT]


def entity_id(hass: HomeAssistant, key: str) -> str:
    """Entity id of the select with unique-id suffix ``key``."""
    found = er.async_get(hass).async_get_entity_id(
        Platform.SELECT, DOMAIN, f"{SERIAL}_{key}"
    )
    assert found is not None, f"no select {key}"
    return found


def state_of(hass: HomeAssistant, key: str) -> State:
    """Current state of the select ``key``."""
    state = hass.states.get(entity_id(hass, key))
    assert state is not None
    return state


async def select(hass: HomeAssistant, key: str, option: str) -> None:
    """Call select.select_option on the select ``key``."""
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: entity_id(hass, key), ATTR_OPTION: option},
        blocking=True,
    )


async def reread_settings(hass: HomeAssistant) -> None:
    """Let the periodic settings refresh run (catches changes made in the app)."""
    async_fire_time_changed(hass, dt_util.utcnow() + SETTINGS_REFRESH_INTERVAL * 2)
    await hass.async_block_till_done()


def sets_of(simulator: SimulatedCharger, command: Command) -> int:
    """How many ``command`` requests with the SET action reached the charger."""
    return sum(
        datagram.command == command and datagram.payload[:1] == b"\x01"
        for datagram in simulator.received
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_snapshot(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The three selects of an idle charger."""
    await snapshot_platform(hass, entity_registry, snapshot, loaded.entry_id)


async def test_read_from_charger(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """Each select shows the charger's setting; start mode offers two choices."""
    language = state_of(hass, "language")
    assert language.state == "english"
    assert language.attributes[ATTR_OPTIONS] == LANGUAGES
    unit = state_of(hass, "temperature_unit")
    assert unit.state == "celsius"
    assert unit.attributes[ATTR_OPTIONS] == ["celsius", "fahrenheit"]
    mode = state_of(hass, "start_mode")
    assert mode.state == "offline_allowed"
    assert mode.attributes[ATTR_OPTIONS] == ["offline_allowed", "app_required"]


@pytest.mark.parametrize(
    ("key", "option", "attribute", "value"),
    [
        ("language", "german", "language", 3),
        ("language", "chinese", "language", 9),
        ("temperature_unit", "fahrenheit", "temperature_unit", 2),
        ("start_mode", "app_required", "start_mode", 1),
    ],
)
async def test_select_writes_the_charger(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    *,
    key: str,
    option: str,
    attribute: str,
    value: int,
) -> None:
    """A selection is stored on the charger; its echo sets the state."""
    await select(hass, key, option)
    assert getattr(simulator, attribute) == value
    await wait_for_value(hass, entity_id(hass, key), option)


async def test_start_mode_variant_set_in_app(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The app's alternative app-only value shows (and is offered) while set."""
    simulator.start_mode = 2
    await reread_settings(hass)
    state = await wait_for_value(
        hass, entity_id(hass, "start_mode"), "app_required_alt"
    )
    assert state.attributes[ATTR_OPTIONS] == [
        "offline_allowed",
        "app_required",
        "app_required_alt",
    ]
    await select(hass, "start_mode", "offline_allowed")
    assert simulator.start_mode == 0
    state = await wait_for_value(hass, entity_id(hass, "start_mode"), "offline_allowed")
    assert state.attributes[ATTR_OPTIONS] == ["offline_allowed", "app_required"]


async def test_undocumented_value_is_unknown(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A language code the protocol does not document reads as unknown."""
    simulator.language = 42
    await reread_settings(hass)
    state = await wait_for_value(hass, entity_id(hass, "language"), STATE_UNKNOWN)
    assert state.attributes[ATTR_OPTIONS] == LANGUAGES
    assert loaded.runtime_data.charger.state.settings.language == 42
    await select(hass, "language", "french")
    await wait_for_value(hass, entity_id(hass, "language"), "french")
    assert simulator.language == 4


async def test_invalid_option_rejected_by_home_assistant(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Options outside the list never reach the charger."""
    for key, option in (("language", "klingon"), ("start_mode", "app_required_alt")):
        with pytest.raises(ServiceValidationError) as err:
            await select(hass, key, option)
        assert err.value.translation_domain == SELECT_DOMAIN
        assert err.value.translation_key == "not_valid_option"
    assert sets_of(simulator, Command.LANGUAGE) == 0
    assert sets_of(simulator, Command.START_MODE) == 0
    assert simulator.start_mode == 0


async def test_refused_by_charger(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A charger that echoes its old value is reported; a retry works."""
    simulator.refuse_next = {Command.LANGUAGE: 1}
    with pytest.raises(HomeAssistantError) as err:
        await select(hass, "language", "german")
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "setting_refused"
    assert err.value.translation_placeholders == {"kept": "1", "wanted": "3"}
    assert simulator.language == 1
    assert state_of(hass, "language").state == "english"
    await select(hass, "language", "german")
    await wait_for_value(hass, entity_id(hass, "language"), "german")


@pytest.mark.parametrize("charger_timings", [SHORT_TIMEOUT], ids=["short_timeout"])
async def test_no_response(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """An unanswered setting is reported as no response; once heard, it works."""
    simulator.ignore_commands = {Command.TEMPERATURE_UNIT}
    with pytest.raises(HomeAssistantError) as err:
        await select(hass, "temperature_unit", "fahrenheit")
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "no_response"
    assert simulator.temperature_unit == 1
    simulator.ignore_commands = set()
    await select(hass, "temperature_unit", "fahrenheit")
    state = await wait_for_state(
        hass, entity_id(hass, "temperature_unit"), lambda s: s.state == "fahrenheit"
    )
    assert state.state == "fahrenheit"
    assert simulator.temperature_unit == 2
