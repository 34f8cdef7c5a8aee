"""Diagnostics download: the charger snapshot without secrets."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.evse_master.protocol.charger import ChargerState
from custom_components.evse_master.protocol.enums import CurrentState, Fault
from custom_components.evse_master.protocol.simulator import SimulatedCharger
from tests.helpers import wait_for_charger

from .conftest import PASSWORD, SERIAL

ERRORS = 0x00080800
"""OVER_CURRENT (code 12) and the unnamed code 20."""


def _everything_read(state: ChargerState) -> bool:
    settings = state.settings
    return (
        state.logged_in
        and state.status is not None
        and state.status.errors == ERRORS
        and bool(state.plugged_in)
        and state.session is not None
        and state.session.reported_state == CurrentState.EVSE_FAULT
        and None not in (state.version, settings.nickname)
        and None not in (settings.max_current, settings.language)
        and None not in (settings.temperature_unit, settings.start_mode)
        and settings.lcd_brightness is not None
    )


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mock_config_entry: MockConfigEntry,
    simulator: SimulatedCharger,
    snapshot: SnapshotAssertion,
) -> None:
    """Everything useful for a bug report is there; nothing identifying is."""
    simulator.nickname = "Smith Home"
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    charger = mock_config_entry.runtime_data.charger
    await wait_for_charger(charger, lambda state: state.status is not None)
    simulator.plug_in()
    simulator.set_faults([Fault.OVER_CURRENT, 20])
    simulator.push_charging_status()
    await wait_for_charger(charger, _everything_read)
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, mock_config_entry
    )
    text = json.dumps(diagnostics)
    assert PASSWORD not in text
    assert SERIAL not in text
    assert "Smith Home" not in text
    assert "127.0.0.1" not in text

    charger_data = diagnostics["charger"]
    assert isinstance(charger_data, dict)
    status = charger_data["status"]
    assert isinstance(status, dict)
    assert status["error_code"] == "0x00080800"
    assert status["errors"] == ERRORS
    assert charger_data["faults"] == ["over_current", "code_20"]
    assert diagnostics == snapshot(exclude=props("port"))
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_diagnostics_before_first_status(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mock_config_entry: MockConfigEntry,
    simulator: SimulatedCharger,
) -> None:
    """A charger not heard since setup still gives a (nearly empty) report."""
    simulator.go_silent()
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, mock_config_entry
    )
    text = json.dumps(diagnostics)
    assert PASSWORD not in text
    assert SERIAL not in text
    charger_data = diagnostics["charger"]
    assert isinstance(charger_data, dict)
    assert charger_data["logged_in"] is False
    assert charger_data["status"] is None
    assert charger_data["faults"] == []
    assert charger_data["power"] is None
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
