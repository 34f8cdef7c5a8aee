"""No password or Wi-Fi passphrase in any log, even at debug level."""

from __future__ import annotations

import logging

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.const import CONF_SERIAL, DOMAIN
from custom_components.evse_master.hub import DATA_HUB
from custom_components.evse_master.protocol.enums import Command
from custom_components.evse_master.protocol.frame import (
    CHARGER_PASSWORD_FIELD,
    Datagram,
    password_field,
)
from tests.helpers import wait_for_value
from tests.simulator import SimulatedCharger

from .conftest import PASSWORD, SERIAL

PASSPHRASE = b"hunter2-wifi"
WRONG = "654321"


def _secrets() -> list[str]:
    """Every way a secret could show in a log line."""
    found = []
    for secret in (PASSWORD.encode(), WRONG.encode(), PASSPHRASE):
        found += [secret.decode(), secret.hex(" "), secret.hex()]
    return found


async def test_debug_logs_hold_no_secrets(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: SimulatedCharger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Login, a refused password, settings and a Wi-Fi reply, all at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="custom_components.evse_master")
    caplog.set_level(logging.DEBUG, logger="tests.simulator")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await wait_for_value(hass, "sensor.besen_bs20_charger_state", "not_connected")

    # A user flow with the wrong password for another serial typed in.
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERIAL: "8368555670377598", CONF_PASSWORD: WRONG}
    )
    # And a reauth check with a wrong password against the real charger.
    result = await mock_config_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: WRONG}
    )
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}

    # Settings, whose requests carry the password in every header.
    charger = mock_config_entry.runtime_data.charger
    await charger.set_max_current(10)
    await charger.set_nickname("Garage")

    # Wi-Fi replies carry the passphrase in clear: whole, truncated, broken.
    listener = hass.data[DATA_HUB].shared.listener
    wifi = Datagram(
        SERIAL, Command.WIFI_INFO_RESPONSE, b"\x02MySSID\x00" + PASSPHRASE
    ).encode()
    own = Datagram(
        SERIAL, Command.STATUS, bytes(25), password_field(PASSWORD)
    ).encode()  # an emulator writing its own password into its frames
    for packet in (wifi, wifi[:-5], b"junk" + wifi, own):
        listener.datagram_received(packet, simulator.address)
    # A password that is not ASCII never shows in an error either.
    with pytest.raises(ValueError, match="6 ASCII") as err:
        password_field("pässwö")
    logging.getLogger("custom_components.evse_master").debug("error: %s", err.value)

    assert any("-> " in record.message for record in caplog.records)  # it logged
    text = caplog.text
    leaked = [secret for secret in _secrets() if secret in text]
    assert leaked == []
    assert "pässwö" not in text
    assert CHARGER_PASSWORD_FIELD.hex(" ") in text  # charger frames stay readable
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
