"""The solar-surplus blueprint, run by Home Assistant's automation engine.

Both kinds of charger: one that applies a new current during the session
(Besen BS20) and one that applies it only to new sessions (Telestar EC311S,
with the restart policy the blueprint's description asks for).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
import shutil

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.evse_master import const
from custom_components.evse_master.const import CONF_CURRENT_POLICY, POLICY_RESTART
from custom_components.evse_master.protocol.charger import ChargerState, ChargerTimings
from tests.helpers import wait_for_charger, wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import PATIENT_CHARGER

pytestmark = pytest.mark.freeze_time("2026-06-21 11:00:00+00:00", tick=True)

BLUEPRINT = (
    Path(__file__).resolve().parents[2]
    / "blueprints"
    / "automation"
    / "evse_master"
    / "solar_surplus.yaml"
)
GRID = "sensor.grid_power"


@pytest.fixture
def charger_timings() -> ChargerTimings:
    """Minutes pass on Home Assistant's clock: the session survives them."""
    return PATIENT_CHARGER


@pytest.fixture
def platforms() -> list[Platform]:
    """What the blueprint reads and drives."""
    return [Platform.BINARY_SENSOR, Platform.NUMBER, Platform.SENSOR, Platform.SWITCH]


def set_grid(hass: HomeAssistant, watts: float) -> None:
    """The grid meter: negative is export."""
    hass.states.async_set(
        GRID, str(watts), {"device_class": "power", "unit_of_measurement": "W"}
    )


async def pass_time(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta
) -> None:
    """Move Home Assistant's clock minute by minute, firing its timers."""
    step = timedelta(minutes=1)
    while delta > timedelta(0):
        freezer.tick(min(step, delta))
        delta -= step
        async_fire_time_changed(hass)
        await hass.async_block_till_done()


async def setup_blueprint(
    hass: HomeAssistant, tmp_path: Path, device: str, highest: int
) -> None:
    """Install the repository's blueprint and one automation using it."""
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "evse_master"
    target.mkdir(parents=True)
    shutil.copy(BLUEPRINT, target / BLUEPRINT.name)
    set_grid(hass, 0)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": "surplus",
                "use_blueprint": {
                    "path": "evse_master/solar_surplus.yaml",
                    "input": {
                        "grid_power": GRID,
                        "charger_power": f"sensor.{device}_power",
                        "charging_switch": f"switch.{device}_charge",
                        "maximum_current": f"number.{device}_current_limit",
                        "plugged_in": f"binary_sensor.{device}_plugged_in",
                        "highest_current": highest,
                    },
                },
            }
        },
    )
    await hass.async_block_till_done()
    state = hass.states.get("automation.surplus")
    assert state is not None
    assert state.state == "on"


def drawing(amps: int) -> Callable[[ChargerState], bool]:
    """A predicate: the session runs and the charger reports ``amps``."""

    def check(state: ChargerState) -> bool:
        return (
            bool(state.charging)
            and state.session is not None
            and state.session.max_current == amps
        )

    return check


class HouseMeter:
    """The grid meter: what the car draws minus the solar surplus.

    It follows the charger's power sensor, as a real meter would.
    """

    def __init__(self, hass: HomeAssistant, device: str) -> None:
        self.hass = hass
        self.power_sensor = f"sensor.{device}_power"
        self.surplus = 0.0
        async_track_state_change_event(hass, [self.power_sensor], self._update)

    def sun(self, surplus: float) -> None:
        """The solar surplus changes."""
        self.surplus = surplus
        self._update()

    @callback
    def _update(self, _event: object = None) -> None:
        state = self.hass.states.get(self.power_sensor)
        car = float(state.state) if state and state.state[0].isdigit() else 0.0
        set_grid(self.hass, car - self.surplus)


async def run_a_sunny_day(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
    device: str,
) -> None:
    """Start on surplus, follow it up and down, stop when it is gone."""
    charger = entry.runtime_data.charger
    meter = HouseMeter(hass, device)
    sim.plug_in()
    await wait_for_value(hass, f"binary_sensor.{device}_plugged_in", "on")

    # 2300 W surplus = 10 A: nothing before the start delay is over.
    meter.sun(2300)
    await pass_time(hass, freezer, timedelta(minutes=4))
    assert not sim.charging
    await pass_time(hass, freezer, timedelta(minutes=2))
    await wait_for_charger(charger, drawing(10))
    await wait_for_value(hass, GRID, "0.0")
    await pass_time(hass, freezer, timedelta(minutes=2))
    assert sim.session_current == 10

    # More sun: 2990 W surplus = 13 A. Live chargers follow at once, the
    # others after the settle time.
    meter.sun(2990)
    await pass_time(hass, freezer, timedelta(minutes=1))
    await wait_for_value(hass, f"number.{device}_current_limit", "13")
    await pass_time(hass, freezer, timedelta(seconds=const.CURRENT_SETTLE + 30))
    await wait_for_charger(charger, drawing(13))
    await wait_for_value(hass, GRID, "0.0")
    await pass_time(hass, freezer, timedelta(minutes=2))
    assert sim.session_current == 13

    # Clouds: 1380 W surplus is the minimum, 6 A.
    meter.sun(1380)
    await pass_time(hass, freezer, timedelta(minutes=1))
    await wait_for_value(hass, f"number.{device}_current_limit", "6")

    # Gone: stops after 10 minutes without enough surplus.
    meter.sun(0)
    await pass_time(hass, freezer, timedelta(minutes=9))
    assert sim.charging
    await pass_time(hass, freezer, timedelta(minutes=2))
    await wait_for_charger(charger, lambda s: s.charging is False)
    await wait_for_value(hass, f"switch.{device}_charge", "off")


@pytest.mark.parametrize("charger_model", ["bs20"])
async def test_live_charger_follows_the_sun(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    """A Besen applies every change to the running session."""
    await setup_blueprint(hass, tmp_path, "besen_bs20", 16)
    await run_a_sunny_day(hass, init_integration, simulator, freezer, "besen_bs20")
    assert simulator.session_current == 0


@pytest.mark.parametrize("charger_model", ["ec311s"])
@pytest.mark.parametrize("entry_options", [{CONF_CURRENT_POLICY: POLICY_RESTART}])
async def test_next_session_charger_follows_the_sun(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    """A Telestar gets its session restarted with the new current."""
    await setup_blueprint(hass, tmp_path, "telestar_ec311s", 16)
    await run_a_sunny_day(hass, init_integration, simulator, freezer, "telestar_ec311s")
    await wait_for_value(
        hass, "sensor.telestar_ec311s_current_change_applies", "next_session"
    )
