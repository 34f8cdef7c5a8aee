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
from tests.helpers import wait_for_charger
from tests.simulator import SimulatedCharger

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
    # Raw bytes of the status, kept for decoding new firmware; not of what
    # carries names and ids (nickname, sessions, records).
    received = diagnostics["received"]
    assert isinstance(received, dict)
    raw = received["raw_payloads"]
    assert isinstance(raw, dict)
    assert str(raw["0x0004"]).startswith("01 08 fc")
    assert "0x0108" not in raw
    assert "0x0005" not in raw
    assert isinstance(received["logins"], int)
    assert received["logins"] >= 1
    # The clock reply, the announcements and session counts depend on timing.
    assert diagnostics == snapshot(
        exclude=props("port", "raw_payloads", "logins", "relogins", "link_epoch")
    )
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_diagnostics_of_a_charger_that_went_away(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    simulator: SimulatedCharger,
) -> None:
    """A charger gone silent still gives a report, with what it sent last."""
    simulator.go_silent()
    charger = init_integration.runtime_data.charger
    await wait_for_charger(charger, lambda state: not state.online)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    text = json.dumps(diagnostics)
    assert PASSWORD not in text
    assert SERIAL not in text
    charger_data = diagnostics["charger"]
    assert isinstance(charger_data, dict)
    assert charger_data["logged_in"] is False
    assert charger_data["connection"] == "offline"
    assert charger_data["status"] is not None
    received = diagnostics["received"]
    assert isinstance(received, dict)
    raw = received["raw_payloads"]
    assert isinstance(raw, dict)
    assert "0x0004" in raw or "0x000D" in raw
