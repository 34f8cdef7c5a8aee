"""Charging switch: starts and stops sessions; refusals become translated errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.number.const import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.components.switch.const import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_PASSWORD,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.evse_master.const import DOMAIN
from custom_components.evse_master.protocol.enums import ChargeStartError, Command
from tests.helpers import wait_for_charger, wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import FAST_CHARGER

SWITCH = "switch.besen_bs20_charge"
MAX_CURRENT = "number.besen_bs20_current_limit"
SHORT_TIMEOUT = replace(FAST_CHARGER, request_timeout=0.3)
RATE_LIMITED = replace(FAST_CHARGER, min_restart_interval=600.0)


@pytest.fixture
def platforms() -> list[Platform]:
    """Platforms to load; tests that also set the current parametrize this."""
    return [Platform.SWITCH]


def state_of(hass: HomeAssistant, entity_id: str = SWITCH) -> str:
    """The entity's state string."""
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def switch(hass: HomeAssistant, service: str) -> None:
    """Turn the charging switch on or off through its service."""
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )


async def plug_in(
    hass: HomeAssistant, entry: MockConfigEntry, sim: SimulatedCharger
) -> None:
    """Plug a car in and wait until the integration knows it."""
    sim.plug_in()
    await wait_for_charger(entry.runtime_data.charger, lambda s: bool(s.plugged_in))


async def turn_on_and_wait(hass: HomeAssistant, simulator: SimulatedCharger) -> None:
    """Switch on; the charger's report turns the switch on."""
    await switch(hass, SERVICE_TURN_ON)
    await wait_for_value(hass, SWITCH, STATE_ON)
    assert simulator.charging


async def turn_off_and_wait(hass: HomeAssistant, simulator: SimulatedCharger) -> None:
    """Switch off; the charger's report turns the switch off."""
    await switch(hass, SERVICE_TURN_OFF)
    await wait_for_value(hass, SWITCH, STATE_OFF)
    assert not simulator.charging


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_snapshot(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The charging switch of an idle charger."""
    await snapshot_platform(hass, entity_registry, snapshot, loaded.entry_id)


@pytest.mark.parametrize("platforms", [[Platform.SWITCH, Platform.NUMBER]])
async def test_turn_on_and_off(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """On starts a session at the charger's configured current; off stops it."""
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: MAX_CURRENT, ATTR_VALUE: 11},
        blocking=True,
    )
    await wait_for_value(hass, MAX_CURRENT, "11")
    await plug_in(hass, loaded, simulator)
    assert state_of(hass) == STATE_OFF
    await turn_on_and_wait(hass, simulator)
    assert simulator.max_current_setting == 11
    assert simulator.session_current == simulator.max_current_setting
    await turn_off_and_wait(hass, simulator)
    assert simulator.session_current == 0


async def test_not_plugged_in(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Without a car the charger refuses; plugged in, the same call works."""
    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, SERVICE_TURN_ON)
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "not_plugged_in"
    assert err.value.translation_placeholders == {"reason": "not_plugged_in"}
    assert state_of(hass) == STATE_OFF
    assert not simulator.charging

    await plug_in(hass, loaded, simulator)
    await turn_on_and_wait(hass, simulator)


@pytest.mark.parametrize(
    ("code", "key", "reason"),
    [
        (ChargeStartError.SYSTEM_ERROR, "start_refused", "system_error"),
        (ChargeStartError.SYSTEM_MAINTENANCE, "start_refused", "system_maintenance"),
        (ChargeStartError.ALREADY_CHARGING, "already_charging", "already_charging"),
        (42, "start_refused", "unknown_42"),
    ],
    ids=["system_error", "maintenance", "already_charging", "unnamed_code"],
)
async def test_start_refused(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    *,
    code: int,
    key: str,
    reason: str,
) -> None:
    """A refused start names the charger's reason; the next start works."""
    await plug_in(hass, loaded, simulator)
    simulator.refuse_next = {Command.CHARGE_START: code}
    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, SERVICE_TURN_ON)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == {"reason": reason}
    assert not simulator.charging
    assert state_of(hass) == STATE_OFF

    await turn_on_and_wait(hass, simulator)


