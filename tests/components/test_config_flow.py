"""Config flow: every path ends in an entry or the right abort."""

from __future__ import annotations

import asyncio
import socket
from unittest.mock import patch

from homeassistant.config_entries import (
    SOURCE_INTEGRATION_DISCOVERY,
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.evse_master.config_flow import (
    CONF_CHARGER,
    MANUAL_ENTRY,
    EvseMasterConfigFlow,
)
from custom_components.evse_master.const import (
    CONF_BRAND,
    CONF_MODEL,
    CONF_PORT,
    CONF_SERIAL,
    CONF_STATIC_HOST,
    DOMAIN,
)
from custom_components.evse_master.hub import DATA_HUB, discovery_data
from custom_components.evse_master.protocol.errors import PortInUseError
from custom_components.evse_master.protocol.listener import DiscoveredCharger
from tests.helpers import WAIT
from tests.simulator import SimulatedCharger

from .conftest import PASSWORD, SERIAL, entry_data

OTHER_SERIAL = "8368555670377598"


async def start_user_flow(hass: HomeAssistant) -> ConfigFlowResult:
    """Open the user step (it probes and waits for the first answer)."""
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )


def offered(result: ConfigFlowResult) -> list[tuple[str, str]]:
    """(value, label) of the user step's choices."""
    assert result["step_id"] == "user"
    schema = result["data_schema"]
    assert schema is not None
    selector = schema.schema[CONF_CHARGER]
    config = getattr(selector, "config", {})
    assert config["mode"] == "list"  # radio buttons: nothing to type into
    assert not config.get("custom_value")
    return [(option["value"], option["label"]) for option in config["options"]]


async def start_manual(hass: HomeAssistant) -> ConfigFlowResult:
    """Open the user step and choose to type a serial."""
    result = await start_user_flow(hass)
    if result["step_id"] == "user":
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_CHARGER: MANUAL_ENTRY}
        )
    assert result["step_id"] == "manual"
    return result


async def test_user_flow_picks_discovered_charger(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """The probe finds the charger; picking it asks only for the password."""
    simulator.nickname = "Garage"
    result = await start_user_flow(hass)
    assert result["type"] is FlowResultType.FORM
    # The probe's answer may come before the announcement that names it.
    [(value, label), manual] = offered(result)
    assert value == SERIAL
    assert label in {f"BESEN BS20 · {SERIAL} · 127.0.0.1", f"{SERIAL} · 127.0.0.1"}
    assert manual == (MANUAL_ENTRY, MANUAL_ENTRY)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CHARGER: SERIAL}
    )
    assert result["step_id"] == "discovery_confirm"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["serial"] == SERIAL
    assert placeholders["host"] == "127.0.0.1"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "654321"}
    )
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Garage"  # the charger's own name
    assert result["result"].unique_id == SERIAL
    # Only what setup needs: the rest is read from the charger every time.
    assert result["data"] == {
        CONF_SERIAL: SERIAL,
        CONF_PASSWORD: PASSWORD,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: simulator.address[1],
    }
    await hass.async_block_till_done()


