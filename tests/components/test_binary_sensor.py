"""Binary sensors: plug, charging, problem and emergency stop."""

from __future__ import annotations

from homeassistant.components.switch.const import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.evse_master.protocol.enums import Fault
from tests.helpers import wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import SERIAL

PLUGGED_IN = "binary_sensor.besen_bs20_plugged_in"
CHARGING = "binary_sensor.besen_bs20_charging"
PROBLEM = "binary_sensor.besen_bs20_problem"
EMERGENCY_STOP = "binary_sensor.besen_bs20_emergency_stop"
SWITCH = "switch.besen_bs20_charge"


@pytest.fixture
def platforms() -> list[Platform]:
    """Platforms to load; tests that also switch parametrize this."""
    return [Platform.BINARY_SENSOR]


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """The entity's state string."""
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def switch(hass: HomeAssistant, service: str) -> None:
    """Turn the charging switch on or off through its service."""
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_snapshot(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every binary sensor of an idle charger."""
    await snapshot_platform(hass, entity_registry, snapshot, loaded.entry_id)


async def test_idle_charger(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """Nothing plugged, nothing flowing, nothing wrong."""
    assert state_of(hass, PLUGGED_IN) == STATE_OFF
    assert state_of(hass, CHARGING) == STATE_OFF
    assert state_of(hass, PROBLEM) == STATE_OFF
    assert state_of(hass, EMERGENCY_STOP) == STATE_OFF
    registry = er.async_get(hass)
    entry = registry.async_get(PROBLEM)
    assert entry is not None
    assert entry.unique_id == f"{SERIAL}_problem"


@pytest.mark.parametrize("platforms", [[Platform.BINARY_SENSOR, Platform.SWITCH]])
async def test_plug_and_charge(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Plugged in follows the cable; charging follows the relay."""
    simulator.plug_in()
    await wait_for_value(hass, PLUGGED_IN, STATE_ON)
    assert state_of(hass, CHARGING) == STATE_OFF
    await switch(hass, SERVICE_TURN_ON)
    await wait_for_value(hass, CHARGING, STATE_ON)
    assert state_of(hass, PLUGGED_IN) == STATE_ON
    await switch(hass, SERVICE_TURN_OFF)
    await wait_for_value(hass, CHARGING, STATE_OFF)
    assert state_of(hass, PLUGGED_IN) == STATE_ON
    simulator.unplug()
    await wait_for_value(hass, PLUGGED_IN, STATE_OFF)


@pytest.mark.parametrize("platforms", [[Platform.BINARY_SENSOR, Platform.SWITCH]])
async def test_unplug_while_charging(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Pulling the cable ends the session: both go off together."""
    simulator.plug_in()
    await wait_for_value(hass, PLUGGED_IN, STATE_ON)
    await switch(hass, SERVICE_TURN_ON)
    await wait_for_value(hass, CHARGING, STATE_ON)
    simulator.unplug()
    await wait_for_value(hass, PLUGGED_IN, STATE_OFF)
    assert state_of(hass, CHARGING) == STATE_OFF


async def test_problem(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Any fault code, named or not, is a problem."""
    simulator.set_faults([Fault.NOT_GROUNDED])
    await wait_for_value(hass, PROBLEM, STATE_ON)
    assert state_of(hass, EMERGENCY_STOP) == STATE_OFF
    simulator.set_faults([])
    await wait_for_value(hass, PROBLEM, STATE_OFF)
    simulator.set_faults([20])  # a code without a name
    await wait_for_value(hass, PROBLEM, STATE_ON)
    simulator.set_faults([])
    await wait_for_value(hass, PROBLEM, STATE_OFF)


async def test_emergency_stop(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The pressed button is a safety problem and a fault."""
    simulator.set_emergency_stop(True)
    await wait_for_value(hass, EMERGENCY_STOP, STATE_ON)
    assert state_of(hass, PROBLEM) == STATE_ON
    simulator.set_emergency_stop(False)
    await wait_for_value(hass, EMERGENCY_STOP, STATE_OFF)
    assert state_of(hass, PROBLEM) == STATE_OFF


async def test_unavailable_while_silent(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A silent charger makes the binary sensors unavailable, not off."""
    simulator.plug_in()
    await wait_for_value(hass, PLUGGED_IN, STATE_ON)
    simulator.go_silent()
    await wait_for_value(hass, PLUGGED_IN, STATE_UNAVAILABLE)
    assert state_of(hass, PROBLEM) == STATE_UNAVAILABLE
    simulator.resume()
    await wait_for_value(hass, PLUGGED_IN, STATE_ON)
    assert state_of(hass, PROBLEM) == STATE_OFF
