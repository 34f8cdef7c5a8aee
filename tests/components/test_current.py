"""Current changes during a session: learned per charger, restarted if asked to."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.number.const import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant, State
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache,
)

from custom_components.evse_master import const
from custom_components.evse_master.const import (
    CONF_CURRENT_POLICY,
    CONF_RELAY_PROTECTION,
    POLICY_RESTART,
)
from custom_components.evse_master.current import CurrentBehaviour, judge_change
from custom_components.evse_master.protocol.charger import ChargerState, ChargerTimings
from custom_components.evse_master.protocol.enums import (
    Command,
    CurrentState,
    GunState,
    OutputState,
    StartType,
)
from custom_components.evse_master.protocol.messages import ChargingStatus, PhaseReading
from tests.helpers import WAIT, wait_for_charger, wait_for_value
from tests.protocol.inprocess import status
from tests.simulator import SimulatedCharger

from .conftest import PATIENT_CHARGER

pytestmark = pytest.mark.freeze_time("2026-12-02 12:00:00+00:00", tick=True)

TELESTAR = "telestar_ec311s"
BESEN = "besen_bs20"


@pytest.fixture
def charger_timings() -> ChargerTimings:
    """The clock jumps by the settle time: the session must survive it."""
    return PATIENT_CHARGER


@pytest.fixture
def platforms() -> list[Platform]:
    """The number sets the current; the sensor shows what was learned."""
    return [Platform.NUMBER, Platform.SENSOR]


def behaviour_sensor(device: str) -> str:
    """Entity id of the diagnostic sensor."""
    return f"sensor.{device}_current_change_applies"


def shown(hass: HomeAssistant, device: str) -> str:
    """The state of the device's behaviour sensor."""
    state = hass.states.get(behaviour_sensor(device))
    assert state is not None
    return state.state


async def set_current(hass: HomeAssistant, device: str, amps: int) -> None:
    """Set the maximum current through the number entity."""
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: f"number.{device}_current_limit", ATTR_VALUE: amps},
        blocking=True,
    )


async def charge_at(entry: MockConfigEntry, sim: SimulatedCharger, amps: int) -> None:
    """Plug in and start a session at ``amps``; wait until it draws that."""
    charger = entry.runtime_data.charger
    sim.plug_in()
    await wait_for_charger(charger, lambda s: bool(s.plugged_in))
    await charger.start_charging(amps)
    await wait_for_charger(
        charger,
        lambda s: (
            bool(s.charging)
            and s.session is not None
            and s.session.max_current == amps
            and s.settings.max_current == amps
        ),
    )