async def test_stop_refused(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A refused stop keeps the session (and the switch) on; a retry stops it."""
    await plug_in(hass, loaded, simulator)
    await turn_on_and_wait(hass, simulator)
    simulator.refuse_next = {Command.CHARGE_STOP: 1}
    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, SERVICE_TURN_OFF)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "stop_refused"
    assert err.value.translation_placeholders == {"reason": "1"}
    assert simulator.charging
    assert state_of(hass) == STATE_ON

    await turn_off_and_wait(hass, simulator)


@pytest.mark.parametrize("charger_timings", [SHORT_TIMEOUT], ids=["short_timeout"])
@pytest.mark.parametrize(
    ("command", "service"),
    [(Command.CHARGE_START, SERVICE_TURN_ON), (Command.CHARGE_STOP, SERVICE_TURN_OFF)],
    ids=["start", "stop"],
)
async def test_no_response(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    command: Command,
    service: str,
) -> None:
    """A lost command is reported as no response; once heard, it works."""
    await plug_in(hass, loaded, simulator)
    if service == SERVICE_TURN_OFF:
        await turn_on_and_wait(hass, simulator)
    expected = state_of(hass)
    simulator.ignore_commands = {command}
    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, service)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "no_response"
    assert state_of(hass) == expected
    assert any(datagram.command == command for datagram in simulator.received)

    simulator.ignore_commands = set()
    await switch(hass, service)
    await wait_for_value(hass, SWITCH, STATE_OFF if expected == STATE_ON else STATE_ON)


@pytest.mark.freeze_time(tick=True)  # time runs; the test jumps it forward
@pytest.mark.parametrize("charger_timings", [RATE_LIMITED], ids=["rate_limited"])
async def test_rate_limited(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    simulator: SimulatedCharger,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A start right after a stop is refused locally, with the wait in seconds."""
    await plug_in(hass, loaded, simulator)
    await turn_on_and_wait(hass, simulator)  # the first start is never limited
    await turn_off_and_wait(hass, simulator)
    starts = sum(d.command == Command.CHARGE_START for d in simulator.received)
    with pytest.raises(ServiceValidationError) as err:
        await switch(hass, SERVICE_TURN_ON)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "rate_limited"
    placeholders = err.value.translation_placeholders
    assert placeholders is not None
    assert 590 <= int(placeholders["seconds"]) <= 600
    # Nothing reached the charger.
    assert sum(d.command == Command.CHARGE_START for d in simulator.received) == starts
    assert state_of(hass) == STATE_OFF

    # Nine minutes later: still refused, with the rest of the wait.
    freezer.tick(timedelta(minutes=9))
    with pytest.raises(ServiceValidationError) as err:
        await switch(hass, SERVICE_TURN_ON)
    placeholders = err.value.translation_placeholders
    assert placeholders is not None
    assert 55 <= int(placeholders["seconds"]) <= 65  # of the 600
    # Ten minutes after the stop (and a little) the start goes through.
    freezer.tick(timedelta(minutes=1, seconds=2))
    await turn_on_and_wait(hass, simulator)


async def test_wrong_password_starts_reauth(
    hass: HomeAssistant, loaded: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A password changed in the app: the action fails, reauth asks for the new one.

    The charger's PasswordError answers no login, so on its own it proves
    nothing; the session then ends, and the login after it is refused twice.
    """
    await plug_in(hass, loaded, simulator)
    simulator.password = "222222"
    with pytest.raises(HomeAssistantError) as err:
        await switch(hass, SERVICE_TURN_ON)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "no_response"
    assert not simulator.charging
    await wait_for_value(hass, SWITCH, STATE_UNAVAILABLE)
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]

    # The new password brings the charger back and the switch works again.
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_PASSWORD: "222222"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    await wait_for_value(hass, SWITCH, STATE_OFF)
    await wait_for_charger(loaded.runtime_data.charger, lambda s: bool(s.plugged_in))
    await turn_on_and_wait(hass, simulator)