async def test_probe_only_charger_is_labelled_plainly(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """A charger heard only through the probe: serial and IP, no made-up name."""
    flow = EvseMasterConfigFlow()
    flow.hass = hass
    found = DiscoveredCharger(SERIAL, ("127.0.0.5", 7248), None)
    flow._on_discovered(found)
    assert flow._offered() == [{"value": SERIAL, "label": f"{SERIAL} · 127.0.0.5"}]
    flow._discovery_info = discovery_data(found)
    flow.context = {"source": SOURCE_USER}
    result = await flow.async_step_discovery_confirm()
    assert result["description_placeholders"] == {
        "name": f"EVSE Master {SERIAL}",
        "serial": SERIAL,
        "host": "127.0.0.5",
    }


async def test_typing_never_picks_another_charger(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """A 15-character serial typed with a charger discovered is an error."""
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERIAL: SERIAL[:15], CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SERIAL: "invalid_serial"}
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_user_flow_typed_serial_without_discovery(
    hass: HomeAssistant,
    simulator: SimulatedCharger,
    probe_targets: list[tuple[str, int]],
) -> None:
    """Nothing found: straight to typing; the serial as printed on the label."""
    simulator.go_silent()
    result = await start_user_flow(hass)
    assert result["step_id"] == "manual"
    simulator.resume()  # announces itself while the flow waits to hear it
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_SERIAL: " 9181 1027-5121 9513 ".upper(), CONF_PASSWORD: PASSWORD},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERIAL] == SERIAL
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({CONF_SERIAL: "12345"}, {CONF_SERIAL: "invalid_serial"}),
        ({CONF_SERIAL: "zz81102751219513"}, {CONF_SERIAL: "invalid_serial"}),
        ({CONF_PASSWORD: "1234"}, {CONF_PASSWORD: "invalid_password"}),
        (
            {CONF_SERIAL: "1234", CONF_PASSWORD: "12"},
            {CONF_SERIAL: "invalid_serial", CONF_PASSWORD: "invalid_password"},
        ),
        ({CONF_PASSWORD: "654321"}, {CONF_PASSWORD: "invalid_auth"}),
        ({CONF_SERIAL: OTHER_SERIAL}, {"base": "cannot_connect"}),
    ],
    ids=[
        "short-serial",
        "non-hex-serial",
        "short-password",
        "both-wrong",
        "wrong-password",
        "silent",
    ],
)
async def test_user_flow_errors_recover(
    hass: HomeAssistant,
    simulator: SimulatedCharger,
    user_input: dict[str, str],
    errors: dict[str, str],
) -> None:
    """Every wrong field shows its error at once; correct input then succeeds."""
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERIAL: SERIAL, CONF_PASSWORD: PASSWORD} | user_input
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERIAL: SERIAL, CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_user_flow_unexpected_error_recovers(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """An unexpected exception shows "unknown"; a retry succeeds."""
    result = await start_manual(hass)
    with patch(
        "custom_components.evse_master.config_flow.Charger.login",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_SERIAL: SERIAL, CONF_PASSWORD: PASSWORD}
        )
    assert result["errors"] == {"base": "unknown"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERIAL: SERIAL, CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_user_flow_already_configured(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """A configured serial is not offered and aborts when typed."""
    MockConfigEntry(
        domain=DOMAIN, unique_id=SERIAL, data=entry_data(simulator)
    ).add_to_hass(hass)
    result = await start_user_flow(hass)
    assert result["step_id"] == "manual"  # nothing left to offer
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERIAL: SERIAL, CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_picked_charger_configured_meanwhile(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """Configured in another window after the list was shown: aborts."""
    result = await start_user_flow(hass)
    MockConfigEntry(
        domain=DOMAIN, unique_id=SERIAL, data=entry_data(simulator)
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CHARGER: SERIAL}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_user_flow_port_in_use(hass: HomeAssistant, listen_port: int) -> None:
    """With the UDP port taken the flow aborts with an explanation."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", listen_port))
        result = await start_user_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "port_in_use"


async def test_login_error_when_port_taken_after_form(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """If the port is lost between form and submit, the error recovers."""
    result = await start_manual(hass)
    with patch(
        "custom_components.evse_master.protocol.listener.SharedListener.acquire",
        side_effect=PortInUseError(28376),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_SERIAL: SERIAL, CONF_PASSWORD: PASSWORD}
        )
    assert result["errors"] == {"base": "port_in_use"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SERIAL: SERIAL, CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_integration_discovery_flow(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """A discovered charger asks only for the password."""
    info = {
        CONF_SERIAL: SERIAL,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: simulator.address[1],
        CONF_BRAND: "BESEN",
        CONF_MODEL: "BS20",
    }
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data=info
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {
        "name": "BESEN BS20",
        "serial": SERIAL,
        "host": "127.0.0.1",
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "000000"}
    )
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "BESEN BS20"
    await hass.async_block_till_done()


async def test_discovery_updates_known_charger_address(
    hass: HomeAssistant, simulator: SimulatedCharger
) -> None:
    """A configured charger seen at a new address gets it stored."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=SERIAL,
        data=entry_data(simulator, host="127.0.0.9", port=1),
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data={CONF_SERIAL: SERIAL, CONF_HOST: "127.0.0.1", CONF_PORT: 4242},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == "127.0.0.1"
    assert entry.data[CONF_PORT] == 4242
    await hass.async_block_till_done()


async def test_running_listener_starts_discovery_flow(
    hass: HomeAssistant, init_integration: MockConfigEntry, listen_port: int
) -> None:
    """An unconfigured charger heard by the running listener gets a flow."""
    heard: asyncio.Future[DiscoveredCharger] = hass.loop.create_future()
    hass.data[DATA_HUB].shared.listener.subscribe_discovery(
        lambda found: None if heard.done() else heard.set_result(found)
    )
    other = SimulatedCharger(OTHER_SERIAL, PASSWORD, "ec311s", client_port=listen_port)
    await other.start()
    try:
        async with asyncio.timeout(WAIT):
            await heard
        await hass.async_block_till_done()
    finally:
        await other.stop()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["unique_id"] == OTHER_SERIAL
    assert flows[0]["step_id"] == "discovery_confirm"


async def test_reauth_flow(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """A new password is checked against the charger, then stored."""
    entry = init_integration
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "999999"}
    )
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    # The refused check was the flow's own: the running session is untouched.
    state = entry.runtime_data.charger.state
    assert state.logged_in
    assert not state.auth_failed
    charger_state = hass.states.get("sensor.besen_bs20_charger_state")
    assert charger_state is not None
    assert charger_state.state == "not_connected"
    simulator.password = "999999"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "999999"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_PASSWORD] == "999999"
    await hass.async_block_till_done()


async def test_reconfigure_flow(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Pinning an IP is validated; a wrong one fails, the right one is stored."""
    entry = init_integration
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD, CONF_STATIC_HOST: "not-an-ip"}
    )
    assert result["errors"] == {CONF_STATIC_HOST: "invalid_host"}
    # A typo in the password fails the check, not the running entry.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "111111", CONF_STATIC_HOST: ""}
    )
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    assert entry.state is ConfigEntryState.LOADED
    assert not entry.runtime_data.charger.state.auth_failed
    assert (
        hass.config_entries.flow.async_progress_by_handler(
            DOMAIN, match_context={"source": "reauth"}
        )
        == []
    )
    # Nothing answers at this address: refused, the entry keeps its own.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD, CONF_STATIC_HOST: "127.0.0.9"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert entry.data.get(CONF_STATIC_HOST) is None
    simulator.go_silent()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD, CONF_STATIC_HOST: "127.0.0.1"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    simulator.resume()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD, CONF_STATIC_HOST: "127.0.0.1"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_STATIC_HOST] == "127.0.0.1"
    await hass.async_block_till_done()

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD, CONF_STATIC_HOST: ""}
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_STATIC_HOST] is None
    await hass.async_block_till_done()


async def test_reconfigure_keeps_the_password_when_left_empty(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SimulatedCharger
) -> None:
    """Pinning only the IP needs no password; the stored one is checked and kept."""
    entry = init_integration
    result = await entry.start_reconfigure_flow(hass)
    schema = result["data_schema"]
    assert schema is not None
    assert CONF_PASSWORD not in {
        str(key) for key in schema.schema if getattr(key, "required", False)
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATIC_HOST: "127.0.0.1"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PASSWORD] == PASSWORD
    assert entry.data[CONF_STATIC_HOST] == "127.0.0.1"
    await hass.async_block_till_done()
    # The stored password is what was checked: a charger with another one fails.
    simulator.password = "222222"
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATIC_HOST: "127.0.0.1", CONF_PASSWORD: ""}
    )
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    await hass.async_block_till_done()
