"""The main scenarios against chargers that behave unlike the captured units.

Every quirk mode of the simulator stands for an implementation or firmware
seen elsewhere (protocol.md §11 and the sources' notes). Each one goes through
login, entities, start, stop, a current change, a takeover by the phone app
and recovery from silence; the tests after that check what each quirk is
about in particular.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from homeassistant.components.number.const import (
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.components.switch.const import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.const import DOMAIN
from custom_components.evse_master.protocol.charger import ChargerTimings
from custom_components.evse_master.protocol.enums import Command
from tests.helpers import (
    WAIT,
    PhoneApp,
    wait_for_charger,
    wait_for_state,
    wait_for_value,
)
from tests.simulator import Quirks, SimulatedCharger

from .conftest import FAST_CHARGER, SERIAL

STATE = "sensor.besen_bs20_charger_state"
SWITCH = "switch.besen_bs20_charge"
CURRENT = "number.besen_bs20_current_limit"
POWER = "sensor.besen_bs20_power"

POLLING = replace(FAST_CHARGER, status_poll_after=0.2, pushes_stopped_after=1.5)
"""Implementations that never push are asked for status this often here."""

MODES = {
    "real-units": Quirks(),
    "password-zeros": Quirks(header_password="zeros"),
    "password-own": Quirks(header_password="own"),
    "get-echo": Quirks(setting_echo="get"),
    "unlisted-three-phase": Quirks(unlisted_three_phase=True),
    "no-pushes": Quirks(pushes=False),
    "headings-stop": Quirks(headings_stop_after=0.3),
    "completed-needs-stop": Quirks(completed_needs_stop=True),
    "long-payloads": Quirks(long_payloads=True),
    "broadcast-headings": Quirks(broadcast_headings=True),
}


@pytest.fixture
def charger_timings() -> ChargerTimings:
    """Poll quickly: one of the modes never pushes."""
    return POLLING


async def service(hass: HomeAssistant, domain: str, name: str, **data: object) -> None:
    await hass.services.async_call(domain, name, data, blocking=True)


async def switch(hass: HomeAssistant, name: str) -> None:
    await service(hass, SWITCH_DOMAIN, name, **{ATTR_ENTITY_ID: SWITCH})


@pytest.mark.parametrize("quirks", list(MODES.values()), ids=list(MODES))
async def test_main_scenarios(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    listen_port: int,
) -> None:
    """Login, entities, start, stop, current, takeover and recovery."""
    charger = loaded.runtime_data.charger
    assert charger.state.logged_in
    assert hass.states.get(STATE).state == "not_connected"  # type: ignore[union-attr]

    # A car, a start and power on every wired phase.
    simulator.plug_in()
    await wait_for_value(hass, STATE, "ready")
    await switch(hass, SERVICE_TURN_ON)
    await wait_for_value(hass, SWITCH, STATE_ON)
    amps = simulator.session_current
    expected = simulator.phases * 230 * amps
    await wait_for_state(hass, POWER, lambda s: s.state == str(round(expected)))

    # A new current, confirmed whatever action byte the reply echoes.
    await service(hass, NUMBER_DOMAIN, SERVICE_SET_VALUE, entity_id=CURRENT, value=10)
    await wait_for_value(hass, CURRENT, "10")
    assert simulator.max_current_setting == 10

    await switch(hass, SERVICE_TURN_OFF)
    await wait_for_value(hass, SWITCH, STATE_OFF)

    # The phone app takes the session and leaves again.
    phone = await PhoneApp.open(listen_port)
    try:
        await phone.login(simulator)
        await wait_for_value(hass, STATE, STATE_UNAVAILABLE)
        confirmed = simulator.wait_for(Command.LOGIN_CONFIRM)
        phone.close()
        if simulator.quirks.headings_stop_after is not None:
            # It heads nobody, so it never drops the app: only taking the
            # session back on purpose recovers.
            charger.connect_now()
        await wait_for_value(hass, STATE, "ready")
        async with asyncio.timeout(WAIT):
            await confirmed
    finally:
        phone.close()

    # A power cut: unavailable, then back by itself.
    simulator.go_silent()
    await wait_for_value(hass, STATE, STATE_UNAVAILABLE)
    simulator.resume()
    await wait_for_value(hass, STATE, "ready")
    assert not charger.state.auth_failed
    assert charger.diagnostics.dropped.get("foreign", 0) == 0


@pytest.mark.parametrize("quirks", [MODES["unlisted-three-phase"]])
async def test_phases_from_the_status(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    entity_registry: er.EntityRegistry,
) -> None:
    """Type byte 9 says one phase; the status shows three: L2/L3 appear."""
    state = loaded.runtime_data.charger.state
    assert state.info is not None
    assert state.info.phases == 1
    assert state.phases == 3
    for key in ("voltage_l2", "voltage_l3", "current_l2", "current_l3"):
        found = entity_registry.async_get_entity_id("sensor", DOMAIN, f"{SERIAL}_{key}")
        assert found is not None, key


@pytest.mark.parametrize("quirks", [MODES["no-pushes"]])
async def test_no_pushes_means_polling_in_the_session(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A charger that only answers requests still shows changes, kicking nobody."""
    logins = sum(d.command == Command.LOGIN_CONFIRM for d in simulator.received)
    simulator.plug_in()  # no push: only our next request shows it
    await wait_for_value(hass, STATE, "ready")
    assert sum(d.command == Command.LOGIN_CONFIRM for d in simulator.received) == logins


@pytest.mark.parametrize("quirks", [MODES["headings-stop"]])
async def test_headings_stop_but_pushes_go_on(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """The charger still pushes to us: we log in again at once, every time."""
    charger = loaded.runtime_data.charger
    relogins = charger.diagnostics.relogins
    await wait_for_charger(charger, lambda s: charger.diagnostics.relogins > relogins)
    await wait_for_charger(charger, lambda s: s.logged_in)
    simulator.plug_in()
    await wait_for_value(hass, STATE, "ready")


@pytest.mark.parametrize("quirks", [MODES["completed-needs-stop"]])
async def test_start_after_a_completed_session(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """After the car is full, switching on again works: a stop goes first."""
    simulator.plug_in()
    await wait_for_value(hass, STATE, "ready")
    await switch(hass, SERVICE_TURN_ON)
    await wait_for_value(hass, SWITCH, STATE_ON)
    simulator.complete_session(full=True)
    await wait_for_value(hass, STATE, "completed")
    assert hass.states.get(SWITCH).state == STATE_OFF  # type: ignore[union-attr]
    stops = sum(d.command == Command.CHARGE_STOP for d in simulator.received)
    await switch(hass, SERVICE_TURN_ON)
    await wait_for_value(hass, SWITCH, STATE_ON)
    assert (
        sum(d.command == Command.CHARGE_STOP for d in simulator.received) == stops + 1
    )
    # That stop ended no session: switching off right away is not limited.
    await switch(hass, SERVICE_TURN_OFF)
    await wait_for_value(hass, SWITCH, STATE_OFF)


@pytest.mark.parametrize("quirks", [MODES["long-payloads"]])
async def test_long_payloads_keep_their_bytes(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """40-byte status and 145-byte device info: read, and the rest kept."""
    state = loaded.runtime_data.charger.state
    assert state.info is not None
    assert (state.info.layout, len(state.info.extra)) == (119, 26)
    assert state.status is not None
    assert state.status.extra[:2] == b"\x03\xff"
    assert state.phases == 1  # L2/L3 at 0 V: absent