async def settle(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the settle time pass for Home Assistant's timers."""
    freezer.tick(timedelta(seconds=const.CURRENT_SETTLE + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def stops(sim: SimulatedCharger) -> int:
    """ChargeStops the simulated charger received."""
    return sum(1 for d in sim.received if d.command == Command.CHARGE_STOP)


@pytest.mark.parametrize("charger_model", ["bs20"])
async def test_live_charger(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A charger whose session follows a change is shown as such."""
    await charge_at(init_integration, simulator, 16)
    assert shown(hass, BESEN) == STATE_UNKNOWN
    await set_current(hass, BESEN, 10)
    await wait_for_charger(
        init_integration.runtime_data.charger,
        lambda s: s.session is not None and s.session.max_current == 10,
    )
    # Nothing is judged before the charger had time to settle.
    assert shown(hass, BESEN) == STATE_UNKNOWN
    await settle(hass, freezer)
    state = await wait_for_value(hass, behaviour_sensor(BESEN), "live")
    assert state.attributes["options"] == ["live", "next_session"]
    assert simulator.session_current == 10


@pytest.mark.parametrize("charger_model", ["ec311s"])
async def test_next_session_charger_waits_by_default(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A Telestar keeps 16 A until the next start; the default policy waits."""
    await charge_at(init_integration, simulator, 16)
    await set_current(hass, TELESTAR, 10)
    await settle(hass, freezer)
    await wait_for_value(hass, behaviour_sensor(TELESTAR), "next_session")
    assert simulator.session_current == 16
    assert stops(simulator) == 0


@pytest.mark.parametrize("charger_model", ["ec311s"])
@pytest.mark.parametrize(
    "entry_options",
    [{CONF_CURRENT_POLICY: POLICY_RESTART, CONF_RELAY_PROTECTION: 2}],
)
async def test_restart_policy_applies_the_current(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The session restarts with the new current, after the relay protection.

    The relay protection runs on the event loop's clock, so it is short
    here (2 s); the start must not come before it is over.
    """
    charger = init_integration.runtime_data.charger
    await charge_at(init_integration, simulator, 16)
    await set_current(hass, TELESTAR, 10)
    stopped = simulator.wait_for(Command.CHARGE_STOP)
    await settle(hass, freezer)
    async with asyncio.timeout(WAIT):
        await stopped
    await wait_for_charger(charger, lambda s: s.charging is False)
    assert 0 < charger.restart_allowed_in() <= 2
    assert simulator.session_current == 0
    await wait_for_charger(
        charger,
        lambda s: (
            bool(s.charging) and s.session is not None and s.session.max_current == 10
        ),
    )
    assert simulator.session_current == 10
    assert shown(hass, TELESTAR) == "next_session"


@pytest.mark.parametrize("charger_model", ["ec311s"])
@pytest.mark.parametrize("entry_options", [{CONF_CURRENT_POLICY: POLICY_RESTART}])
async def test_restarts_are_spaced(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At most one restart per 15 minutes, however often the current changes."""
    charger = init_integration.runtime_data.charger

    async def change_and_settle(amps: int) -> None:
        await set_current(hass, TELESTAR, amps)
        await settle(hass, freezer)

    async def restarted_at(amps: int) -> None:
        await wait_for_charger(
            charger,
            lambda s: (
                bool(s.charging)
                and s.session is not None
                and s.session.max_current == amps
            ),
        )

    await charge_at(init_integration, simulator, 16)
    await change_and_settle(10)
    await restarted_at(10)
    assert stops(simulator) == 1

    await change_and_settle(8)
    assert stops(simulator) == 1
    assert simulator.session_current == 10

    freezer.tick(const.RESTART_SPACING)
    await change_and_settle(12)
    await restarted_at(12)
    assert stops(simulator) == 2


@pytest.mark.parametrize("charger_model", ["bs20"])
@pytest.mark.parametrize("entry_options", [{CONF_CURRENT_POLICY: POLICY_RESTART}])
async def test_live_charger_is_never_restarted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The restart policy only acts on chargers that need it."""
    await charge_at(init_integration, simulator, 16)
    await set_current(hass, BESEN, 10)
    await settle(hass, freezer)
    await wait_for_value(hass, behaviour_sensor(BESEN), "live")
    assert stops(simulator) == 0


@pytest.mark.parametrize("charger_model", ["ec311s"])
async def test_change_without_session_teaches_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Only a change during a session says something about the charger."""
    await set_current(hass, TELESTAR, 10)
    await settle(hass, freezer)
    assert shown(hass, TELESTAR) == STATE_UNKNOWN


@pytest.mark.parametrize("charger_model", ["ec311s"])
async def test_session_ending_before_settled_teaches_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A session stopped within the settle time shows nothing either way."""
    charger = init_integration.runtime_data.charger
    await charge_at(init_integration, simulator, 16)
    await set_current(hass, TELESTAR, 10)
    await charger.stop_charging()
    await wait_for_charger(charger, lambda s: s.charging is False)
    await settle(hass, freezer)
    assert shown(hass, TELESTAR) == STATE_UNKNOWN


@pytest.mark.parametrize("charger_model", ["ec311s"])
@pytest.mark.parametrize(
    ("restored", "shown"),
    [("next_session", "next_session"), ("live", "live"), ("bogus", STATE_UNKNOWN)],
)
async def test_learned_behaviour_survives_restarts(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    restored: str,
    shown: str,
) -> None:
    """What was learned is restored; a value we never write is ignored."""
    mock_restore_cache(hass, [State(behaviour_sensor(TELESTAR), restored)])
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for_value(hass, behaviour_sensor(TELESTAR), shown)
    assert mock_config_entry.runtime_data.current_watch.behaviour == (
        CurrentBehaviour(shown) if shown != STATE_UNKNOWN else CurrentBehaviour.UNKNOWN
    )


# --- the judgement itself ------------------------------------------------------------


def _charging(session_amps: int, measured: float) -> ChargerState:
    running = replace(
        status(state=CurrentState.CHARGING),
        l1=PhaseReading(230.0, measured),
        gun_state=GunState.CONNECTED_LOCKED,
        output_state=OutputState.CHARGING,
    )
    session = ChargingStatus(
        line_id=1,
        reported_state=CurrentState.CHARGING,
        charge_id="2026120212000001",
        start_type=StartType(1),
        charge_type=1,
        max_duration=None,
        max_energy=None,
        param3=0,
        reservation_time=0,
        user_id="evse_master",
        max_current=session_amps,
        start_time=1,
        duration=60,
        start_energy=0.0,
        current_energy=0.0,
        session_energy=0.0,
        charge_price=0.0,
        fee_type=0,
        charge_fee=0.0,
    )
    return ChargerState(serial="x", status=running, session=session)


@pytest.mark.parametrize(
    ("session_amps", "drawn_before", "measured", "verdict"),
    [
        # The session reports the new limit.
        (10, 16.0, 16.0, CurrentBehaviour.LIVE),
        # It still reports the old one, but the car now draws within the new one.
        (16, 16.0, 10.4, CurrentBehaviour.LIVE),
        # Old limit reported and still drawn.
        (16, 16.0, 15.6, CurrentBehaviour.NEXT_SESSION),
        # Old limit drawn though the report changed to something else.
        (13, 16.0, 15.6, CurrentBehaviour.NEXT_SESSION),
        # The car drew less than the new limit already (nearly full): the
        # measurement says nothing, the report that the session kept 16 A does.
        (16, 6.0, 6.0, CurrentBehaviour.NEXT_SESSION),
        (16, None, 6.0, CurrentBehaviour.NEXT_SESSION),
        # Neither tells (another client changed it again, the car throttles).
        (13, 6.0, 6.0, None),
        (13, 16.0, 12.0, None),
    ],
)
def test_judge_lowered_current(
    session_amps: int,
    drawn_before: float | None,
    measured: float,
    verdict: CurrentBehaviour | None,
) -> None:
    """16 A lowered to 10 A: the report and the measurement decide together."""
    state = _charging(session_amps, measured)
    assert judge_change(state, 16, 10, drawn_before) is verdict


@pytest.mark.parametrize(
    ("session_amps", "verdict"),
    [
        (16, CurrentBehaviour.LIVE),
        (10, CurrentBehaviour.NEXT_SESSION),
        (13, None),
    ],
)
def test_judge_raised_current(
    session_amps: int, verdict: CurrentBehaviour | None
) -> None:
    """A raised limit: the car need not draw more, so only the report counts."""
    assert judge_change(_charging(session_amps, 10.0), 10, 16, 10.0) is verdict


def test_judge_needs_a_running_session() -> None:
    """Without a session, or once it stopped, there is nothing to judge."""
    assert judge_change(ChargerState(serial="x"), 16, 10, 16.0) is None
    stopped = _charging(16, 0.0)
    assert stopped.status is not None
    idle = replace(
        stopped, status=replace(stopped.status, output_state=OutputState.IDLE)
    )
    assert judge_change(idle, 16, 10, 16.0) is None
