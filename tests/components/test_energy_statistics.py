"""The Energy dashboard's long-term statistics add up to the energy delivered.

Home Assistant compiles 5-minute statistics from the lifetime-energy states;
these tests compile them for every period and check the final sum across
power cuts (the counter back at 0, a little lower, 5 % lower, unchanged),
reordered and duplicated pushes, a corrupted status and a restart of Home
Assistant with the charger away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.core import Recorder
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
    statistics_during_period,
)

from custom_components.evse_master.protocol.enums import Command
from tests.helpers import WAIT, wait_for_state, wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import PATIENT_CHARGER

ENERGY = "sensor.besen_bs20_lifetime_energy"
STATE = "sensor.besen_bs20_charger_state"
START = 1234.56
"""What the simulated charger's counter starts at."""


@pytest.fixture(autouse=True)
def mock_recorder_before_hass(async_test_recorder: object) -> None:
    """Prepare the recorder before Home Assistant starts (the plugin's hook)."""


@pytest.fixture
def platforms() -> list[Platform]:
    """Only the sensors."""
    return [Platform.SENSOR]


@pytest.fixture
def charger_timings() -> object:
    """Minutes pass in these tests: a session that survives them."""
    return PATIENT_CHARGER


class Periods:
    """Compiles one 5-minute statistics period after another."""

    def __init__(self, hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
        self.hass = hass
        self.freezer = freezer
        now = dt_util.utcnow()
        self.start = now.replace(
            minute=now.minute - now.minute % 5, second=0, microsecond=0
        )
        self.first = self.start

    async def next(self) -> None:
        """Close the current period: move past it and compile it."""
        self.freezer.move_to(self.start + timedelta(minutes=5, seconds=1))
        await async_wait_recording_done(self.hass)
        do_adhoc_statistics(self.hass, start=self.start)
        await async_wait_recording_done(self.hass)
        self.start += timedelta(minutes=5)
        self.freezer.move_to(self.start + timedelta(seconds=2))

    async def total(self) -> float:
        """The statistics sum of the lifetime-energy sensor so far."""
        await self.next()

        def read() -> dict[str, list[dict[str, Any]]]:
            return statistics_during_period(
                self.hass, self.first, None, {ENERGY}, "5minute", None, {"sum"}
            )

        stats = await self.hass.async_add_executor_job(read)
        return round(float(stats[ENERGY][-1]["sum"]), 2)


async def published(hass: HomeAssistant, value: float) -> None:
    """Wait until the sensor shows ``value``."""
    await wait_for_state(
        hass,
        ENERGY,
        lambda state: (
            state.state not in ("unknown", STATE_UNAVAILABLE)
            and abs(float(state.state) - value) < 0.005
        ),
    )


def shown(hass: HomeAssistant) -> float:
    """What the sensor shows now."""
    state = hass.states.get(ENERGY)
    assert state is not None
    return float(state.state)


async def deliver(
    hass: HomeAssistant,
    simulator: SimulatedCharger,
    kwh: float,
    expected: float | None = None,
) -> None:
    """The charger's counter rises by ``kwh``; wait for the sensor to show it.

    In steps of 0.05 kWh: milliseconds apart, more would be faster than the
    charger could deliver, and the guard would (rightly) wait to believe it.
    """
    target = round(shown(hass) + kwh, 2) if expected is None else expected
    steps = max(1, round(kwh / 0.05))
    for _ in range(steps):
        simulator.total_energy = round(simulator.total_energy + kwh / steps, 2)
        simulator.push_status()
    await published(hass, target)


type Restore = Callable[[float], float]


@pytest.mark.freeze_time("2026-12-01 12:00:30", tick=True)
@pytest.mark.parametrize(
    "restore",
    [
        pytest.param(lambda counter: 0.0, id="back-at-0"),
        pytest.param(lambda counter: round(counter - 0.1, 2), id="0.1-kWh-lower"),
        pytest.param(lambda counter: round(counter * 0.95, 2), id="5%-lower"),
        pytest.param(lambda counter: counter, id="unchanged"),
    ],
)
async def test_power_cut(
    hass: HomeAssistant,
    recorder_mock: Recorder,
    freezer: FrozenDateTimeFactory,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    *,
    restore: Restore,
) -> None:
    """The counter comes back lower (or not) after a power cut: nothing is lost."""
    periods = Periods(hass, freezer)
    await published(hass, START)
    await periods.next()
    await deliver(hass, simulator, 1.2)
    before_cut = shown(hass)
    await periods.next()
    # Power cut: the charger reboots with its restored counter and announces
    # itself (it has no client any more), which ends our session.
    simulator.go_silent()
    simulator.total_energy = restore(simulator.total_energy)
    relogin = simulator.wait_for(Command.LOGIN_CONFIRM)
    simulator.resume()
    async with asyncio.timeout(WAIT):
        await relogin
    acked = simulator.wait_for(Command.STATUS_ACK, count=3)
    for _ in range(3):  # the readings that confirm a reset, where it is one
        simulator.push_status()
    async with asyncio.timeout(WAIT):
        await acked
    await hass.async_block_till_done()
    await periods.next()
    # Back at 0 the sensor follows the reset (once confirmed); otherwise it
    # goes on from where it was.
    restarted = simulator.total_energy == 0
    await deliver(
        hass, simulator, 0.8, 0.8 if restarted else round(before_cut + 0.8, 2)
    )
    assert await periods.total() == pytest.approx(2.0, abs=0.011)


@pytest.mark.freeze_time("2026-12-01 12:00:30", tick=True)
async def test_reordered_duplicated_and_corrupted_pushes(
    hass: HomeAssistant,
    recorder_mock: Recorder,
    freezer: FrozenDateTimeFactory,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
) -> None:
    """A late push, repeats and one wild reading change the sum by nothing."""
    periods = Periods(hass, freezer)
    await published(hass, START)
    await periods.next()
    for value in (
        START + 0.2,
        START + 0.1,
        START + 0.2,
        START + 0.2,
        9_236_393.0,
        START + 0.3,
    ):
        simulator.total_energy = value
        simulator.push_status()
    await published(hass, START + 0.3)
    assert await periods.total() == pytest.approx(0.3, abs=0.011)


@pytest.mark.freeze_time("2026-12-01 12:00:30", tick=True)
async def test_restart_with_the_charger_away(
    hass: HomeAssistant,
    recorder_mock: Recorder,
    freezer: FrozenDateTimeFactory,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
) -> None:
    """Home Assistant restarts while the charger is off; it returns lower."""
    periods = Periods(hass, freezer)
    await published(hass, START)
    await periods.next()
    await deliver(hass, simulator, 1.0)
    await periods.next()
    simulator.go_silent()
    assert await hass.config_entries.async_reload(loaded.entry_id) is False
    await hass.async_block_till_done()
    simulator.total_energy = round(simulator.total_energy - 0.1, 2)
    simulator.resume()
    await wait_for_value(hass, STATE, "not_connected", timeout=10)
    await periods.next()
    await deliver(hass, simulator, 0.5)
    assert await periods.total() == pytest.approx(1.5, abs=0.011)
