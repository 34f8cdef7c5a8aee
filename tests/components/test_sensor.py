"""Sensors: every reading as Home Assistant shows it, against the simulator."""

from __future__ import annotations

from datetime import datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.switch.const import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.evse_master.const import DOMAIN
from custom_components.evse_master.protocol.enums import Fault
from tests.helpers import capture_writes, wait_for_state, wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import PATIENT_CHARGER, SERIAL

THREE_PHASE_KEYS = ("voltage_l2", "voltage_l3", "current_l2", "current_l3")


@pytest.fixture
def platforms() -> list[Platform]:
    """Platforms to load; tests that also switch parametrize this."""
    return [Platform.SENSOR]


def entity_id(hass: HomeAssistant, key: str, domain: str = Platform.SENSOR) -> str:
    """Entity id of the charger's entity with unique-id suffix ``key``."""
    found = er.async_get(hass).async_get_entity_id(domain, DOMAIN, f"{SERIAL}_{key}")
    assert found is not None, f"no {domain} entity {key}"
    return found


def state_of(hass: HomeAssistant, key: str) -> State:
    """Current state of the sensor ``key``."""
    state = hass.states.get(entity_id(hass, key))
    assert state is not None
    return state


async def wait_for_number(
    hass: HomeAssistant, key: str, value: float, tolerance: float = 1e-6
) -> State:
    """Wait until sensor ``key`` shows ``value`` (within ``tolerance``)."""

    def matches(state: State) -> bool:
        try:
            return abs(float(state.state) - value) <= tolerance
        except ValueError:
            return False

    return await wait_for_state(hass, entity_id(hass, key), matches)


async def switch(hass: HomeAssistant, service: str) -> None:
    """Turn the charging switch on or off through its service."""
    await hass.services.async_call(
        SWITCH_DOMAIN,
        service,
        {ATTR_ENTITY_ID: entity_id(hass, "charging", Platform.SWITCH)},
        blocking=True,
    )


