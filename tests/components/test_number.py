"""Number entities: maximum current and display brightness."""

from __future__ import annotations

from dataclasses import replace

from homeassistant.components.number.const import (
    ATTR_MAX,
    ATTR_MIN,
    ATTR_STEP,
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.components.switch.const import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_MODE,
    ATTR_UNIT_OF_MEASUREMENT,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    Platform,
)
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
from custom_components.evse_master.protocol.enums import Action, Command
from custom_components.evse_master.protocol.messages import OutputCurrent
from tests.helpers import wait_for_state, wait_for_value
from tests.simulator import MODELS, SimulatedCharger

from .conftest import FAST_CHARGER, SERIAL

SHORT_TIMEOUT = replace(FAST_CHARGER, request_timeout=0.3)


@pytest.fixture
def platforms() -> list[Platform]:
    """Platforms to load; the mid-session tests parametrize this."""
    return [Platform.NUMBER]


def entity_id(hass: HomeAssistant, key: str, domain: str = Platform.NUMBER) -> str:
    """Entity id of the charger's entity with unique-id suffix ``key``."""
    found = er.async_get(hass).async_get_entity_id(domain, DOMAIN, f"{SERIAL}_{key}")
    assert found is not None, f"no {domain} entity {key}"
    return found


def state_of(hass: HomeAssistant, key: str, domain: str = Platform.NUMBER) -> State:
    """Current state of the entity ``key``."""
    state = hass.states.get(entity_id(hass, key, domain))
    assert state is not None
    return state


async def set_value(hass: HomeAssistant, key: str, value: float) -> None:
    """Call number.set_value on the entity ``key``."""
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: entity_id(hass, key), ATTR_VALUE: value},
        blocking=True,
    )