async def start_session(hass: HomeAssistant, simulator: SimulatedCharger) -> None:
    """Plug a car in and start charging with the switch."""
    simulator.plug_in()
    await wait_for_value(hass, entity_id(hass, "charger_state"), "ready")
    await switch(hass, SERVICE_TURN_ON)
    await wait_for_value(hass, entity_id(hass, "charger_state"), "charging")


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("charger_model", ["bs20", "bs20-3p"])
async def test_snapshot(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every sensor of an idle charger, and the device it belongs to."""
    await snapshot_platform(hass, entity_registry, snapshot, loaded.entry_id)
    [device] = dr.async_entries_for_config_entry(device_registry, loaded.entry_id)
    # How a device names its config entries differs between the versions (one
    # entry per device since 2026.8); they are <ANY> in the snapshot anyway.
    linked = ("config_entries", "config_entries_subentries", "primary_config_entry")
    assert device == snapshot(
        name="device",
        exclude=props("aliases", *linked, "config_entry_id", "config_subentry_id"),
    )


async def test_device_info(
    hass: HomeAssistant, loaded: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """Brand, model, serial and the versions read after login."""
    [device] = dr.async_entries_for_config_entry(device_registry, loaded.entry_id)
    assert device.identifiers == {(DOMAIN, SERIAL)}
    assert device.manufacturer == "BESEN"
    assert device.model == "BS20"
    assert device.name == "BESEN BS20"
    assert device.serial_number == SERIAL
    assert device.sw_version == "C.3252.112A008"
    assert device.hw_version == "C.3252.112A008"


@pytest.mark.parametrize("platforms", [[Platform.SENSOR, Platform.SWITCH]])
async def test_charger_state_follows_the_charger(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """not_connected → ready → charging → ready → fault → ready → not_connected."""
    charger_state = entity_id(hass, "charger_state")
    assert hass.states.get(charger_state) is not None
    assert state_of(hass, "charger_state").state == "not_connected"
    assert state_of(hass, "charger_state").attributes["options"] == [
        "not_connected",
        "ready",
        "waiting_for_car",
        "charging",
        "completed",
        "scheduled",
        "waiting_for_card",
        "waiting_for_button",
        "fault",
    ]
    await start_session(hass, simulator)
    await switch(hass, SERVICE_TURN_OFF)
    await wait_for_value(hass, charger_state, "ready")
    simulator.set_faults([Fault.CP_ERROR])
    await wait_for_value(hass, charger_state, "fault")
    simulator.set_faults([])
    await wait_for_value(hass, charger_state, "ready")
    simulator.unplug()
    await wait_for_value(hass, charger_state, "not_connected")


async def test_charger_state_scheduled(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A planned session shows as scheduled until its time comes."""
    simulator.plug_in()
    charger_state = entity_id(hass, "charger_state")
    await wait_for_value(hass, charger_state, "ready")
    charger = loaded.runtime_data.charger
    await charger.start_charging(start_at=dt_util.utcnow() + timedelta(hours=2))
    await wait_for_value(hass, charger_state, "scheduled")
    assert simulator.reserved
    simulator.start_reservation()
    await wait_for_value(hass, charger_state, "charging")


async def test_fault_during_session_ends_it(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A fault while charging: state fault, no power, fault sensor names it."""
    simulator.plug_in()
    await wait_for_value(hass, entity_id(hass, "charger_state"), "ready")
    await loaded.runtime_data.charger.start_charging()
    await wait_for_value(hass, entity_id(hass, "charger_state"), "charging")
    simulator.set_faults([Fault.OVER_CURRENT])
    await wait_for_value(hass, entity_id(hass, "charger_state"), "fault")
    assert not simulator.charging
    assert state_of(hass, "fault").state == "over_current"
    assert float(state_of(hass, "power").state) == 0


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platforms", [[Platform.SENSOR, Platform.SWITCH]])
@pytest.mark.parametrize(
    ("charger_model", "phases"), [("bs20", 1), ("bs20-3p", 3), ("ec311s", 1)]
)
async def test_power_voltages_and_currents(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    phases: int,
) -> None:
    """Power is Σ V·I over the live phases; each phase has its own readings."""
    assert float(state_of(hass, "power").state) == 0
    assert float(state_of(hass, "current_l1").state) == 0
    await start_session(hass, simulator)
    amps = simulator.session_current
    assert amps == simulator.max_current_setting
    await wait_for_number(hass, "power", phases * 230 * amps)
    readings = ["l1"] if phases == 1 else ["l1", "l2", "l3"]
    for phase in readings:
        assert float(state_of(hass, f"voltage_{phase}").state) == 230
        assert float(state_of(hass, f"current_{phase}").state) == amps
    simulator.set_measurements(voltage=218.4)
    await wait_for_number(hass, "power", round(phases * 218.4 * amps))
    for phase in readings:  # published in whole volts
        assert float(state_of(hass, f"voltage_{phase}").state) == 218
    await switch(hass, SERVICE_TURN_OFF)
    await wait_for_number(hass, "power", 0)
    assert float(state_of(hass, "current_l1").state) == 0


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("charger_model", "three_phase"),
    [("bs20", False), ("bs20-3p", True), ("ec311s", False)],
)
async def test_phase_entities_only_on_three_phase_units(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    three_phase: bool,
) -> None:
    """L2/L3 sensors exist only when the charger drives three phases.

    The EC311S sends the long status layout (with zero L2/L3 fields) but is a
    single-phase unit, so it gets no L2/L3 entities either.
    """
    for key in ("voltage_l1", "current_l1"):
        assert entity_registry.async_get_entity_id("sensor", DOMAIN, f"{SERIAL}_{key}")
    for key in THREE_PHASE_KEYS:
        found = entity_registry.async_get_entity_id("sensor", DOMAIN, f"{SERIAL}_{key}")
        assert (found is not None) is three_phase, key
    if three_phase:
        assert float(state_of(hass, "voltage_l3").state) == 230


@pytest.mark.parametrize("charger_model", ["bs20-3p"])
async def test_disabled_by_default(
    hass: HomeAssistant, loaded: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Diagnostics nobody needs for energy or automations start disabled."""
    disabled = {
        "voltage_l1",
        "voltage_l2",
        "voltage_l3",
        "current_l1",
        "current_l2",
        "current_l3",
        "inner_temperature",
        "outer_temperature",
        "session_current_limit",
    }
    for entry in er.async_entries_for_config_entry(entity_registry, loaded.entry_id):
        key = entry.unique_id.removeprefix(f"{SERIAL}_")
        expected = er.RegistryEntryDisabler.INTEGRATION if key in disabled else None
        assert entry.disabled_by is expected, key
        assert (hass.states.get(entry.entity_id) is None) is (key in disabled)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platforms", [[Platform.SENSOR, Platform.SWITCH]])
@pytest.mark.parametrize("charger_timings", [PATIENT_CHARGER])
async def test_energy_and_session(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Lifetime energy rises while charging; the session sensors follow it."""
    lifetime = float(state_of(hass, "lifetime_energy").state)
    assert lifetime == pytest.approx(1234.56)
    assert state_of(hass, "session_start").state == STATE_UNKNOWN
    before = dt_util.utcnow()
    await start_session(hass, simulator)
    assert float(state_of(hass, "session_current_limit").state) == 16

    start = await wait_for_state(
        hass, entity_id(hass, "session_start"), lambda s: s.state != STATE_UNKNOWN
    )
    started = datetime.fromisoformat(start.state)
    # The charger clock was set by the integration; it has whole seconds.
    assert before - timedelta(seconds=2) <= started <= dt_util.utcnow()

    # Ten minutes of charging at 16 A: 0.613 kWh, which the charger could
    # deliver in that time, so it is published at once.
    freezer.tick(timedelta(minutes=10))
    simulator.push_charging_status()
    duration = await wait_for_value(hass, entity_id(hass, "session_duration"), "10")
    assert duration.attributes["unit_of_measurement"] == "min"
    expected = round(10 / 60 * 230 * 16 / 1000, 2)
    await wait_for_number(hass, "session_energy", expected, tolerance=0.011)
    simulator.push_status()
    await wait_for_number(hass, "lifetime_energy", lifetime + expected, 0.011)

    await switch(hass, SERVICE_TURN_OFF)
    await wait_for_value(hass, entity_id(hass, "charger_state"), "ready")
    # The finished session stays on show; the counter stops rising.
    assert float(state_of(hass, "session_energy").state) == pytest.approx(expected)
    # Only the lifetime counter has statistics, so the Energy dashboard's
    # device picker cannot offer the session's kWh as well.
    assert state_of(hass, "lifetime_energy").attributes["state_class"] == (
        "total_increasing"
    )
    assert "state_class" not in state_of(hass, "session_energy").attributes
    assert state_of(hass, "session_start").state == start.state


async def test_lifetime_energy_holds_a_stray_zero(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A 0 kWh reading mid-session is not a reset: the last value stays."""
    lifetime = entity_id(hass, "lifetime_energy")
    writes = capture_writes(hass, lifetime)
    simulator.set_measurements(total_energy=0)
    simulator.set_measurements(total_energy=1234.57)
    await wait_for_value(hass, lifetime, "1234.57")
    assert [state.state for state in writes] == ["1234.57"]
    assert state_of(hass, "lifetime_energy").attributes["state_class"] == (
        "total_increasing"
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_temperatures(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Both temperatures in °C, to 0.1 °C; a missing plug sensor reads as unknown."""
    assert float(state_of(hass, "inner_temperature").state) == 25
    assert float(state_of(hass, "outer_temperature").state) == 25
    simulator.set_measurements(temperature_inner=41.54, temperature_outer=-5.26)
    await wait_for_number(hass, "inner_temperature", 41.5)
    assert float(state_of(hass, "outer_temperature").state) == -5.3
    # Below the published precision: no new state.
    writes = capture_writes(hass, entity_id(hass, "inner_temperature"))
    simulator.set_measurements(temperature_inner=41.52)
    simulator.set_measurements(temperature_inner=41.56)
    await wait_for_number(hass, "inner_temperature", 41.6)
    assert [state.state for state in writes] == ["41.6"]
    assert state_of(hass, "inner_temperature").attributes["unit_of_measurement"] == (
        "°C"
    )
    # Units without a plug sensor send the "no value" marker.
    simulator.temperature_outer = None  # type: ignore[assignment]
    simulator.push_status()
    await wait_for_value(hass, entity_id(hass, "outer_temperature"), STATE_UNKNOWN)
    assert float(state_of(hass, "inner_temperature").state) == 41.6


@pytest.mark.parametrize(
    ("faults", "state", "active", "code"),
    [
        ([], "none", [], "0x00000000"),
        ([Fault.OVER_CURRENT], "over_current", ["over_current"], "0x00080000"),
        (
            [Fault.LEAKAGE_PROTECTION, Fault.CP_ERROR, 20],
            "cp_error",
            ["cp_error", "leakage_protection", "other"],
            "0x04200800",
        ),
        ([20], "other", ["other"], "0x00000800"),
        (
            [Fault.EMERGENCY_STOP, Fault.CC_ERROR],
            "cc_error",
            ["cc_error", "emergency_stop"],
            "0x0A000000",
        ),
        (
            [Fault.METERING_FAILURE],
            "metering_failure",
            ["metering_failure"],
            "0x00000001",
        ),
        ([Fault.RELAY_STUCK_L1], "relay_stuck_l1", ["relay_stuck_l1"], "0x80000000"),
    ],
)
async def test_fault_sensor(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    *,
    faults: list[Fault | int],
    state: str,
    active: list[str],
    code: str,
) -> None:
    """The most significant fault is the state; all of them and the raw code too."""
    fault = entity_id(hass, "fault")
    simulator.set_faults(faults)
    result = await wait_for_state(
        hass, fault, lambda s: s.attributes.get("error_code") == code
    )
    assert result.state == state
    assert result.attributes["active_faults"] == active
    assert state in result.attributes["options"]


async def test_fault_sensor_clears(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Faults going away bring the sensor back to none."""
    fault = entity_id(hass, "fault")
    simulator.set_emergency_stop(True)
    result = await wait_for_value(hass, fault, "emergency_stop")
    assert result.attributes["active_faults"] == ["emergency_stop"]
    assert result.attributes["error_code"] == "0x02000000"
    simulator.set_emergency_stop(False)
    result = await wait_for_value(hass, fault, "none")
    assert result.attributes["active_faults"] == []
    assert result.attributes["error_code"] == "0x00000000"


async def test_sensors_arrive_with_the_charger(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A charger that is away at setup: retry; its announcement brings the data."""
    simulator.go_silent()
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert hass.states.async_entity_ids(Platform.SENSOR) == []
    simulator.resume()
    fault = await wait_for_state(
        hass, "sensor.besen_bs20_fault", lambda state: state.state == "none"
    )
    assert fault.attributes["error_code"] == "0x00000000"
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