def current_sets(simulator: SimulatedCharger) -> int:
    """How many 0x8107 SET requests reached the charger."""
    return sum(
        datagram.command == Command.OUTPUT_CURRENT
        and OutputCurrent.parse(datagram.payload).action == Action.SET
        for datagram in simulator.received
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_snapshot(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Both numbers of an idle BS20."""
    await snapshot_platform(hass, entity_registry, snapshot, loaded.entry_id)


@pytest.mark.parametrize("charger_model", ["bs20", "bs20-3p", "ec311s"])
async def test_max_current_reads_the_charger(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: SimulatedCharger,
    charger_model: str,
) -> None:
    """The value is the charger's setting; the range ends at the model's limit."""
    simulator.max_current_setting = 13  # as left by the phone app
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    state = await wait_for_value(hass, entity_id(hass, "max_current"), "13")
    assert state.attributes[ATTR_MIN] == 6
    assert state.attributes[ATTR_MAX] == MODELS[charger_model].max_current
    assert state.attributes[ATTR_STEP] == 1
    # A slider: the range is visible and cannot be left (a typed 33 in a box
    # stayed on show while the charger kept 16).
    assert state.attributes[ATTR_MODE] == "slider"
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "A"
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_set_max_current(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Setting the current stores it on the charger; the state is its reply."""
    assert state_of(hass, "max_current").state == "16"
    await set_value(hass, "max_current", 10)
    assert simulator.max_current_setting == 10
    await wait_for_value(hass, entity_id(hass, "max_current"), "10")
    await set_value(hass, "max_current", 32)
    assert simulator.max_current_setting == 32
    await wait_for_value(hass, entity_id(hass, "max_current"), "32")


@pytest.mark.parametrize(
    ("charger_model", "value"),
    [("bs20", 33), ("bs20", 5), ("bs20-3p", 17)],
    ids=["bs20_above", "bs20_below", "bs20-3p_above"],
)
async def test_max_current_out_of_range(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    value: int,
) -> None:
    """Home Assistant's own range check stops values the model cannot take."""
    with pytest.raises(ServiceValidationError) as err:
        await set_value(hass, "max_current", value)
    assert err.value.translation_domain == NUMBER_DOMAIN
    assert err.value.translation_key == "out_of_range"
    assert current_sets(simulator) == 0
    assert simulator.max_current_setting == 16
    assert state_of(hass, "max_current").state == "16"


async def test_max_current_kept_by_charger(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A charger that keeps its old value is reported; a retry works."""
    simulator.refuse_next = {Command.OUTPUT_CURRENT: 1}
    with pytest.raises(HomeAssistantError) as err:
        await set_value(hass, "max_current", 10)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "setting_refused"
    assert err.value.translation_placeholders == {"kept": "16", "wanted": "10"}
    assert simulator.max_current_setting == 16
    assert state_of(hass, "max_current").state == "16"

    await set_value(hass, "max_current", 10)
    await wait_for_value(hass, entity_id(hass, "max_current"), "10")
    assert simulator.max_current_setting == 10


@pytest.mark.parametrize("charger_timings", [SHORT_TIMEOUT], ids=["short_timeout"])
async def test_max_current_no_response(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """An unanswered setting is reported as no response; once heard, it works."""
    simulator.ignore_commands = {Command.OUTPUT_CURRENT}
    with pytest.raises(HomeAssistantError) as err:
        await set_value(hass, "max_current", 10)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "no_response"
    assert simulator.max_current_setting == 16
    assert state_of(hass, "max_current").state == "16"

    simulator.ignore_commands = set()
    await set_value(hass, "max_current", 10)
    await wait_for_value(hass, entity_id(hass, "max_current"), "10")


async def _charge(hass: HomeAssistant, simulator: SimulatedCharger) -> None:
    simulator.plug_in()
    switch = entity_id(hass, "charging", Platform.SWITCH)
    await wait_for_value(hass, entity_id(hass, "plugged_in", "binary_sensor"), "on")
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    await wait_for_value(hass, switch, "on")


MID_SESSION = [
    Platform.NUMBER,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.BINARY_SENSOR,
]


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platforms", [MID_SESSION])
@pytest.mark.parametrize("charger_model", ["bs20"])
async def test_max_current_mid_session_applies_at_once(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A BS20 changes the running session's current with the setting."""
    limit = entity_id(hass, "session_current_limit", Platform.SENSOR)
    await _charge(hass, simulator)
    await wait_for_value(hass, limit, "16")
    await set_value(hass, "max_current", 10)
    await wait_for_value(hass, limit, "10")
    assert simulator.session_current == 10
    state = await wait_for_state(
        hass,
        entity_id(hass, "current_l1", Platform.SENSOR),
        lambda s: s.state == "10.0",
    )
    assert float(state.state) == 10


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platforms", [MID_SESSION])
@pytest.mark.parametrize("charger_model", ["ec311s"])
async def test_max_current_mid_session_waits_for_next_start(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """An EC311S keeps the session's current; the next session takes the new one."""
    limit = entity_id(hass, "session_current_limit", Platform.SENSOR)
    session_energy = entity_id(hass, "session_energy", Platform.SENSOR)
    await _charge(hass, simulator)
    await wait_for_value(hass, limit, "16")
    await set_value(hass, "max_current", 10)
    await wait_for_value(hass, entity_id(hass, "max_current"), "10")
    assert simulator.max_current_setting == 10
    # A charging status sent after the change still carries the old limit.
    simulator.add_energy(0.5)
    await wait_for_state(hass, session_energy, lambda s: float(s.state) >= 0.5)
    assert state_of(hass, "session_current_limit", Platform.SENSOR).state == "16"
    assert simulator.session_current == 16
    assert float(state_of(hass, "current_l1", Platform.SENSOR).state) == 16

    switch = entity_id(hass, "charging", Platform.SWITCH)
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    await wait_for_value(hass, switch, "off")
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    await wait_for_value(hass, limit, "10")
    assert simulator.session_current == 10


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_lcd_brightness(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Brightness reads from the charger and writes back to it."""
    state = state_of(hass, "lcd_brightness")
    assert state.state == "80"
    assert state.attributes[ATTR_MIN] == 0
    assert state.attributes[ATTR_MAX] == 100
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "%"
    await set_value(hass, "lcd_brightness", 35)
    assert simulator.lcd_brightness == 35
    await wait_for_value(hass, entity_id(hass, "lcd_brightness"), "35")
    await set_value(hass, "lcd_brightness", 0)
    assert simulator.lcd_brightness == 0
    await wait_for_value(hass, entity_id(hass, "lcd_brightness"), "0")


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_lcd_brightness_errors(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Out of range never leaves; a kept value is reported; a retry works."""
    with pytest.raises(ServiceValidationError) as invalid:
        await set_value(hass, "lcd_brightness", 101)
    assert invalid.value.translation_key == "out_of_range"
    assert simulator.lcd_brightness == 80
    simulator.refuse_next = {Command.LCD_BRIGHTNESS: 1}
    with pytest.raises(HomeAssistantError) as err:
        await set_value(hass, "lcd_brightness", 50)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "setting_refused"
    assert err.value.translation_placeholders == {"kept": "80", "wanted": "50"}
    assert simulator.lcd_brightness == 80
    await set_value(hass, "lcd_brightness", 50)
    assert simulator.lcd_brightness == 50
    await wait_for_value(hass, entity_id(hass, "lcd_brightness"), "50")


async def test_lcd_brightness_disabled_by_default(
    hass: HomeAssistant, loaded: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Brightness is a rarely used setting: disabled until the user wants it."""
    entry = entity_registry.async_get(entity_id(hass, "lcd_brightness"))
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert entry.entity_category is not None
    assert entry.entity_category.value == "config"
